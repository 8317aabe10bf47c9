"""The database connection budget (shop/config.py:connection_budget) and error pages
that never touch the database."""
import pytest
from sqlalchemy import event

from shop import create_app
from shop.config import TestingConfig, connection_budget
from shop.extensions import db

from tests.conftest import EnglishClient
from tests.support.env import DATABASE_URL, REDIS_URL, free_port

PG = "postgresql+psycopg://app@db:5432/playcation"


# --- the budget -------------------------------------------------------------------------

def test_budget_divides_the_limit_across_every_process():
    # 2 nodes x 4 workers + 4 background processes share 100 - 10 connections: 7 each,
    # 84 in all, where SQLAlchemy's defaults (5 + 10 overflow) allowed 180.
    opts = connection_budget(PG, {"DB_MAX_CONNECTIONS": "100", "WEB_NODES": "2", "WEB_CONCURRENCY": "4"})
    assert opts == {"pool_pre_ping": False, "pool_size": 7, "max_overflow": 0, "pool_timeout": 3,
                    "pool_recycle": 1800}
    assert (2 * 4 + 4) * opts["pool_size"] <= 100 - 10


def test_budget_reads_every_setting():
    opts = connection_budget(PG, {"DB_MAX_CONNECTIONS": "30", "DB_RESERVED_CONNECTIONS": "2", "WEB_NODES": "2",
                                  "WEB_CONCURRENCY": "2", "WORKER_PROCESSES": "3", "DB_POOL_TIMEOUT": "1",
                                  "DB_POOL_RECYCLE": "600"})
    assert opts["pool_size"] == 28 // 7 and opts["max_overflow"] == 0 and opts["pool_timeout"] == 1
    assert opts["pool_recycle"] == 600


def test_budget_too_small_refuses_to_start_and_names_pgbouncer():
    with pytest.raises(RuntimeError, match="PgBouncer"):
        connection_budget(PG, {"DB_MAX_CONNECTIONS": "20", "WEB_NODES": "4", "WEB_CONCURRENCY": "8"})


def test_budget_setting_not_a_number_is_named():
    with pytest.raises(RuntimeError, match="WEB_NODES"):
        connection_budget(PG, {"WEB_NODES": "two"})


def test_sqlite_keeps_sqlalchemy_defaults():
    assert connection_budget("sqlite:////tmp/x.db", {"DB_MAX_CONNECTIONS": "1"}) == {"pool_pre_ping": False}


# --- error pages without the database ---------------------------------------------------

def _app(**overrides):
    cfg = dict(SQLALCHEMY_DATABASE_URI=DATABASE_URL, REDIS_URL=REDIS_URL, RATELIMIT_ENABLED=False)
    cfg.update(overrides)
    app = create_app(TestingConfig, **cfg)
    app.test_client_class = EnglishClient  # assertions read the English msgids, as the suite's app does
    return app


def _logged_in(client, user_id=1, token="any-session-token"):
    """A session cookie naming a user, as a browser that logged in earlier carries it
    (with its login record in Redis, so loading the user goes on to the database)."""
    from types import SimpleNamespace

    from shop.accounts import sessions

    with client.application.app_context():
        sid = sessions.start(SimpleNamespace(id=user_id, session_token=token))
    with client.session_transaction() as session:
        session["_user_id"] = f"{user_id}:{token}:{sid}"
        session["_fresh"] = True


@pytest.mark.no_db_isolation
def test_logged_in_page_with_database_unreachable_gets_the_503_page():
    # Loading the user fails; the error page must not load the user again.
    app = _app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nope")
    client = app.test_client()
    _logged_in(client)
    for path in ("/account", "/cart", "/"):
        res = client.get(path)
        assert res.status_code == 503, path
        text = res.get_data(as_text=True)
        assert "Temporarily unavailable" in text and "Something broke" not in text


@pytest.mark.no_db_isolation
def test_pool_exhausted_waits_pool_timeout_then_gets_the_503_page():
    """Every connection of the process's pool busy: the request waits `pool_timeout`,
    then gets the 503 page (HTML for a browser, JSON for an API caller)."""
    import time

    app = _app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 1})
    client = app.test_client()
    _logged_in(client)
    with app.app_context():
        engine = db.engine
    held = engine.connect()  # the pool's only connection, busy elsewhere
    try:
        started = time.monotonic()
        res = client.get("/account")
        waited = time.monotonic() - started
        as_json = client.get("/account", headers={"Accept": "application/json"})
    finally:
        held.close()
        engine.dispose()
    assert res.status_code == 503
    assert "Temporarily unavailable" in res.get_data(as_text=True)
    assert 1 <= waited < 3
    assert as_json.status_code == 503 and as_json.get_json()["error"] == "Temporarily unavailable"


def test_error_page_shows_the_loaded_user_without_a_query(app, make_user):
    """A logged-in user's 404 page keeps their menu, from the User the view already
    loaded; the page itself sends no SQL (no cart or notification counts)."""
    from ..support.browser import Browser

    make_user(email="lost@example.com", nickname="Wanderer")
    browser = Browser(app)
    browser.login("lost@example.com")
    statements = []
    # (a statement run while rendering the page would come after the view's lookup)
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        res = browser.get("/orders/2147483000")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert res.status_code == 404
    text = res.get_data(as_text=True)
    assert "Wanderer" in text and "Log in</a>" not in text
    assert not [s for s in statements if "cart_items" in s or "notifications" in s], statements


def test_a_connection_is_pinged_only_after_sitting_idle(app, tmp_path):
    """infra/dbpool.py: no SELECT 1 before a query on a connection just returned; one
    on a connection idle past IDLE_SECONDS; a connection that fails its ping is replaced."""
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.pool import QueuePool

    from shop.infra import dbpool

    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}", poolclass=QueuePool, pool_size=1)
    dbpool.install(engine)
    seen = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    pings = []
    original = engine.dialect.do_ping
    engine.dialect.do_ping = lambda dbapi_connection: pings.append(1) or original(dbapi_connection)
    with engine.connect() as conn:
        conn.execute(text("SELECT 2"))
    assert len(pings) == 1  # a new connection: checked once
    with engine.connect() as conn:
        conn.execute(text("SELECT 3"))
    assert len(pings) == 1  # returned a moment ago: no ping
    record = engine.pool._pool.queue[0]
    record.info[dbpool._RETURNED] -= dbpool.IDLE_SECONDS + 1
    with engine.connect() as conn:
        conn.execute(text("SELECT 4"))
    assert len(pings) == 2  # sat idle: pinged
    record = engine.pool._pool.queue[0]
    record.info[dbpool._RETURNED] -= dbpool.IDLE_SECONDS + 1
    failing = engine.dialect.do_ping

    def dead(dbapi_connection):
        engine.dialect.do_ping = failing  # the next connection answers
        raise RuntimeError("server closed the connection")

    engine.dialect.do_ping = dead
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 5")).scalar() == 5
    assert [s for s in seen if s.startswith("SELECT")] == ["SELECT 2", "SELECT 3", "SELECT 4", "SELECT 5"]
