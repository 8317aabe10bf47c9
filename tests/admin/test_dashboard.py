"""The admin dashboard: revenue per Korean day (refunds and other windows left out), top
games, live coupon drops with the remaining count over SSE, failed jobs and mail, and who
may see it."""
import json
import re
from datetime import datetime, time, timedelta, timezone
from html import unescape

import pytest

from shop.catalog.models import Game
from shop.coupons import services as coupons
from shop.extensions import db
from shop.infra.mail import EmailLog
from shop.orders.models import Order, OrderLine
from shop.timeutil import SEOUL, utcnow

from ..coupons.conftest import event_input
from ..support.catalog import make_game


def kst(day, hour, minute=0) -> datetime:
    """A Korean wall-clock time as an aware UTC datetime."""
    return datetime.combine(day, time(hour, minute), tzinfo=SEOUL).astimezone(timezone.utc)


def today_kst():
    return utcnow().astimezone(SEOUL).date()


def add_order(app, user_id, game_ids, paid_at, status="PAID", refunded_at=None) -> int:
    """An order straight into the database: lines at each game's price, total = their sum."""
    with app.app_context():
        games = [db.session.get(Game, g) for g in game_ids]
        total = sum(g.price for g in games)
        order = Order(user_id=user_id, status=status, subtotal=total, total=total, gateway="sandbox",
                      expires_at=paid_at, paid_at=paid_at, refunded_at=refunded_at, created_at=paid_at,
                      lines=[OrderLine(game_id=g.id, title=g.title, list_price=g.price, price=g.price) for g in games])
        db.session.add(order)
        db.session.commit()
        return order.id


@pytest.fixture
def games(app, make_user):
    publisher = make_user(role="publisher")
    with app.app_context():
        return {"a": make_game("Alpha Quest", price=10_000, publisher_id=publisher.id),
                "b": make_game("Beta Racer", price=25_000, publisher_id=publisher.id)}


def day_rows(html: str) -> dict[str, tuple[str, str]]:
    """{day: (revenue, orders)} from the dashboard's accessible table."""
    return {day: (rev, n) for day, rev, n in re.findall(
        r'<tr data-day="([\d-]+)"><th scope="row">[\d-]+</th><td class="num">([^<]+)</td><td class="num">(\d+)</td></tr>', html)}


def chart_data(html: str, element_id: str) -> dict:
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


# --- who may ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role, status", [("admin", 200), ("publisher", 403), ("customer", 403), ("anonymous", 302)])
@pytest.mark.parametrize("url", ["/admin/", "/admin/coupons/live"])
def test_only_admins_see_the_dashboard(login_as, role, status, url):
    browser = login_as(role)
    res = browser.client.get(url, buffered=False)
    try:
        assert res.status_code == status
        if role == "anonymous":
            assert res.headers["Location"].startswith("/login")
    finally:
        res.close()


def test_the_header_links_admins_to_the_dashboard(login_as):
    html = login_as("admin").page("/")
    assert '<a href="/admin/">Admin</a>' in html
    assert 'href="/admin/"' not in login_as("customer").page("/")


# --- the numbers -----------------------------------------------------------------------------

def test_revenue_per_korean_day_leaves_out_refunds_and_old_orders(app, admin_browser, make_user, games):
    buyer = make_user()
    today = today_kst()
    d2, d3 = today - timedelta(days=2), today - timedelta(days=3)
    # The same UTC date (14:30 and 15:30 UTC), two different Korean days.
    add_order(app, buyer.id, [games["a"]], kst(d3, 23, 30))                 # ₩10,000 on d3
    add_order(app, buyer.id, [games["a"], games["b"]], kst(d2, 0, 30))       # ₩35,000 on d2
    add_order(app, buyer.id, [games["b"]], kst(d2, 12), status="REFUNDED", refunded_at=kst(d2, 13))
    add_order(app, buyer.id, [games["b"]], kst(today - timedelta(days=31), 12))  # outside the window
    add_order(app, buyer.id, [games["b"]], kst(d2, 9), status="PENDING")

    html = admin_browser.page("/admin/")
    rows = day_rows(html)
    assert len(rows) == 30 and min(rows) == (today - timedelta(days=29)).isoformat() and max(rows) == today.isoformat()
    assert rows[d3.isoformat()] == ("₩10,000", "1")
    assert rows[d2.isoformat()] == ("₩35,000", "1")
    assert {day for day, (_, n) in rows.items() if n != "0"} == {d2.isoformat(), d3.isoformat()}
    assert '<span class="figure" id="revenue-30d">₩45,000</span>' in html
    assert "1 refunded (₩25,000, not counted)" in unescape(html)

    chart = chart_data(html, "revenue-data")
    assert chart["labels"][-1] == today.strftime("%m-%d") and len(chart["labels"]) == 30
    revenue = chart["datasets"][0]["data"]
    assert revenue[-3] == 35_000 and revenue[-4] == 10_000 and sum(revenue) == 45_000
    assert sum(chart["datasets"][1]["data"]) == 2

    # Top games: Alpha 2 copies (₩20,000), Beta 1 copy (₩25,000): by sales, Beta first.
    top = re.search(r'<table class="bo-table" id="top-games">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'>([A-Z][a-z]+ [A-Z][a-z]+)</a></td><td class="num">(\d+)</td><td class="num">([^<]+)<', top) == [
        ("Beta Racer", "1", "₩25,000"), ("Alpha Quest", "2", "₩20,000")]


