"""An anonymous visitor's game page from Redis alone (shop/catalog/pagehead.py): no
query while the game is unchanged, the long way (and the right page) once it changes."""
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import event

from shop.accounts.models import User
from shop.catalog import pagehead, rankings, services
from shop.catalog.models import Game
from shop.extensions import db
from shop.timeutil import SEOUL, seoul_today, utcnow

from ..support.browser import run_jobs
from .test_storefront import shop  # noqa: F401  (fixture)


@pytest.fixture
def game(shop):  # noqa: F811
    return shop.game("Amber Lantern", price=12000)


class Statements:
    """Counts the SQL statements the app's engine runs while active."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.count = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, *args):
        self.count += 1


def test_a_cached_game_page_asks_the_database_nothing(app, game):
    path = f"/games/{game.slug}"
    assert app.test_client().get(path).headers["X-Page-Cache"] == "miss"
    with Statements(app) as statements:
        res = app.test_client().get(path)
    assert res.status_code == 200 and res.headers["X-Page-Cache"] == "hit" and "Amber Lantern" in res.get_data(as_text=True)
    assert statements.count == 0
    assert "%%csrf" not in res.get_data(as_text=True)


def test_each_visitor_is_counted_once_on_the_fast_path(app, game, redis):
    path = f"/games/{game.slug}"
    app.test_client().get(path)
    for agent in ("one", "two", "two"):
        app.test_client().get(path, headers={"User-Agent": agent})
    assert redis.zscore(rankings.day_key(utcnow()), game.id) == 3  # the first visitor, then "one" and "two"


def test_a_price_change_takes_the_long_way(app, shop, game):  # noqa: F811
    path = f"/games/{game.slug}"
    client = app.test_client()
    client.get(path)
    assert client.get(path).headers["X-Page-Cache"] == "hit"
    shop.update(game.id, price=9000)
    run_jobs(app)  # after_game_change bumps the game's generation
    res = client.get(path)
    assert res.headers["X-Page-Cache"] == "miss" and "₩9,000" in res.get_data(as_text=True)


def test_a_delisted_game_is_gone_even_with_a_cached_page(app, game):
    path = f"/games/{game.slug}"
    client = app.test_client()
    client.get(path)
    assert client.get(path).headers["X-Page-Cache"] == "hit"
    with app.app_context():
        row = db.session.get(Game, game.id)
        services.set_listed(db.session.get(User, row.publisher_id), row, False)
    run_jobs(app)
    assert client.get(path).status_code == 404


def test_a_coming_soon_head_ends_when_its_release_day_starts(app, shop, redis):  # noqa: F811
    soon = shop.game("Soon Lantern", release_date=seoul_today() + timedelta(days=1))
    app.test_client().get(f"/games/{soon.slug}")
    release = datetime.combine(seoul_today() + timedelta(days=1), time.min, tzinfo=SEOUL)
    assert 0 < redis.ttl(f"{pagehead.PREFIX}/games/{soon.slug}") <= (release - utcnow()).total_seconds() + 1


def test_a_member_never_takes_the_anonymous_copy(app, game, make_user):
    from ..support.browser import Browser

    path = f"/games/{game.slug}"
    app.test_client().get(path)
    member = Browser(app)
    member.login(make_user(nickname="Secret Nick").email)
    page = member.get(path).get_data(as_text=True)
    assert "Secret Nick" in page
