"""Test fixtures: real Redis, real SMTP sink, real database (SQLite or PostgreSQL).

The database comes from TEST_DATABASE_URL (tests/run.py sets it for each pass); the
schema is built by running the migrations. Each test runs inside one outer
transaction that is rolled back at the end; the app's own commits become SAVEPOINT
releases. Redis uses its own DB number (TEST_REDIS_URL), flushed before each test.
"""

import pytest
from flask.testing import FlaskClient
import redis as redis_lib

from shop import create_app
from shop.config import TestingConfig
from shop.dev.mail import read_messages, start_sink
from shop.extensions import db

from .support.browser import Browser, Outbox
from .support.env import _TMP, DATABASE_URL, REDIS_URL, free_port

@pytest.fixture(scope="session")
def smtp_sink():
    folder = _TMP / "mail"
    port = free_port()
    controller = start_sink(folder, port=port)
    yield Outbox(folder, port)
    controller.stop()


@pytest.fixture(scope="session")
def app(smtp_sink):
    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_sink.port,
        DEV_INBOX_DIR=str(smtp_sink.folder),
        UPLOAD_DIR=str(_TMP / "uploads"),
        BUILD_DIR=str(_TMP / "builds"),
        RQ_QUEUE="test",
        SERVER_NAME=None,
    )
    app.test_client_class = EnglishClient
    with app.app_context():
        _fresh_schema()
    return app


class EnglishClient(FlaskClient):
    """The suite's browser asks for English (Accept-Language), so assertions read the
    msgids; tests/i18n and the browser journeys' Korean runs ask for Korean."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def _fresh_schema():
    """Drop what an earlier run left and build the schema from the migrations, so
    the migrations themselves are tested on both databases."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # A dedicated test database: whatever an older or newer schema left goes.
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            db.drop_all()
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade()


@pytest.fixture(autouse=True)
def _isolation(request, app, smtp_sink):
    """One rolled-back transaction per test, a clean Redis DB, an empty outbox."""
    from shop.extensions import limiter

    # Flask-Limiter is one module-level object; a test that builds a second app re-points
    # it at that app's storage. Put it back after every test.
    limiter_state = dict(vars(limiter))
    r = redis_lib.Redis.from_url(REDIS_URL)
    r.flushdb()  # only our own DB number
    smtp_sink.clear()
    if "no_db_isolation" in request.keywords:
        yield
        vars(limiter).clear()
        vars(limiter).update(limiter_state)
        return
    # No app context stays pushed during the test: each request (and each job) must
    # get its own, as in production, or `g` and the session would leak between them.
    with app.app_context():
        engines = db._app_engines[app]
        engine = engines[None]
        db.session.remove()
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection
        db.session.configure(join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        outer.rollback()
        connection.close()
        engines[None] = engine
        vars(limiter).clear()
        vars(limiter).update(limiter_state)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def browser(app):
    return Browser(app)


@pytest.fixture
def outbox(smtp_sink, app):
    smtp_sink.app = app
    return smtp_sink


@pytest.fixture
def redis(app):
    return redis_lib.Redis.from_url(REDIS_URL, decode_responses=True)


@pytest.fixture
def make_user(app):
    from .support.accounts import make_user as factory

    def make(**kwargs):
        with app.app_context():
            return factory(**kwargs)

    return make


__all__ = ["read_messages"]


@pytest.fixture(scope="session")
def chromium():
    """One headless Debian chromium for every browser test (Playwright's sync API allows
    one running instance per process)."""
    from playwright.sync_api import sync_playwright

    from .browser.conftest import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
