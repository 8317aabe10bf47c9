"""Per-day game views leave Redis (kept 8 days) for game_daily_views, once a day."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from shop.catalog import rankings
from shop.catalog.models import GameDailyViews
from shop.catalog.tasks import persist_daily_views
from shop.extensions import db
from shop.infra.jobs import CRON

from ..support.catalog import make_game

NOW = datetime(2026, 3, 10, 15, 20, tzinfo=timezone.utc)  # 00:20 on 11 March in Seoul, when the job runs
TODAY = date(2026, 3, 11)


def stored(app) -> dict[tuple[int, date], int]:
    with app.app_context():
        return {(r.game_id, r.day): r.views for r in db.session.scalars(select(GameDailyViews))}


def view(game_id, days_ago, times=1):
    for _ in range(times):
        rankings.record_view(game_id, now=NOW - timedelta(days=days_ago))


def test_yesterday_and_older_days_are_copied_once_and_today_is_left(app):
    with app.app_context():
        a, b = make_game("Alpha Trail"), make_game("Beta Trail")
        view(a, 1, times=3)
        view(b, 1)
        view(a, 4, times=2)
        view(a, 8)  # the oldest day Redis still keeps
        view(a, 0, times=5)  # today: still counting
        view(999_999, 1)  # a game deleted since

        assert persist_daily_views(now=NOW) == 4
    yesterday = TODAY - timedelta(days=1)
    expected = {(a, yesterday): 3, (b, yesterday): 1, (a, TODAY - timedelta(days=4)): 2,
                (a, TODAY - timedelta(days=8)): 1}
    assert stored(app) == expected

    with app.app_context():
        persist_daily_views(now=NOW)  # a rerun (or the next day's run) changes nothing
    assert stored(app) == expected

    with app.app_context():
        view(b, 1, times=2)  # counted late (a run before midnight's last views landed)
        persist_daily_views(now=NOW)
    assert stored(app)[(b, yesterday)] == 3


def test_the_next_days_run_catches_up_a_missed_one(app):
    with app.app_context():
        a = make_game("Gamma Trail")
        view(a, 2, times=2)
        persist_daily_views(now=NOW + timedelta(days=1))  # the run for the 11th never happened
    assert stored(app) == {(a, TODAY - timedelta(days=2)): 2}


def test_redis_down_fails_the_job_visibly(app):
    from shop import create_app
    from shop.config import TestingConfig

    from tests.support.env import DATABASE_URL, free_port

    broken = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL,
                        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    import redis

    with broken.app_context(), pytest.raises(redis.exceptions.ConnectionError):
        persist_daily_views(now=NOW)


def test_it_is_on_the_schedule():
    assert ("catalog-persist-views", "15 15 * * *", "shop.catalog.tasks.persist_daily_views") in CRON
