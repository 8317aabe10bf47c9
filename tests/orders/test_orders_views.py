"""Orders, receipts, refunds and the library, from the buyer's side and everyone else's,
and what happens after a payment commits (receipt email, notification, counters, ranking)."""
import importlib.util
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from shop.catalog.models import Game
from shop.notifications.models import Notification
from shop.timeutil import utcnow

from ..support.browser import Browser, run_jobs
from ..support.orders import (ShopBrowser, Shopper, count, library_of, new_game, order_snapshot, paid_order, scalar,
                       set_order)


@pytest.fixture
def bought(app, make_user):
    """A buyer who paid for Hades through the site (sandbox); (shopper, order public id, game id)."""
    shopper = Shopper(app, make_user(nickname="Zagreus"))
    game_id = new_game(app, "Hades", price=24000)
    public_id = shopper.buy(game_id)
    shopper.flashes()
    return shopper, public_id, game_id


@pytest.fixture
def owns(app, make_user):
    """Like `bought`, but the paid order is put straight into the database (faster)."""
    shopper = Shopper(app, make_user(nickname="Zagreus"))
    game_id = new_game(app, "Hades", price=24000)
    return shopper, paid_order(app, shopper.user.id, game_id), game_id


def visitor(app, make_user, who: str) -> Browser:
    if who == "anonymous":
        return ShopBrowser(app)
    return Shopper(app, make_user(role="admin" if who == "admin" else "customer")).browser


# --- who may see and do what ----------------------------------------------------------------------------

ACCESS = [
    # (method, url, who, expected status)
    ("GET", "/orders/{id}", "buyer", 200),
    ("GET", "/orders/{id}", "admin", 200),
    ("GET", "/orders/{id}", "other", 404),
    ("GET", "/orders/{id}", "anonymous", 302),
    ("POST", "/orders/{id}/refund", "buyer", 302),
    ("POST", "/orders/{id}/refund", "admin", 403),
    ("POST", "/orders/{id}/refund", "other", 404),
    ("POST", "/orders/{id}/refund", "anonymous", 302),
    ("GET", "/checkout/success?paymentKey=k&orderId={id}&amount=24000", "admin", 404),
    ("GET", "/checkout/success?paymentKey=k&orderId={id}&amount=24000", "other", 404),
    ("GET", "/checkout/success?paymentKey=k&orderId={id}&amount=24000", "anonymous", 302),
    ("GET", "/checkout/fail?code=PAY_PROCESS_CANCELED&orderId={id}", "admin", 404),
    ("GET", "/checkout/fail?code=PAY_PROCESS_CANCELED&orderId={id}", "other", 404),
    ("GET", "/checkout/fail?code=PAY_PROCESS_CANCELED&orderId={id}", "anonymous", 302),
    ("GET", "/sandbox/pay/{id}", "admin", 404),
    ("GET", "/sandbox/pay/{id}", "other", 404),
    ("GET", "/sandbox/pay/{id}", "anonymous", 302),
    ("GET", "/orders", "anonymous", 302),
    ("GET", "/library", "anonymous", 302),
]


@pytest.mark.parametrize("method,url,who,expected", ACCESS)
def test_order_routes_access(app, make_user, owns, method, url, who, expected):
    shopper, public_id, game_id = owns
    browser = shopper.browser if who == "buyer" else visitor(app, make_user, who)
    url = url.format(id=public_id)
    res = browser.get(url) if method == "GET" else browser.post(url)
    assert res.status_code == expected
    if who == "anonymous":
        location = urlsplit(res.headers["Location"])
        assert location.path == "/login"
    if who != "buyer":
        order = order_snapshot(app, public_id)
        assert (order.status, order.payment_key.startswith("sandbox_")) == ("PAID", True)  # untouched


def test_an_unknown_order_is_404(owns):
    shopper, _, _ = owns
    assert shopper.browser.get("/orders/00000000-0000-4000-8000-000000000000").status_code == 404
    assert shopper.browser.get("/orders/not-a-uuid").status_code == 404


