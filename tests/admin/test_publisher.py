"""The publisher dashboard: one's own sales per Korean day, totals, rating trend and latest
reviews; never another publisher's; admins may pick any publisher."""
import re
from datetime import timedelta

import pytest

from shop.extensions import db
from shop.reviews.models import Review

from ..support.orders import session_login
from ..support.catalog import make_game
from .conftest import AdminBrowser
from .test_dashboard import add_order, chart_data, kst, today_kst


def sales_rows(html: str) -> dict[str, tuple[str, str]]:
    """{day: (copies, sales)} from the sales table."""
    table = re.search(r'id="sales-table">(.*?)</table>', html, re.S).group(1)
    return {d: (n, rev) for d, n, rev in re.findall(
        r'<tr data-day="([\d-]+)"><th scope="row">[\d-]+</th><td class="num">(\d+)</td><td class="num">([^<]+)</td>(?:<td class="num">\d+</td>)?</tr>', table)}


def add_review(app, game_id, user_id, rating, created_at, body="Good fun."):
    with app.app_context():
        db.session.add(Review(game_id=game_id, user_id=user_id, rating=rating, body=body, created_at=created_at))
        db.session.commit()


@pytest.fixture
def shop(app, make_user):
    """Two publishers: "mine" (games A ₩10,000 and B ₩25,000) and "rival" (game C ₩40,000)."""
    mine = make_user(role="publisher", nickname="Moonworks")
    rival = make_user(role="publisher", nickname="RivalSoft")
    with app.app_context():
        games = {"a": make_game("Alpha Quest", price=10_000, publisher_id=mine.id),
                 "b": make_game("Beta Racer", price=25_000, publisher_id=mine.id),
                 "c": make_game("Rival Saga", price=40_000, publisher_id=rival.id)}
    return mine, rival, games


def browser_for(app, user) -> AdminBrowser:
    browser = AdminBrowser(app)
    browser.user = user
    session_login(app, browser, user.id)
    return browser


# --- who may ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role, status", [("publisher", 200), ("admin", 200), ("customer", 403), ("anonymous", 302)])
def test_publishers_and_admins_only(app, login_as, shop, role, status):
    res = login_as(role).get("/publisher/")
    assert res.status_code == status
    if role == "anonymous":
        assert res.headers["Location"].startswith("/login")


def test_the_header_links_publishers_to_their_dashboard(login_as):
    assert '<a href="/publisher/">Dashboard</a>' in login_as("publisher").page("/")
    assert '<a href="/publisher/">Dashboard</a>' not in login_as("customer").page("/")


# --- the numbers -----------------------------------------------------------------------------

def test_sales_per_day_are_only_ones_own(app, make_user, shop):
    mine, rival, games = shop
    buyer = make_user()
    today = today_kst()
    d2, d3 = today - timedelta(days=2), today - timedelta(days=3)
    add_order(app, buyer.id, [games["a"], games["c"]], kst(d2, 0, 30))     # A for me, C for the rival
    add_order(app, buyer.id, [games["b"]], kst(d3, 23, 30))               # same UTC date, another KST day
    add_order(app, buyer.id, [games["a"]], kst(d2, 10), status="REFUNDED")
    add_order(app, buyer.id, [games["b"]], kst(today - timedelta(days=40), 10))  # all time only

    html = browser_for(app, mine).page("/publisher/")
    rows = sales_rows(html)
    assert len(rows) == 30
    assert rows[d2.isoformat()] == ("1", "₩10,000") and rows[d3.isoformat()] == ("1", "₩25,000")
    assert {d for d, (n, _) in rows.items() if n != "0"} == {d2.isoformat(), d3.isoformat()}
    assert '<span class="figure" id="pub-revenue-30d">₩35,000</span>' in html
    assert '<span class="figure" id="pub-revenue-all">₩60,000</span>' in html
    assert "Rival Saga" not in html and "₩40,000" not in html
    chart = chart_data(html, "sales-data")
    assert sum(chart["datasets"][0]["data"]) == 2 and sum(chart["datasets"][1]["data"]) == 35_000
    games_table = re.search(r'id="pub-games">(.*?)</table>', html, re.S).group(1)
    beta = re.search(rf'<tr data-game="{games["b"]}">(.*?)</tr>', games_table, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]+)</td>', beta)[:4] == ["1", "₩25,000", "2", "₩50,000"]

    rival_html = browser_for(app, rival).page("/publisher/")
    assert sales_rows(rival_html)[d2.isoformat()] == ("1", "₩40,000")
    assert "Alpha Quest" not in rival_html and "Beta Racer" not in rival_html


