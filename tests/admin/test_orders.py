"""Admin orders: search, the full order page, refunds through the buyer's own refund path."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.catalog.models import Game
from shop.orders.models import Order, SandboxPayment

from ..support.orders import (Shopper, library_of, new_game, order_snapshot, paid_order, payment_events, scalar,
                               set_order)

REASON = "Duplicate purchase, buyer asked support"


@pytest.fixture
def buyer(make_user):
    return make_user(email="zag@example.com", nickname="Zagreus")


@pytest.fixture
def paid(app, buyer):
    """A paid sandbox order for Hades (₩24,000): (order id, public id, game id)."""
    game_id = new_game(app, "Hades", price=24000)
    public_id = paid_order(app, buyer.id, game_id)
    return order_snapshot(app, public_id).id, public_id, game_id


# --- who may -----------------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/admin/orders", None, 200),
    ("GET", "/admin/orders/{id}", None, 200),
    ("POST", "/admin/orders/{id}/refund", {"reason": REASON}, 302),
]


@pytest.mark.parametrize("who", ["anonymous", "customer", "publisher", "admin"])
@pytest.mark.parametrize("method,url,data,admin_status", ROUTES)
def test_only_admins_reach_order_admin(app, login_as, paid, buyer, audit_rows, who, method, url, data,
                                       admin_status):
    order_id, public_id, game_id = paid
    browser = login_as(who)
    url = url.format(id=order_id)
    res = browser.get(url) if method == "GET" else browser.post(url, data)
    assert res.status_code == {"anonymous": 302, "customer": 403, "publisher": 403, "admin": admin_status}[who]
    if who == "anonymous":
        assert res.headers["Location"].startswith("/login?next=")
    if who != "admin":
        assert order_snapshot(app, public_id).status == "PAID" and library_of(app, buyer.id) == [game_id]
        assert audit_rows() == []


def test_the_buyer_cannot_use_the_admin_refund_either(app, paid, buyer, audit_rows):
    order_id, public_id, _ = paid
    shopper = Shopper(app, buyer)
    assert shopper.browser.post(f"/admin/orders/{order_id}/refund", {"reason": REASON}).status_code == 403
    assert order_snapshot(app, public_id).status == "PAID" and audit_rows() == []


def test_a_refund_needs_the_csrf_token(app, admin_browser, paid, buyer, audit_rows):
    order_id, public_id, game_id = paid
    assert admin_browser.post(f"/admin/orders/{order_id}/refund", {"reason": REASON}, csrf=False).status_code == 400
    assert order_snapshot(app, public_id).status == "PAID" and library_of(app, buyer.id) == [game_id]
    assert payment_events(app, public_id) == [] and audit_rows() == []


@pytest.mark.parametrize("method,url", [("GET", "/admin/orders/987654"), ("POST", "/admin/orders/987654/refund"),
                                        ("GET", "/admin/orders/not-a-number")])
def test_an_unknown_order_is_404(admin_browser, method, url):
    res = admin_browser.get(url) if method == "GET" else admin_browser.post(url, {"reason": REASON})
    assert res.status_code == 404


# --- search --------------------------------------------------------------------------------------------

def ids_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="order-(\d+)">', page)]


def test_search_by_public_id_number_or_email_and_status_newest_first(app, admin_browser, paid, buyer, make_user):
    order_id, public_id, game_id = paid
    other = make_user(email="mel@example.com")
    second = order_snapshot(app, paid_order(app, other.id, new_game(app, "Celeste", price=22000))).id
    set_order(app, public_id, created_at=order_snapshot(app, public_id).created_at - timedelta(hours=1))
    assert ids_on(admin_browser.page("/admin/orders")) == [second, order_id]  # newest first
    assert ids_on(admin_browser.page(f"/admin/orders?q={public_id[:8]}")) == [order_id]
    assert ids_on(admin_browser.page(f"/admin/orders?q={public_id.upper()}")) == [order_id]
    assert order_id in ids_on(admin_browser.page(f"/admin/orders?q={order_id}"))
    assert ids_on(admin_browser.page("/admin/orders?q=ZAG@")) == [order_id]
    set_order(app, public_id, status="REFUNDED")
    assert ids_on(admin_browser.page("/admin/orders?status=REFUNDED")) == [order_id]
    assert ids_on(admin_browser.page("/admin/orders?status=PAID")) == [second]
    page = admin_browser.page("/admin/orders")
    assert "₩24,000" in page and "zag@example.com" in page and 'status-refunded">Refunded' in page
    assert admin_browser.get("/admin/orders?status=LOST").status_code == 400


def test_the_order_page_shows_lines_amounts_discounts_events_and_grants(app, admin_browser, paid):
    order_id, public_id, _ = paid
    set_order(app, public_id, subtotal=24000, discount=2400, total=21600,
              discounts=[{"kind": "coupon", "label": "Spring coupon 10%", "amount": 2400, "ref": "C-7"}])
    page = admin_browser.page(f"/admin/orders/{order_id}")
    assert public_id in page and "zag@example.com" in page and "Hades" in page
    assert "₩24,000" in page and "Spring coupon 10%" in page and "−₩2,400" in page and "₩21,600" in page
    assert "No gateway calls recorded." in page and "Refund ₩21,600" in page
    assert re.search(r"<td>Hades</td><td>[^<]+ 2\d\d\d, [^<]+</td><td>—</td>", page)  # granted, not revoked


# --- refunds --------------------------------------------------------------------------------------------------

def test_an_admin_refund_goes_through_the_sandbox_and_revokes_the_games(app, admin_browser, paid, buyer,
                                                                        audit_rows):
    order_id, public_id, game_id = paid
    res = admin_browser.post(f"/admin/orders/{order_id}/refund", {"reason": REASON})
    assert res.status_code == 302 and res.headers["Location"] == f"/admin/orders/{order_id}"
    assert "Refunded. The games were removed from the buyer's library." in admin_browser.flashes()
    order = order_snapshot(app, public_id)
    assert order.status == "REFUNDED" and order.refunded_at is not None
    # the refund semantics of the buyer's own path: cancelled at the gateway, grants revoked not deleted
    assert payment_events(app, public_id) == [("cancel", "ok", None)]
    assert scalar(app, select(SandboxPayment.status).where(SandboxPayment.order_public_id == public_id)) == "CANCELED"
    assert library_of(app, buyer.id) == [] and library_of(app, buyer.id, include_revoked=True) == [game_id]
    assert scalar(app, select(Game.sales_count).where(Game.id == game_id)) == 0
    [row] = audit_rows()
    assert (row.action, row.target_type, row.target_id, row.target_label, row.note) == (
        "order.refund", "order", str(order_id), public_id, REASON)
    assert (row.before, row.after) == ({"status": "PAID"}, {"status": "REFUNDED"})
    page = admin_browser.page(f"/admin/orders/{order_id}")
    assert 'status-refunded">Refunded' in page and "order.refund" in page and "Refund ₩" not in page
    # again: refused clearly, nothing more happens
    admin_browser.post(f"/admin/orders/{order_id}/refund", {"reason": REASON})
    assert "This order was already refunded." in admin_browser.flashes()
    assert len(payment_events(app, public_id)) == 1 and len(audit_rows()) == 1


@pytest.mark.parametrize("reason,message", [("", "Give a reason."), ("why", "A reason is 5–300 characters."),
                                            ("x" * 301, "A reason is 5–300 characters.")])
def test_a_refund_needs_a_reason(app, admin_browser, paid, buyer, audit_rows, reason, message):
    order_id, public_id, game_id = paid
    res = admin_browser.post(f"/admin/orders/{order_id}/refund", {"reason": reason})
    assert res.status_code == 400 and message in res.get_data(as_text=True)
    assert order_snapshot(app, public_id).status == "PAID" and library_of(app, buyer.id) == [game_id]
    assert payment_events(app, public_id) == [] and audit_rows() == []


def test_orders_past_the_window_or_unpaid_are_not_refunded(app, admin_browser, paid, buyer, audit_rows):
    order_id, public_id, game_id = paid
    set_order(app, public_id, paid_at=order_snapshot(app, public_id).paid_at - timedelta(days=15))
    assert "Past the 14-day refund window." in admin_browser.page(f"/admin/orders/{order_id}")
    admin_browser.post(f"/admin/orders/{order_id}/refund", {"reason": REASON})
    assert "can no longer be refunded (refunds are possible for 14 days after purchase)" in admin_browser.flashes()
    set_order(app, public_id, status="PENDING", paid_at=None)
    assert "Only paid orders can be refunded." in admin_browser.page(f"/admin/orders/{order_id}")
    admin_browser.post(f"/admin/orders/{order_id}/refund", {"reason": REASON})
    assert "can no longer be refunded" in admin_browser.flashes()
    assert order_snapshot(app, public_id).status == "PENDING" and library_of(app, buyer.id) == [game_id]
    assert payment_events(app, public_id) == [] and audit_rows() == []


def test_a_gateway_that_is_down_changes_nothing(app, admin_browser, buyer, monkeypatch, audit_rows):
    """A Toss order while Toss cannot be reached: the refund is refused clearly and the
    order, the library and the counters stay as they were."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    for name, value in {"TOSS_API_BASE": f"http://127.0.0.1:{dead}", "TOSS_SECRET_KEY": "test_sk_down",
                        "TOSS_TIMEOUT": 1}.items():
        monkeypatch.setitem(app.config, name, value)
    game_id = new_game(app, "Hades", price=24000)
    public_id = paid_order(app, buyer.id, game_id)
    set_order(app, public_id, gateway="toss", payment_key="tgen_down_123")
    order_id = order_snapshot(app, public_id).id
    res = admin_browser.post(f"/admin/orders/{order_id}/refund", {"reason": REASON})
    assert res.status_code == 302
    flashed = admin_browser.flashes()
    assert "The refund could not be processed" in flashed and "Nothing changed" in flashed
    order = order_snapshot(app, public_id)
    assert (order.status, order.refunded_at) == ("PAID", None)
    assert library_of(app, buyer.id) == [game_id]
    assert scalar(app, select(Game.sales_count).where(Game.id == game_id)) == 1
    assert payment_events(app, public_id) == [("cancel", "error", "NETWORK_ERROR")]  # the attempt is on record
    assert audit_rows() == []
    assert scalar(app, select(Order.status).where(Order.id == order_id)) == "PAID"
