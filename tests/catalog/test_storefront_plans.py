"""Store-front queries stay index lookups at any catalog size: with 100,000 games seeded,
their plans (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite) never scan games.
Every query a storefront page runs is collected as the driver got it and explained."""
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from shop.catalog import storefront
from shop.accounts.models import User
from shop.catalog.models import Category, Game, Tag
from shop.dev.seed_games import seed_games
from shop.extensions import db
from shop.timeutil import utcnow

GAMES = 100_000


# Seeded once for the module and committed (no per-test rollback), then removed.
pytestmark = pytest.mark.no_db_isolation


@pytest.fixture(scope="module")
def seeded(app):
    with app.app_context():
        seed_games(GAMES, covers=0, reviewed=0)
        db.session.execute(db.text("ANALYZE games" if db.engine.dialect.name == "postgresql" else "ANALYZE"))
        db.session.commit()
    yield
    with app.app_context():
        publishers = list(db.session.scalars(select(Game.publisher_id).distinct()))
        db.session.execute(db.text("DELETE FROM game_tags"))
        db.session.execute(db.delete(Game))
        db.session.execute(db.delete(Tag))
        db.session.execute(db.delete(Category))
        db.session.execute(db.delete(User).where(User.id.in_(publishers)))
        db.session.commit()


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


def _scans_games(statement: str, plan: str) -> bool:
    """A pass over games: PostgreSQL's Seq Scan, SQLite's SCAN of the table or of a whole
    index. SQLite also says SCAN for an index walked in ORDER BY order under a LIMIT,
    which stops after the page's rows; that one is allowed when the index gives the
    order (no temporary B-tree for the whole ORDER BY)."""
    if "Seq Scan on games" in plan:
        return True
    for line in plan.splitlines():
        line = line.strip()
        if not line.startswith("SCAN games"):
            continue
        ordered_walk = ("USING INDEX" in line or "USING COVERING INDEX" in line) and " LIMIT " in statement \
            and "ORDER BY" in statement and "USE TEMP B-TREE FOR ORDER BY" not in plan
        if not ordered_walk:
            return True
    return False


def _storefront_queries(now):
    """(name, call) for every query the store front's pages run."""
    category = db.session.scalar(select(Category).order_by(Category.id))
    tag = db.session.scalar(select(Tag).order_by(Tag.id))
    args = lambda **kw: storefront.BrowseQuery.from_args(_Args(kw))  # noqa: E731
    return [
        ("home: featured", lambda: storefront.featured(now)),
        ("home: new releases", lambda: storefront.new_releases(now)),
        ("home: special offers", lambda: storefront.on_sale(now)),
        ("home: top sellers (database fallback)", lambda: storefront.top_sellers(now)),
        ("home: categories", storefront.categories),
        ("/games", lambda: storefront.browse(args(), now)),
        ("/games newest", lambda: storefront.browse(args(sort="newest"), now)),
        ("/games?tag=", lambda: storefront.browse(args(tag=tag.slug), now)),
        ("/games?category=", lambda: storefront.browse(args(category=category.slug), now)),
        ("/games?page=500", lambda: storefront.browse(args(page="500"), now)),
        ("/games?page=5000 (capped)", lambda: storefront.browse(args(page="5000"), now)),
        ("/games?on_sale=1", lambda: storefront.browse(args(on_sale="1"), now)),
    ]


class _Args(dict):
    def getlist(self, key):
        value = self.get(key)
        return [value] if value else []


def test_no_storefront_query_plan_scans_games(app, seeded):
    with app.app_context():
        now = utcnow()
        assert db.session.scalar(select(db.func.count()).select_from(Game)) >= GAMES
        explained = 0
        for name, call in _storefront_queries(now):
            for statement, parameters in _executed(call):
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                plan = _plan(statement, parameters)
                explained += 1
                assert not _scans_games(statement, plan), f"{name} scans games:\n{statement}\n{plan}"
        assert explained >= 20


def test_lists_count_at_most_what_their_pages_reach(app, seeded):
    with app.app_context():
        page = storefront.browse(storefront.BrowseQuery.from_args(_Args(page="5000")), utcnow())
        assert page.more and page.total == storefront.COUNT_CAP  # shown as "10,000+ games"
        assert page.page == page.pages == storefront.MAX_PAGE and len(page.games) == storefront.PAGE_SIZE


def test_a_deep_page_in_the_default_order_reads_its_ids_from_an_index_alone(app, seeded):
    with app.app_context():
        now = utcnow()
        page = storefront.browse(storefront.BrowseQuery.from_args(_Args(page="500")), now)
        assert len(page.games) == storefront.PAGE_SIZE
        sales = [game.sales_count for game in page.games]
        assert sales == sorted(sales, reverse=True)  # the rows come back in the ids' order
        executed = _executed(lambda: storefront.browse(storefront.BrowseQuery.from_args(_Args(page="500")), now))
        plans = [_plan(statement, parameters) for statement, parameters in executed
                 if "OFFSET" in statement.upper() and "ORDER BY" in statement.upper()]
        assert plans, "no page query"
        for plan in plans:
            assert "ix_games_listed_bestselling" in plan and ("Index Only Scan" in plan or "COVERING INDEX" in plan), plan
