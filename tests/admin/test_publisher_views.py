"""The publisher dashboard shows page views next to sales: stored days from
game_daily_views, today from Redis; other publishers' games never count."""
import re
from datetime import timedelta

from shop.catalog import rankings
from shop.catalog.models import GameDailyViews
from shop.extensions import db

from .test_publisher import browser_for, shop  # noqa: F401  (fixture)
from .test_dashboard import today_kst


def views_rows(html: str) -> dict[str, int]:
    table = re.search(r'id="sales-table">(.*?)</table>', html, re.S).group(1)
    return {d: int(v) for d, v in re.findall(
        r'<tr data-day="([\d-]+)">.*?<td class="num">(\d+)</td></tr>', table)}


def test_views_are_shown_per_day_next_to_sales(app, shop):  # noqa: F811
    mine, rival, games = shop
    today = today_kst()
    with app.app_context():
        db.session.add_all([GameDailyViews(game_id=games["a"], day=today - timedelta(days=3), views=40),
                            GameDailyViews(game_id=games["b"], day=today - timedelta(days=3), views=2),
                            GameDailyViews(game_id=games["c"], day=today - timedelta(days=3), views=500),
                            GameDailyViews(game_id=games["a"], day=today - timedelta(days=45), views=9)])
        db.session.commit()
        for _ in range(3):
            rankings.record_view(games["a"])  # today, still in Redis only
        rankings.record_view(games["c"])

    html = browser_for(app, mine).page("/publisher/")
    rows = views_rows(html)
    assert len(rows) == 30
    assert rows[(today - timedelta(days=3)).isoformat()] == 42
    assert rows[today.isoformat()] == 3
    assert sum(rows.values()) == 45
    assert re.search(r'id="pub-views-30d">45</span> page views', html)
