"""Rankings in Redis: top sellers, 7-day trending from page views, and pages that
still render when Redis is down."""
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from shop import create_app
from shop.catalog import rankings, services
from shop.config import TestingConfig
from shop.extensions import db, limiter
from shop.timeutil import utcnow

from tests.support.env import DATABASE_URL, free_port
from ..support.accounts import make_user


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def make_game(app):
    with app.app_context():
        publisher_id = make_user(role="publisher").id

    def make(title, **kw):
        from shop.accounts.models import User

        with app.app_context():
            game = services.create_game(db.session.get(User, publisher_id),
                                        services.GameInput(title=title, price=kw.pop("price", 10000), **kw))
            return SimpleNamespace(id=game.id, slug=game.slug, title=game.title)

    return make


def test_top_sellers_rank_by_copies_sold(ctx, redis):
    rankings.record_sale(1)
    rankings.record_sale(2, quantity=5)
    rankings.record_sale(3, quantity=2)
    rankings.record_sale(1, quantity=3)
    assert rankings.top_sellers(10) == [2, 1, 3]
    assert rankings.top_sellers(2) == [2, 1]
    assert rankings.top_sellers(0) == []
    assert redis.zscore("rank:sales", "1") == 4


def test_views_go_to_the_korean_day_and_expire(ctx, redis):
    late_evening_utc = datetime(2026, 3, 1, 15, 30, tzinfo=timezone.utc)  # 00:30 on 2 March in Seoul
    rankings.record_view(7, now=late_evening_utc)
    assert redis.zscore("rank:views:20260302", "7") == 1
    assert 7 * 86400 < redis.ttl("rank:views:20260302") <= 8 * 86400


def test_a_visitor_counts_once_per_game_per_day(ctx, redis):
    now = utcnow()
    key = rankings.day_key(now)
    assert rankings.record_view(1, "visitor-a", now) is True
    assert rankings.record_view(1, "visitor-a", now) is False
    assert rankings.record_view(1, "visitor-b", now) is True
    assert rankings.record_view(2, "visitor-a", now) is True   # another game
    assert rankings.record_view(1, now=now) is True            # no identity: always counted
    assert redis.zscore(key, "1") == 3 and redis.zscore(key, "2") == 1
    assert not any("visitor-a" in k for k in redis.keys("rank:seen:*"))  # stored hashed


def test_trending_is_a_sliding_seven_day_window(ctx, redis):
    now = utcnow()
    redis.zincrby(rankings.day_key(now - timedelta(days=8)), 100, "1")  # too old
    redis.zincrby(rankings.day_key(now - timedelta(days=7)), 50, "2")   # just outside
    redis.zincrby(rankings.day_key(now - timedelta(days=6)), 3, "3")    # oldest day inside
    redis.zincrby(rankings.day_key(now - timedelta(days=2)), 2, "4")
    redis.zincrby(rankings.day_key(now), 2, "4")
    assert rankings.trending(10, now) == [4, 3]
    cached = [k for k in redis.keys("rank:trending:*")]
    assert len(cached) == 1 and 0 < redis.ttl(cached[0]) <= rankings.TRENDING_CACHE_SECONDS


def test_trending_with_no_views_is_empty(ctx):
    assert rankings.trending(5) == []


def test_game_page_views_feed_trending_once_per_visitor(app, client, make_game):
    quiet, popular = make_game("Quiet"), make_game("Popular")
    client.get(f"/games/{quiet.slug}")
    for _ in range(3):
        client.get(f"/games/{popular.slug}")  # the same visitor: counted once
    for agent in ("phone", "tablet"):
        client.get(f"/games/{popular.slug}", headers={"User-Agent": agent})
    with app.app_context():
        assert rankings.trending(5) == [popular.id, quiet.id]
        key = rankings.day_key(utcnow())
        from shop.infra.redisconn import redis_clients

        assert redis_clients.store.zscore(key, str(popular.id)) == 3


def test_home_shows_trending_and_top_sellers_and_drops_delisted(app, client, make_game):
    shown, hidden = make_game("Shown Game"), make_game("Hidden Game")
    with app.app_context():
        for game in (shown, hidden):
            rankings.record_view(game.id)
            rankings.record_sale(game.id)
        from shop.accounts.models import User
        from shop.catalog.models import Game

        row = db.session.get(Game, hidden.id)
        services.set_listed(db.session.get(User, row.publisher_id), row, False)
    page = client.get("/").get_data(as_text=True)
    assert "Trending this week" in page and "Top sellers" in page
    assert "Shown Game" in page and "Hidden Game" not in page


# --- Redis down -----------------------------------------------------------------------------

@contextmanager
def redis_down_app(app):
    """A second app whose Redis is a closed port, sharing this test's database
    connection (and so its rolled-back transaction)."""
    # The rate limiter is one module-level object that init_app re-points at the newest
    # app's Redis; put it back afterwards so later tests keep a working limiter.
    limiter_state = dict(vars(limiter))
    broken = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL,
                        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", UPLOAD_DIR=app.config["UPLOAD_DIR"])
    with app.app_context():
        connection = db._app_engines[app][None]
    with broken.app_context():
        engines = db._app_engines[broken]
        engine, engines[None] = engines[None], connection
    try:
        yield broken
    finally:
        engines[None] = engine
        vars(limiter).clear()
        vars(limiter).update(limiter_state)


def test_rankings_are_empty_not_errors_when_redis_is_down(app):
    with redis_down_app(app) as broken, broken.app_context():
        rankings.record_sale(1)
        assert rankings.record_view(1, "someone") is False
        assert rankings.top_sellers(5) == []
        assert rankings.trending(5) == []


def test_store_pages_render_when_redis_is_down(app, make_game):
    game = make_game("Still Here")
    with redis_down_app(app) as broken:
        client = broken.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # a plain client, not the suite's English one
        for url in ("/", "/games", "/games?sort=price_asc", f"/games/{game.slug}"):
            res = client.get(url)
            assert res.status_code == 200, url
            assert "Still Here" in res.get_data(as_text=True)
        partial = client.get("/games?on_sale=1", headers={"HX-Request": "true"})
        assert partial.status_code == 200 and "No games match" in partial.get_data(as_text=True)