def test_the_sandbox_window_of_someone_elses_pending_order_is_404(app, make_user):
    owner = Shopper(app, make_user())
    owner.add(new_game(app))
    public_id = owner.checkout()
    for who in ("admin", "other"):
        browser = visitor(app, make_user, who)
        assert browser.get(f"/sandbox/pay/{public_id}").status_code == 404
        assert browser.post(f"/sandbox/pay/{public_id}", {"action": "approve"}).status_code == 404
    assert order_snapshot(app, public_id).status == "PENDING"


# --- order history and receipts ---------------------------------------------------------------------------

def test_order_history_lists_the_buyers_orders_only(app, make_user, bought):
    shopper, public_id, _ = bought
    shopper.add(new_game(app, "Celeste"))
    declined = shopper.checkout()
    shopper.browser.get(shopper.sandbox(declined, "decline").headers["Location"])
    page = shopper.browser.get("/orders").get_data(as_text=True)
    assert f"/orders/{public_id}" in page and f"/orders/{declined}" in page
    assert re.search(r"Hades</a></td>\s*<td>\s*<span class=\"status status-paid\">Paid", page)
    assert re.search(r"Celeste</a></td>\s*<td>\s*<span class=\"status status-failed\">Failed", page)
    other = visitor(app, make_user, "other").get("/orders").get_data(as_text=True)
    assert public_id not in other and "No orders yet" in other


@pytest.mark.parametrize("who", ["buyer", "admin"])
def test_the_receipt_page_shows_lines_total_and_status(app, make_user, owns, who):
    shopper, public_id, _ = owns
    browser = shopper.browser if who == "buyer" else visitor(app, make_user, "admin")
    page = browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert public_id in page and "Hades" in page and "₩24,000" in page
    assert 'status status-paid">Paid' in page
    assert ("Request a refund" in page) is (who == "buyer")  # admins see it, only the buyer asks


# --- refunds ------------------------------------------------------------------------------------------------

def test_a_refund_needs_the_csrf_token(app, owns):
    shopper, public_id, game_id = owns
    assert shopper.browser.post(f"/orders/{public_id}/refund", csrf=False).status_code == 400
    assert order_snapshot(app, public_id).status == "PAID"
    assert library_of(app, shopper.user.id) == [game_id]


def test_a_refunded_order_shows_as_refunded_and_the_game_leaves_the_library(app, bought):
    shopper, public_id, game_id = bought
    assert "Hades" in shopper.browser.get("/library").get_data(as_text=True)
    assert scalar(app, select(Game.sales_count).where(Game.id == game_id)) == 1
    res = shopper.browser.post(f"/orders/{public_id}/refund")
    assert res.headers["Location"] == f"/orders/{public_id}"
    assert "Refunded. The games were removed from your library." in shopper.flashes()
    receipt = shopper.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert 'status status-refunded">Refunded' in receipt and "This order was refunded" in receipt
    assert "Request a refund" not in receipt
    assert 'status-refunded">Refunded' in shopper.browser.get("/orders").get_data(as_text=True)
    library = shopper.browser.get("/library").get_data(as_text=True)
    assert "Hades" not in library and "Your library is empty" in library
    assert library_of(app, shopper.user.id) == []
    assert library_of(app, shopper.user.id, include_revoked=True) == [game_id]  # revoked, not deleted
    assert scalar(app, select(Game.sales_count).where(Game.id == game_id)) == 0


@pytest.mark.parametrize("days_ago,refunded", [(13, True), (14, True), (15, False), (30, False)])
def test_refunds_are_possible_for_14_days(app, owns, days_ago, refunded):
    shopper, public_id, game_id = owns
    # a minute of slack either side of the boundary, so the test never races the clock
    slack = timedelta(minutes=1) if refunded else -timedelta(minutes=1)
    set_order(app, public_id, paid_at=utcnow() - timedelta(days=days_ago) + slack)
    assert ("Request a refund" in shopper.browser.get(f"/orders/{public_id}").get_data(as_text=True)) is refunded
    shopper.browser.post(f"/orders/{public_id}/refund")
    flashed = shopper.flashes()
    if refunded:
        assert order_snapshot(app, public_id).status == "REFUNDED" and library_of(app, shopper.user.id) == []
    else:
        assert "can no longer be refunded (refunds are possible for 14 days after purchase)" in flashed
        assert order_snapshot(app, public_id).status == "PAID" and library_of(app, shopper.user.id) == [game_id]


