"""Health check and the 503 page when a dependency is down."""
import pytest

from shop import create_app
from shop.config import TestingConfig

from tests.conftest import EnglishClient
from tests.support.env import DATABASE_URL, REDIS_URL, free_port


def test_healthz_reports_both_dependencies(client):
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def _app(**overrides):
    cfg = dict(SQLALCHEMY_DATABASE_URI=DATABASE_URL, REDIS_URL=REDIS_URL)
    cfg.update(overrides)
    app = create_app(TestingConfig, **cfg)
    app.test_client_class = EnglishClient  # assertions read the English msgids, as the suite's app does
    return app


@pytest.mark.no_db_isolation
def test_healthz_503_when_redis_is_down():
    app = _app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    res = app.test_client().get("/healthz")
    assert res.status_code == 503
    body = res.get_json()
    assert body["redis"].startswith("down") and body["database"] == "ok"


@pytest.mark.no_db_isolation
def test_healthz_503_when_database_is_down():
    app = _app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nope")
    res = app.test_client().get("/healthz")
    assert res.status_code == 503
    body = res.get_json()
    assert body["database"].startswith("down") and body["redis"] == "ok"


@pytest.mark.no_db_isolation
def test_redis_down_during_signup_shows_503_page_and_writes_nothing(app):
    from shop.accounts.models import User
    from shop.extensions import db
    from ..support.browser import Browser

    broken = _app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", RATELIMIT_ENABLED=False)
    browser = Browser(broken)
    res = browser.signup(email="down@example.com")
    assert res.status_code == 503
    text = res.get_data(as_text=True)
    assert "Temporarily unavailable" in text and "Traceback" not in text
    with broken.app_context():
        assert db.session.scalar(db.select(User).where(User.email == "down@example.com")) is None


@pytest.mark.no_db_isolation
def test_database_down_shows_503_page():
    app = _app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nope")
    from ..support.browser import Browser

    res = Browser(app).post("/login", {"email": "a@example.com", "password": "whatever pass"})
    assert res.status_code == 503
    assert "Temporarily unavailable" in res.get_data(as_text=True)


# --- cheap /healthz, deep /readyz -------------------------------------------------------

def _statements(app, call):
    from sqlalchemy import event

    from shop.extensions import db

    seen = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: seen.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return seen


def test_healthz_asks_the_database_at_most_once_a_second(client, app):
    app.extensions.pop("playcation.health", None)
    first = _statements(app, lambda: client.get("/healthz"))
    assert any("SELECT 1" in s for s in first)
    again = _statements(app, lambda: [client.get("/healthz") for _ in range(20)])
    assert again == []  # answered from the last check


def test_readyz_checks_the_database_and_redis_on_every_call(client, app):
    seen = _statements(app, lambda: [client.get("/readyz") for _ in range(3)])
    assert len([s for s in seen if "FROM games" in s]) == 3
    res = client.get("/readyz")
    assert res.status_code == 200 and res.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.no_db_isolation
def test_readyz_503_when_redis_is_down():
    app = _app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    res = app.test_client().get("/readyz")
    assert res.status_code == 503 and res.get_json()["redis"].startswith("down")
