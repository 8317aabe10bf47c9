"""`make run`'s demo data includes what a buyer gets: published builds of the first demo
games, and a demo customer who owns two of them and can download them."""
import hashlib
import re

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.dev.seed import DEMO_USERS
from shop.dev.seed_games import seed_games
from shop.dev.seed_library import BUILD_BYTES, seed_library
from shop.extensions import db
from shop.library.build_models import Build

from ..support.builds import browser_as

CUSTOMER = next(email for role, email, *_ in DEMO_USERS if role == "customer")


@pytest.fixture
def demo(app, make_user, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "BUILD_DIR", str(tmp_path / "builds"))
    app.extensions.pop("build_storage", None)
    publisher = make_user(email=next(e for r, e, *_ in DEMO_USERS if r == "publisher"), role="publisher")
    customer = make_user(email=CUSTOMER, nickname="김게이머")
    with app.app_context():
        seed_games(6, covers=0, reviewed=0)
    yield publisher, customer
    app.extensions.pop("build_storage", None)


def test_the_demo_customer_owns_and_downloads_demo_builds(app, demo):
    _, customer = demo
    with app.app_context():
        assert seed_library(CUSTOMER) == (3, 2)
        assert seed_library(CUSTOMER) == (0, 0)  # rerunning adds nothing
        published = db.session.scalars(select(Build).where(Build.status == "published")).all()
        assert len(published) == 3 and all(b.size == BUILD_BYTES and b.sha256 for b in published)
    browser = browser_as(app, customer.id)
    page = browser.get("/library").get_data(as_text=True)
    assert page.count("Download for Windows") == 2
    build_id = int(re.search(r"/library/builds/(\d+)/download", page).group(1))
    res = browser.post(f"/library/builds/{build_id}/download")
    assert res.status_code == 303
    body = browser.get(res.headers["Location"]).data
    with app.app_context():
        assert hashlib.sha256(body).hexdigest() == db.session.get(Build, build_id).sha256
        assert db.session.scalar(select(User.id).where(User.email == CUSTOMER)) == customer.id