def test_an_unpaid_order_cannot_be_refunded(app, make_user):
    shopper = Shopper(app, make_user())
    shopper.add(new_game(app))
    public_id = shopper.checkout()
    shopper.browser.post(f"/orders/{public_id}/refund")
    assert "can no longer be refunded" in shopper.flashes()
    assert order_snapshot(app, public_id).status == "PENDING"


def test_a_refunded_game_can_be_bought_again(app, bought):
    shopper, public_id, game_id = bought
    shopper.browser.post(f"/orders/{public_id}/refund")
    again = shopper.buy(game_id)
    assert order_snapshot(app, again).status == "PAID"
    assert library_of(app, shopper.user.id) == [game_id]


# --- the library ----------------------------------------------------------------------------------------------

def test_the_library_lists_owned_games_only(app, make_user, owns):
    shopper, _, _ = owns
    shopper.add(new_game(app, "Celeste"))  # in the cart, not bought
    page = shopper.browser.get("/library").get_data(as_text=True)
    assert "Hades" in page and "Celeste" not in page
    assert "Your library is empty" in visitor(app, make_user, "other").get("/library").get_data(as_text=True)


# --- after the PAID commit -----------------------------------------------------------------------------------------

def test_the_buyer_gets_an_html_receipt_by_email_through_rq(app, outbox, bought):
    shopper, public_id, _ = bought
    assert outbox.messages() == []  # nothing is sent inside the request: it goes through RQ
    (mail,) = [m for m in outbox.deliver() if "receipt" in m["subject"]]
    assert shopper.user.email in mail["to"] and mail["subject"] == "Your Playcation receipt: Hades"
    assert "<table" in mail["html"] and "Hades" in mail["html"] and "₩24,000" in mail["html"]
    assert public_id in mail["html"] and "Zagreus" in mail["html"]
    assert "Total paid: ₩24,000" in mail["text"]


def test_no_receipt_for_an_order_that_was_not_paid(app, outbox, make_user):
    shopper = Shopper(app, make_user())
    shopper.add(new_game(app))
    public_id = shopper.checkout()
    shopper.browser.get(shopper.sandbox(public_id, "decline").headers["Location"])
    assert [m for m in outbox.deliver() if "receipt" in m["subject"]] == []


def test_the_buyer_is_notified(app, bought):
    shopper, public_id, _ = bought
    assert count(app, Notification, Notification.user_id == shopper.user.id, Notification.kind == "order_paid") == 1
    link = scalar(app, select(Notification.link).where(Notification.user_id == shopper.user.id))
    params = scalar(app, select(Notification.params).where(Notification.user_id == shopper.user.id))
    assert link == f"/orders/{public_id}" and params == {"title": "Hades", "more": 0, "total": 24000}
    page = shopper.browser.get("/notifications").get_data(as_text=True)  # written when read, in English here
    assert "Payment received: Hades (₩24,000)" in page


def test_the_sales_counter_counts_each_paid_copy(app, make_user, bought):
    _, _, game_id = bought
    Shopper(app, make_user()).buy(game_id)
    assert scalar(app, select(Game.sales_count).where(Game.id == game_id)) == 2


@pytest.mark.skipif(importlib.util.find_spec("shop.catalog.rankings") is None,
                    reason="shop/catalog/rankings.py is not there yet")
def test_the_top_sellers_ranking_hears_of_each_sale(app, bought, monkeypatch):
    from shop.catalog import rankings

    shopper, public_id, game_id = bought
    sales = []
    monkeypatch.setattr(rankings, "record_sale", lambda game, *args, **kwargs: sales.append(game))
    run_jobs(app)
    assert sales == [game_id]
