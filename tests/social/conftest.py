"""Social login fixtures: the local identity provider (tests/social/provider.py) and
the suite's app built again with all four providers pointed at it — through the same
configuration keys production uses, nothing test-only in the app."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from shop import create_app
from shop.config import TestingConfig

from .provider import LocalProvider

SHARED = ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT", "DEV_INBOX_DIR", "UPLOAD_DIR",
          "RQ_QUEUE", "SERVER_NAME")
HTTP_TIMEOUT = 1.0  # short, so the timeout test is quick; the local provider answers in milliseconds


@pytest.fixture(scope="session")
def local_provider():
    provider = LocalProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def app(app, local_provider):
    social_app = create_app(TestingConfig, **{key: app.config[key] for key in SHARED}, **local_provider.app_config(),
                            SOCIAL_HTTP_TIMEOUT=HTTP_TIMEOUT)
    social_app.test_client_class = app.test_client_class  # the suite's English-asking browser
    return social_app


@pytest.fixture(autouse=True)
def _fresh_provider(local_provider):
    local_provider.reset()
    yield
    local_provider.reset()


class Social:
    """The user's side of a social login: click the button, pass the provider's consent
    page (a real HTTP request to the local provider), land on our callback."""

    def __init__(self, browser, provider):
        self.browser = browser
        self.provider = provider
        self.last_callback = None

    def start(self, name, next=None):
        """Click "Continue with <name>"; returns our redirect to the provider."""
        return self.browser.get(f"/login/{name}" + (f"?next={next}" if next else ""))

    def consent(self, provider_url):
        """The browser at the provider: returns the callback URL it sends us back to."""
        answer = requests.get(provider_url, allow_redirects=False, timeout=5)
        assert answer.status_code == 302, answer.text
        self.last_callback = answer.headers["Location"]
        return self.last_callback

    def callback(self, url):
        parts = urlsplit(url)
        return self.browser.get(f"{parts.path}?{parts.query}")

    def login(self, name, next=None):
        """The whole round trip; returns our callback's response."""
        res = self.start(name, next)
        assert res.status_code == 302 and res.headers["Location"].startswith(self.provider.url), res.headers
        return self.callback(self.consent(res.headers["Location"]))

    def link(self, name):
        """"Link <name>" on the account page, then the round trip."""
        res = self.browser.post(f"/account/social/{name}/link")
        assert res.status_code == 302 and res.headers["Location"].startswith(self.provider.url), res.headers
        return self.callback(self.consent(res.headers["Location"]))

    def follow(self, res):
        return self.browser.get(res.headers["Location"])

    def flashes(self, page_res) -> str:
        return " ".join(re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', page_res.get_data(as_text=True)))


@pytest.fixture
def social(browser, local_provider):
    return Social(browser, local_provider)


@pytest.fixture
def count(app):
    """count(Model) -> rows in the table, read in a fresh app context."""
    from shop.extensions import db

    def count_rows(model, *where):
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(model).where(*where))

    return count_rows


@pytest.fixture
def db_get(app):
    """db_get(Model, **filters) -> the first matching row's column values as a dict (or None)."""
    from shop.extensions import db

    def get(model, **filters):
        with app.app_context():
            row = db.session.scalars(select(model).filter_by(**filters)).first()
            if row is None:
                return None
            return {c.key: getattr(row, c.key) for c in model.__table__.columns}

    return get


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
