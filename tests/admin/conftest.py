"""Admin fixtures: browsers logged in as each role, and read-only looks at what the
database holds (each in its own app context, so none stays open across requests)."""
import re
from html import unescape
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from shop.admin.models import AuditLog
from shop.extensions import db

from ..support.orders import ShopBrowser, session_login

ROLES = ("anonymous", "customer", "publisher", "admin")


class AdminBrowser(ShopBrowser):
    """A browser with the user it is logged in as (None when anonymous)."""

    user = None

    def flashes(self) -> str:
        """The next page's flash messages (consumes them)."""
        html = self.client.get("/cart").get_data(as_text=True)
        return " | ".join(unescape(m) for m in re.findall(r'<div class="flash flash-\w+" role="\w+">(.*?)</div>', html))

    def page(self, url: str) -> str:
        res = self.get(url)
        assert res.status_code == 200, (url, res.status_code)
        return res.get_data(as_text=True)


@pytest.fixture
def login_as(app, make_user):
    """login_as("admin") -> a browser logged in as a new verified user with that role
    ("anonymous": nobody). Logs in by session (the login form is tested in tests/accounts)."""

    def login(role: str, **user_kwargs) -> AdminBrowser:
        browser = AdminBrowser(app)
        if role != "anonymous":
            browser.user = make_user(role=role, **user_kwargs)
            session_login(app, browser, browser.user.id)
        return browser

    return login


@pytest.fixture
def admin_browser(login_as) -> AdminBrowser:
    """A verified admin, logged in; `.user` is the admin."""
    return login_as("admin", nickname="Root")


@pytest.fixture
def audit_rows(app):
    """audit_rows(action=..., target_id=...) -> matching audit rows as plain data, oldest first."""

    def rows(**filters):
        with app.app_context():
            query = select(AuditLog).filter_by(**filters).order_by(AuditLog.id)
            return [SimpleNamespace(**{c.key: getattr(r, c.key) for c in AuditLog.__table__.columns})
                    for r in db.session.scalars(query)]

    return rows


@pytest.fixture
def row_of(app):
    """row_of(Model, id) -> the row's column values as plain data (None when gone)."""

    def get(model, ident):
        with app.app_context():
            obj = db.session.get(model, ident)
            return None if obj is None else SimpleNamespace(**{c.key: getattr(obj, c.key)
                                                               for c in model.__table__.columns})

    return get
