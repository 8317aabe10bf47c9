"""Store-front queries that run on every request stay index lookups at any catalog size:
their plans (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite) never scan games."""
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from shop.catalog import storefront
from shop.catalog.models import Game
from shop.dev.seed_games import seed_games
from shop.extensions import db
from shop.timeutil import utcnow

GAMES = 4000


@pytest.fixture
def seeded(app):
    with app.app_context():
        seed_games(GAMES, covers=0, reviewed=0)
        db.session.execute(db.text("ANALYZE games" if db.engine.dialect.name == "postgresql" else "ANALYZE"))
        yield


def _executed(call):
    """(statement, parameters) of every query `call` runs, as the driver got them."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    return seen


def _plan(statement, parameters) -> str:
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    return "\n".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))


def test_the_next_price_change_is_read_off_indexes_not_a_scan_of_games(app, seeded):
    with app.app_context():
        now = utcnow()
        queries = [q for q in _executed(lambda: storefront.price_ttl(now)) if q[0].startswith("SELECT")]
        assert len(queries) == 2
        plans = [_plan(*q) for q in queries]
        for plan, index in zip(plans, ("ix_games_sale_starts", "ix_games_sale_ends")):
            assert index in plan, plan
            assert "Seq Scan" not in plan and "SCAN games" not in plan, plan


def test_the_next_price_change_is_still_the_soonest_sale_boundary(app, seeded):
    with app.app_context():
        now = utcnow()
        rows = db.session.execute(select(Game.sale_starts_at, Game.sale_ends_at).where(
            Game.status == "listed", Game.sale_price.is_not(None))).all()
        moments = [t for row in rows for t in row if t is not None and t > now]
        assert len(moments) > 100  # the seeded catalog has sales starting and ending ahead
        expected = max(1, int((min(moments) - now).total_seconds()) + 1)
        assert storefront.seconds_until_price_change(now) == expected