def test_an_empty_store_shows_zeroes(admin_browser):
    html = admin_browser.page("/admin/")
    assert set(day_rows(html).values()) == {("₩0", "0")}
    assert "No sales in the last 30 days." in html and "No open or upcoming drops." in html
    assert "No mail yet." in html
    assert '<span class="figure" id="failed-jobs">0</span>' in html


def test_the_dashboard_makes_a_fixed_number_of_queries(app, admin_browser, make_user, games):
    """Set-based: more orders, games and events do not mean more queries."""
    from sqlalchemy import event

    def count_queries():
        seen = []
        with app.app_context():
            engine = db.engine
        listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            admin_browser.page("/admin/")
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        # The waiting rooms' snapshot is read once per WAITING_ROOM_CACHE_SECONDS per
        # process (in a savepoint of its own), whichever request comes first: not the page's.
        return len([s for s in seen if "waiting_rooms" not in s and "SAVEPOINT" not in s])

    buyer = make_user()
    add_order(app, buyer.id, [games["a"]], utcnow() - timedelta(hours=1))
    with app.app_context():
        coupons.create_event(event_input(5, name="Drop one"))
    few = count_queries()
    for n in range(4):
        add_order(app, buyer.id, [games["a"], games["b"]], utcnow() - timedelta(days=n + 1))
    with app.app_context():
        for n in range(3):
            coupons.create_event(event_input(5, name=f"Drop {n + 2}"))
        extra = make_game("Gamma", price=5_000)
    add_order(app, buyer.id, [extra], utcnow() - timedelta(hours=2))
    assert count_queries() == few


def test_failed_email_and_job_counts(app, admin_browser, redis):
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    from shop.infra.redisconn import redis_clients

    with app.app_context():
        db.session.add_all([EmailLog(recipient="a@example.com", kind="receipt", subject="Receipt", status="failed",
                                     context={}, attempts=3, last_error="SMTPServerDisconnected: gone"),
                            EmailLog(recipient="b@example.com", kind="receipt", subject="Receipt", status="sent")])
        db.session.commit()
        job = Job.create("shop.infra.mail.requeue_stale_emails", connection=redis_clients.raw, id="doomed")
        job.save()
        FailedJobRegistry(app.config["RQ_QUEUE"], connection=redis_clients.raw).add(job, exc_string="Boom")
    html = admin_browser.page("/admin/")
    assert '<span class="figure bad" id="failed-emails">1</span>' in html
    assert '<span class="figure bad" id="failed-jobs">1</span>' in html
    recent = re.search(r'id="recent-emails">(.*?)</table>', html, re.S).group(1)
    assert recent.index("b@example.com") < recent.index("a@example.com")  # newest first


# --- live coupon drops -----------------------------------------------------------------------

def test_live_drops_show_remaining_and_update_over_sse(app, admin_browser, make_user):
    from shop.coupons.consumer import drain_event, publish_counts
    from shop.web.sse import get_hub

    from tests.support.env import REDIS_URL

    users = [make_user(), make_user()]
    with app.app_context():
        live = coupons.create_event(event_input(5, name="Live drop")).id
        later = coupons.create_event(event_input(3, name="Later drop", opens_at=utcnow() + timedelta(days=1),
                                                 closes_at=utcnow() + timedelta(days=2))).id
        gone = coupons.create_event(event_input(3, name="Past drop", opens_at=utcnow() - timedelta(days=2),
                                                closes_at=utcnow() - timedelta(days=1))).id
        assert coupons.claim(live, users[0].id) == "claimed"
        drain_event(live)
    html = admin_browser.page("/admin/")
    table = re.search(r'id="live-drops">(.*?)</table>', html, re.S).group(1)
    assert 'sse-connect="/admin/coupons/live"' in table
    assert f'sse-swap="remaining-{live}" aria-live="polite">4</span>' in table
    assert f'sse-swap="remaining-{later}" aria-live="polite">3</span>' in table
    assert "Past drop" not in table and f"remaining-{gone}" not in table

    res = admin_browser.client.get("/admin/coupons/live", buffered=False)
    assert res.status_code == 200 and res.mimetype == "text/event-stream"
    chunks = iter(res.response)
    first = next(chunks).decode()
    assert f"event: remaining-{live}\ndata: 4\n\n" in first and f"event: remaining-{later}\ndata: 3\n\n" in first
    assert get_hub(REDIS_URL).wait_ready()
    with app.app_context():
        assert coupons.claim(live, users[1].id) == "claimed"
        publish_counts([live], {})
    # Pub/sub channels are shared by every Redis DB number: skip anything not ours, and
    # heartbeats, for as long as a busy machine may take to deliver.
    import time as clock

    deadline = clock.monotonic() + 60
    while clock.monotonic() < deadline:
        chunk = next(chunks).decode()
        if chunk == f"event: remaining-{live}\ndata: 3\n\n":
            break
    else:
        pytest.fail("the new remaining count never arrived")
    res.close()

