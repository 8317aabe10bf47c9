"""Who may call what: one table of routes x visitors."""
import pytest
from flask import Blueprint

from shop import create_app
from shop.accounts.decorators import role_required, verified_required
from shop.config import TestingConfig

from tests.support.env import DATABASE_URL, REDIS_URL
from ..support.browser import Browser

LOGIN_REQUIRED = [
    ("GET", "/account"),
    ("POST", "/account/profile"),
    ("POST", "/account/avatar"),
    ("POST", "/account/avatar/remove"),
    ("POST", "/account/email"),
    ("GET", "/account/email/confirm"),
    ("POST", "/account/password"),
    ("GET", "/account/withdraw"),
    ("POST", "/account/withdraw"),
    ("GET", "/verify"),
    ("POST", "/verify/resend"),
]

STATE_CHANGING = [url for method, url in LOGIN_REQUIRED if method == "POST"] + ["/logout", "/verify"]


@pytest.mark.parametrize("method,url", LOGIN_REQUIRED)
def test_anonymous_visitors_are_sent_to_login(browser, method, url):
    res = browser.get(url) if method == "GET" else browser.post(url)
    assert res.status_code == 302
    assert res.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("url", STATE_CHANGING)
def test_state_changing_routes_refuse_missing_csrf(browser, make_user, url):
    user = make_user(verified=False)
    browser.login(user.email)
    res = browser.post(url, {"code": "123456", "nickname": "Changed"}, csrf=False)
    assert res.status_code == 400
    assert browser.current_nickname() == user.nickname


@pytest.fixture
def guarded_app(app):
    from shop.extensions import db

    main = app
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL, REDIS_URL=REDIS_URL)
    with app.app_context():
        db.engine  # create the engine mapping, then share the test's connection
    db._app_engines[app][None] = db._app_engines[main][None]
    bp = Blueprint("guarded", __name__)

    @bp.route("/guarded/buy")
    @verified_required
    def buy():
        return "bought"

    @bp.route("/guarded/publish")
    @role_required("publisher")
    def publish():
        return "published"

    @bp.route("/guarded/admin")
    @role_required("admin")
    def admin():
        return "admin"

    app.register_blueprint(bp)
    return app


@pytest.mark.parametrize("who,url,expected", [
    ("anonymous", "/guarded/buy", 302),
    ("unverified", "/guarded/buy", 302),
    ("customer", "/guarded/buy", 200),
    ("anonymous", "/guarded/publish", 302),
    ("customer", "/guarded/publish", 403),
    ("publisher", "/guarded/publish", 200),
    ("admin", "/guarded/publish", 200),
    ("customer", "/guarded/admin", 403),
    ("publisher", "/guarded/admin", 403),
    ("admin", "/guarded/admin", 200),
])
def test_role_and_verification_guards(guarded_app, make_user, who, url, expected):
    browser = Browser(guarded_app)
    if who != "anonymous":
        role = who if who in ("publisher", "admin") else "customer"
        user = make_user(role=role, verified=who != "unverified")
        assert browser.login(user.email).status_code == 302
    res = browser.get(url)
    assert res.status_code == expected
    if who == "unverified":
        assert res.headers["Location"].startswith("/verify")