def test_rating_trend_and_latest_reviews(app, make_user, shop):
    mine, rival, games = shop
    a, b, c = (make_user(nickname=n) for n in ("Ann", "Bo", "Cy"))
    today = today_kst()
    this_monday = today - timedelta(days=today.weekday())
    last_week = this_monday - timedelta(days=7)
    add_review(app, games["a"], a.id, 5, kst(this_monday, 0, 10), "Loved the maps.")
    add_review(app, games["b"], b.id, 4, kst(this_monday, 0, 20), "Fast and fun.")
    add_review(app, games["a"], b.id, 2, kst(last_week + timedelta(days=6), 23, 50), "Too short.")  # Sunday night
    add_review(app, games["c"], c.id, 1, kst(this_monday, 1), "Rival review.")

    html = browser_for(app, mine).page("/publisher/")
    trend = re.search(r'id="rating-table">(.*?)</table>', html, re.S).group(1)
    weeks = dict(re.findall(r'<tr data-week="([\d-]+)"><th scope="row">[\d-]+</th>\s*<td class="num">([^<]+)</td>', trend))
    assert weeks[this_monday.isoformat()] == "4.50" and weeks[last_week.isoformat()] == "2.00"
    assert sum(1 for v in weeks.values() if v != "—") == 2 and len(weeks) == 12
    assert '<span class="figure" id="pub-rating">3.67</span>' in html
    reviews = re.search(r'id="pub-reviews">(.*?)</table>', html, re.S).group(1)
    assert [t for t in re.findall(r'<p class="review-quote">([^<]+)</p>', reviews)] == [
        "Fast and fun.", "Loved the maps.", "Too short."]
    assert "Rival review." not in html


# --- admins ----------------------------------------------------------------------------------

def test_admins_pick_any_publisher(app, make_user, login_as, shop):
    mine, rival, games = shop
    buyer = make_user()
    add_order(app, buyer.id, [games["c"]], kst(today_kst() - timedelta(days=1), 12))
    admin = login_as("admin")
    html = admin.page(f"/publisher/?publisher_id={rival.id}")
    assert "<h1>RivalSoft</h1>" in html and "Rival Saga" in html and "Alpha Quest" not in html
    assert '<span class="figure" id="pub-revenue-30d">₩40,000</span>' in html
    assert f'<option value="{mine.id}">Moonworks</option>' in html
    assert admin.get(f"/publisher/?publisher_id={buyer.id}").status_code == 404  # not a publisher
    assert admin.get("/publisher/?publisher_id=999999").status_code == 404
    # A publisher can't look at another publisher this way: the parameter is ignored.
    own = browser_for(app, mine).page(f"/publisher/?publisher_id={rival.id}")
    assert "<h1>Moonworks</h1>" in own and "Rival Saga" not in own


# --- the games table is paged ------------------------------------------------------------------

def _table_games(html: str) -> list[int]:
    table = re.search(r'id="pub-games">(.*?)</table>', html, re.S).group(1)
    return [int(i) for i in re.findall(r'<tr data-game="(\d+)">', table)]


@pytest.fixture
def many_games(app, make_user):
    """A publisher with 45 games, so the table has pages of 20, 20 and 5."""
    publisher = make_user(role="publisher", nickname="Prolific")
    with app.app_context():
        ids = [make_game(f"Game {n:02d}", publisher_id=publisher.id) for n in range(45)]
    return publisher, ids


def test_the_games_table_is_paged_and_the_totals_count_every_game(app, many_games):
    publisher, ids = many_games
    browser = browser_for(app, publisher)
    first = browser.page("/publisher/")
    assert len(_table_games(first)) == 20 and "Page 1 of 3 · 45 in all" in first
    assert 'href="/publisher/?page=2#games-heading"' in first and 'rel="prev"' not in first
    # The rating trend and latest reviews come right after the table, not after every game.
    assert first.index('id="rating-heading"') - first.index('id="pub-games"') < 20_000
    last = browser.page("/publisher/?page=3")
    assert len(_table_games(last)) == 5 and 'rel="next"' not in last
    shown = set()
    for page in (1, 2, 3):
        shown |= set(_table_games(browser.page(f"/publisher/?page={page}")))
    assert shown == set(ids)
    assert re.search(r'<span class="label">Games</span><span class="figure">45</span>', first)


@pytest.mark.parametrize("raw, page", [("abc", 1), ("-1", 1), ("0", 1), ("2.5", 1), ("", 1), ("1e9", 1),
                                       (str(10**20), 3), ("9" * 5000, 3), ("99", 3), ("2", 2)])
def test_any_page_argument_gives_a_page(app, many_games, raw, page):
    publisher, _ = many_games
    html = browser_for(app, publisher).page(f"/publisher/?page={raw}")
    assert f"Page {page} of 3" in html


def test_an_admin_pages_through_another_publishers_games(app, login_as, many_games):
    publisher, _ = many_games
    html = login_as("admin").page(f"/publisher/?publisher_id={publisher.id}&page=2")
    assert "Page 2 of 3" in html and f'href="/publisher/?publisher_id={publisher.id}&amp;page=3#games-heading"' in html
