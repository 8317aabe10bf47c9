"""Checkout: server-side prices, the PENDING order snapshot, one open checkout per
buyer, the sandbox gateway's approve / decline / close flows, the amount check,
expiry, and the extension points coupons and points plug into."""
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shop.catalog.models import Game
from shop.extensions import db
from shop.cart import pricing
from shop.orders import hooks, services
from shop.orders.models import SandboxPayment
from shop.library.models import LibraryEntry
from shop.cart.pricing import Discount
from shop.timeutil import utcnow

from ..support.orders import (Shopper, count, grant, library_of, new_game, order_snapshot, orders_of, payment_events,
                       query_of, scalar, set_order, success_url)
from .toss_server import toss  # noqa: F401  (fixture)


@pytest.fixture
def shopper(app, make_user):
    return Shopper(app, make_user())


def set_game(app, game_id, **values):
    with app.app_context():
        db.session.execute(update(Game).where(Game.id == game_id).values(**values))
        db.session.commit()


# --- prices ---------------------------------------------------------------------------------

def test_checkout_page_shows_the_prices_that_will_be_charged(app, shopper):
    now = utcnow()
    on_sale = new_game(app, "Hades", price=24000, sale_price=18000, sale_starts_at=now - timedelta(days=1),
                       sale_ends_at=now + timedelta(days=1))
    regular = new_game(app, "Celeste", price=22000)
    shopper.add(on_sale)
    shopper.add(regular)
    page = shopper.browser.get("/checkout").get_data(as_text=True)
    assert re.search(r"Hades</td>\s*<td class=\"num\"><s class=\"muted\">₩24,000</s> ₩18,000", page)
    assert re.search(r"Celeste</td>\s*<td class=\"num\">₩22,000", page)
    assert "To pay</span><strong>₩40,000" in page and "Pay ₩40,000" in page
    assert 'name="coupon"' in page and 'name="points"' in page  # the slots coupons and points fill


def test_sale_prices_are_resolved_on_the_server_when_the_order_is_created(app, shopper):
    now = utcnow()
    game_id = new_game(app, "Hades", price=24000, sale_price=18000, sale_starts_at=now + timedelta(hours=1),
                       sale_ends_at=now + timedelta(days=2))
    shopper.add(game_id)
    assert "Pay ₩24,000" in shopper.browser.get("/checkout").get_data(as_text=True)
    set_game(app, game_id, sale_starts_at=now - timedelta(minutes=1))  # the sale starts meanwhile
    public_id = shopper.checkout()
    order = order_snapshot(app, public_id)
    assert (order.subtotal, order.discount, order.total) == (18000, 0, 18000)
    line = order.lines[0]
    assert (line.title, line.list_price, line.price) == ("Hades", 24000, 18000)
    # and the other way round: a sale that ended is not charged
    set_game(app, game_id, sale_ends_at=now - timedelta(seconds=1))
    assert order_snapshot(app, shopper.checkout()).total == 24000


def test_a_pending_order_has_a_uuid_and_an_amount_snapshot(app, shopper):
    game_id = new_game(app, "Celeste", price=22000)
    shopper.add(game_id)
    public_id = shopper.checkout()
    assert uuid.UUID(public_id).version == 4
    order = order_snapshot(app, public_id)
    assert order.status == "PENDING" and order.gateway == "sandbox" and order.payment_key is None
    assert (order.subtotal, order.total) == (22000, 22000)
    assert timedelta(minutes=29) < order.expires_at - utcnow() <= timedelta(minutes=30)
    set_game(app, game_id, price=99000, title="Celeste Deluxe")  # the catalog changes afterwards
    order = order_snapshot(app, public_id)
    assert order.total == 22000 and order.lines[0].title == "Celeste"
    page = shopper.browser.get(f"/sandbox/pay/{public_id}").get_data(as_text=True)
    assert "₩22,000" in page and public_id in page
    res = shopper.sandbox(public_id, "approve")
    assert query_of(res.headers["Location"])["amount"] == "22000"


def test_an_empty_cart_cannot_be_checked_out(app, shopper):
    res = shopper.browser.get("/checkout")
    assert res.status_code == 302 and res.headers["Location"] == "/cart"
    res = shopper.browser.post("/checkout")
    assert res.status_code == 302 and "Your cart is empty." in shopper.flashes()
    assert orders_of(app, shopper.user.id) == []


def test_checkout_refuses_delisted_and_owned_games(app, shopper):
    gone, owned = new_game(app, "Gone Home"), new_game(app, "Owned Game")
    shopper.add(gone)
    set_game(app, gone, status="delisted")
    shopper.browser.post("/checkout")
    assert "No longer for sale: Gone Home" in shopper.flashes()
    shopper.remove(gone)
    shopper.add(owned)
    grant(app, shopper.user.id, owned)
    shopper.browser.post("/checkout")
    assert "You already own Owned Game" in shopper.flashes()
    assert [s for _, s in orders_of(app, shopper.user.id) if s == "PENDING"] == []


def test_checkout_needs_the_csrf_token(app, shopper):
    shopper.add(new_game(app))
    assert shopper.browser.post("/checkout", csrf=False).status_code == 400
    assert orders_of(app, shopper.user.id) == []


# --- one open checkout ---------------------------------------------------------------------------

def test_a_second_checkout_cancels_the_first(app, shopper):
    shopper.add(new_game(app))
    first = shopper.checkout()
    second = shopper.checkout()
    assert orders_of(app, shopper.user.id) == [(first, "CANCELLED"), (second, "PENDING")]
    assert order_snapshot(app, first).failure_code == "REPLACED"
    # the first payment window is dead: approving there charges nothing
    res = shopper.sandbox(first, "approve")
    assert res.headers["Location"] == f"/orders/{first}"
    assert "This payment window has expired." in shopper.flashes()
    assert count(app, SandboxPayment, SandboxPayment.order_public_id == first) == 0
    # and a success redirect for it (a payment approved just before) is refused
    res = shopper.browser.get(success_url("sandbox_forged", first, order_snapshot(app, first).total))
    assert res.headers["Location"] == f"/orders/{first}"
    assert "A newer checkout replaced this one. Nothing was charged." in shopper.flashes()
    assert order_snapshot(app, first).status == "CANCELLED"


# --- the sandbox gateway ------------------------------------------------------------------------------

def test_sandbox_approve_pays_grants_and_empties_the_cart(app, shopper):
    game_id = new_game(app, "Hades", price=24000)
    public_id = shopper.buy(game_id)
    assert "Payment complete" in shopper.flashes()
    order = order_snapshot(app, public_id)
    assert order.status == "PAID" and order.paid_at is not None and order.payment_key.startswith("sandbox_")
    assert library_of(app, shopper.user.id) == [game_id]
    assert "Your cart is empty" in shopper.browser.get("/cart").get_data(as_text=True)
    assert payment_events(app, public_id) == [("confirm", "ok", None)]
    assert scalar(app, select(SandboxPayment.status).where(SandboxPayment.order_public_id == public_id)) == "DONE"


def test_a_refreshed_success_url_confirms_once(app, shopper):
    shopper.add(new_game(app))
    public_id = shopper.checkout()
    success = shopper.sandbox(public_id, "approve").headers["Location"]
    for _ in range(3):
        res = shopper.browser.get(success)
        assert res.status_code == 302 and res.headers["Location"] == f"/orders/{public_id}"
    assert payment_events(app, public_id) == [("confirm", "ok", None)]
    assert count(app, LibraryEntry, LibraryEntry.user_id == shopper.user.id) == 1


def test_sandbox_decline_fails_the_order_and_keeps_the_cart(app, shopper):
    game_id = new_game(app, "Hades")
    shopper.add(game_id)
    public_id = shopper.checkout()
    res = shopper.sandbox(public_id, "decline")
    fail = query_of(res.headers["Location"])
    assert fail == {"code": "REJECT_CARD_PAYMENT", "message": "The card was declined (sandbox).", "orderId": public_id}
    res = shopper.browser.get(res.headers["Location"])
    assert res.headers["Location"] == "/cart"
    assert "did not go through: The card was declined (sandbox). Nothing was charged." in shopper.flashes()
    order = order_snapshot(app, public_id)
    assert (order.status, order.failure_code) == ("FAILED", "REJECT_CARD_PAYMENT")
    assert library_of(app, shopper.user.id) == []
    assert "Hades" in shopper.browser.get("/cart").get_data(as_text=True)


def test_closing_the_sandbox_window_cancels_the_order(app, shopper):
    shopper.add(new_game(app))
    public_id = shopper.checkout()
    res = shopper.browser.get(shopper.sandbox(public_id, "close").headers["Location"])
    assert res.headers["Location"] == "/cart"
    assert "Payment cancelled. Your cart is still here." in shopper.flashes()
    order = order_snapshot(app, public_id)
    assert (order.status, order.failure_code) == ("CANCELLED", "PAY_PROCESS_CANCELED")


def test_a_stale_fail_url_does_not_touch_a_paid_order(app, shopper):
    public_id = shopper.buy(new_game(app))
    shopper.flashes()
    res = shopper.browser.get(f"/checkout/fail?code=PAY_PROCESS_CANCELED&message=closed&orderId={public_id}")
    assert res.headers["Location"] == f"/orders/{public_id}"
    assert order_snapshot(app, public_id).status == "PAID"
    assert "cancelled" not in shopper.flashes().lower()


# --- the amount check ---------------------------------------------------------------------------------

def test_amount_mismatch_fails_the_order_and_toss_confirm_is_never_called(app, shopper, toss):
    shopper.add(new_game(app, price=22000))
    public_id = shopper.checkout()
    payment_key = toss.authorize(public_id, 22000)
    res = shopper.return_from_toss(payment_key, public_id, 100)  # a tampered redirect
    assert res.headers["Location"] == f"/orders/{public_id}"
    assert "did not match the order. Nothing was charged." in shopper.flashes()
    order = order_snapshot(app, public_id)
    assert (order.status, order.failure_code) == ("FAILED", "AMOUNT_MISMATCH")
    # even the right amount afterwards cannot revive it
    res = shopper.return_from_toss(payment_key, public_id, 22000)
    assert order_snapshot(app, public_id).status == "FAILED"
    assert toss.calls_to("POST", "/v1/payments/confirm") == [] and toss.confirm_effects() == 0
    assert toss.payment_for(public_id)["status"] == "IN_PROGRESS"
    assert library_of(app, shopper.user.id) == []


def test_amount_mismatch_with_the_sandbox_confirms_nothing(app, shopper):
    shopper.add(new_game(app, price=22000))
    public_id = shopper.checkout()
    query = query_of(shopper.sandbox(public_id, "approve").headers["Location"])
    shopper.browser.get(success_url(query["paymentKey"], public_id, 1))
    assert order_snapshot(app, public_id).status == "FAILED"
    assert scalar(app, select(SandboxPayment.status).where(SandboxPayment.order_public_id == public_id)) == "READY"
    assert payment_events(app, public_id) == []


@pytest.mark.parametrize("query", ["paymentKey=k&orderId={id}", "paymentKey=k&orderId={id}&amount=abc",
                                   "orderId={id}&amount=1000"])
def test_a_malformed_success_redirect_is_400(app, shopper, query):
    shopper.add(new_game(app))
    public_id = shopper.checkout()
    assert shopper.browser.get("/checkout/success?" + query.format(id=public_id)).status_code == 400
    assert order_snapshot(app, public_id).status == "PENDING"


def test_a_game_bought_elsewhere_meanwhile_is_not_charged_again(app, shopper):
    game_id = new_game(app)
    shopper.add(game_id)
    public_id = shopper.checkout()
    grant(app, shopper.user.id, game_id)  # e.g. a gift, or another order that was paid first
    res = shopper.browser.get(shopper.sandbox(public_id, "approve").headers["Location"])
    assert res.headers["Location"] == f"/orders/{public_id}"
    assert "You already own these games. Nothing was charged." in shopper.flashes()
    assert order_snapshot(app, public_id).status == "FAILED"
    assert scalar(app, select(SandboxPayment.status).where(SandboxPayment.order_public_id == public_id)) == "READY"


# --- expiry --------------------------------------------------------------------------------------------

def test_expired_pending_orders_are_cancelled_by_the_job(app, make_user, hook_calls):
    old, fresh = Shopper(app, make_user()), Shopper(app, make_user())
    for shopper in (old, fresh):
        shopper.add(new_game(app))
    stale, current = old.checkout(), fresh.checkout()
    set_order(app, stale, expires_at=utcnow() - timedelta(minutes=1))
    with app.app_context():
        from shop.orders.tasks import expire_orders

        assert expire_orders() == 1
        assert services.expire_pending() == 0  # nothing left to do
    order = order_snapshot(app, stale)
    assert (order.status, order.failure_code) == ("CANCELLED", "EXPIRED")
    assert ("released", order.id) in hook_calls  # what the order held (coupon, points) goes back
    assert order_snapshot(app, current).status == "PENDING"
    # a payment approved too late is refused and nothing is confirmed
    res = old.browser.get(success_url("sandbox_late", stale, order.total))
    assert res.headers["Location"] == f"/orders/{stale}"
    assert "Checkout expired. Nothing was charged." in old.flashes()


# --- extension points for coupons and points ----------------------------------------------------------------

@pytest.fixture
def hook_calls():
    """Register a callable on every order hook for one test, then take them off again."""
    calls = []

    def on_reserved(order, quote):
        calls.append(("reserved", order.id, quote.total))

    def on_released(order_id):
        calls.append(("released", order_id))

    def on_paid(order):
        # runs inside the PAID transaction: the grants are there, uncommitted, in the same session
        grants = db.session.scalar(select(db.func.count()).select_from(LibraryEntry)
                                   .where(LibraryEntry.order_id == order.id))
        calls.append(("paid", order.id, order.status, grants))

    def on_refunded(order):
        calls.append(("refunded", order.id, order.status))

    registered = [(hooks.ON_RESERVED, on_reserved), (hooks.ON_RELEASED, on_released),
                  (hooks.ON_PAID, on_paid), (hooks.ON_REFUNDED, on_refunded)]
    for hook_list, fn in registered:
        hook_list.append(fn)
    try:
        yield calls
    finally:
        for hook_list, fn in registered:
            hook_list.remove(fn)


def test_hooks_see_an_order_reserved_released_paid_and_refunded(app, shopper, hook_calls):
    shopper.add(new_game(app, price=22000))
    replaced = shopper.checkout()
    declined = shopper.checkout()
    shopper.browser.get(shopper.sandbox(declined, "decline").headers["Location"])
    paid = shopper.checkout()
    shopper.browser.get(shopper.sandbox(paid, "approve").headers["Location"])
    shopper.browser.post(f"/orders/{paid}/refund")
    r, d, p = (order_snapshot(app, i).id for i in (replaced, declined, paid))
    assert hook_calls == [
        ("reserved", r, 22000),
        ("released", r), ("reserved", d, 22000),
        ("released", d),
        ("reserved", p, 22000),
        ("paid", p, "PAID", 1),
        ("refunded", p, "REFUNDED"),
    ]


def test_a_reservation_hook_can_refuse_the_checkout(app, shopper):
    shopper.add(new_game(app))
    first = shopper.checkout()

    def coupon_taken(order, quote):
        raise services.CheckoutError("Coupon WELCOME was already used.")

    hooks.ON_RESERVED.append(coupon_taken)
    try:
        res = shopper.browser.post("/checkout")
    finally:
        hooks.ON_RESERVED.remove(coupon_taken)
    assert res.headers["Location"] == "/cart"
    assert "Coupon WELCOME was already used." in shopper.flashes()
    assert orders_of(app, shopper.user.id) == [(first, "PENDING")]  # nothing changed, not even the old order


@pytest.fixture
def discount_providers(monkeypatch):
    """Only the providers a test plugs in, for that test: the real coupon and points
    providers (tested with their own domains) read the same form fields."""
    monkeypatch.setattr(pricing, "DISCOUNT_PROVIDERS", [])

    def plug(name, provider):
        pricing.DISCOUNT_PROVIDERS.append((name, provider))

    return plug


def test_a_discount_provider_changes_the_total_and_the_amount_charged(app, shopper, toss, discount_providers):
    # kinds of their own: the real coupon and points hooks act on "coupon" and "points" lines
    seen_options = []

    def bonus(quote, user, options):
        return Discount("bonus", "Launch bonus", 3000, ref=f"user:{user.id}")

    def coupon(quote, user, options):
        seen_options.append(dict(options))
        if options.get("coupon") == "WELCOME":
            return Discount("voucher", "Welcome voucher", 5000, ref="WELCOME")
        return None

    discount_providers("bonus", bonus)
    discount_providers("voucher", coupon)
    shopper.add(new_game(app, price=22000))
    page = shopper.browser.get("/checkout").get_data(as_text=True)
    assert "Launch bonus</span><span>−₩3,000" in page and "Pay ₩19,000" in page

    res = shopper.browser.post("/checkout", {"coupon": "WELCOME"})
    public_id = re.search(r'"orderId": "([0-9a-f-]{36})"', res.get_data(as_text=True)).group(1)
    assert "\"amount\": 14000" in res.get_data(as_text=True)
    assert seen_options[-1] == {"coupon": "WELCOME"}
    order = order_snapshot(app, public_id)
    assert (order.subtotal, order.discount, order.total) == (22000, 8000, 14000)
    assert order.discounts == [
        {"kind": "bonus", "label": "Launch bonus", "amount": 3000, "ref": f"user:{shopper.user.id}"},
        {"kind": "voucher", "label": "Welcome voucher", "amount": 5000, "ref": "WELCOME"},
    ]

    payment_key = toss.authorize(public_id, 14000)
    shopper.return_from_toss(payment_key, public_id, 14000)
    assert order_snapshot(app, public_id).status == "PAID"
    (confirm,) = toss.calls_to("POST", "/v1/payments/confirm")
    assert confirm.body["amount"] == 14000 and toss.effects[0].amount == 14000
    receipt = shopper.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert "Welcome voucher" in receipt and "₩14,000" in receipt


def test_discounts_never_take_the_total_below_zero_and_a_free_order_needs_no_gateway(
        app, shopper, toss, discount_providers):
    discount_providers("bonus", lambda quote, user, options: Discount("bonus", "A huge bonus", 1_000_000))
    game_id = new_game(app, price=22000)
    shopper.add(game_id)
    res = shopper.browser.post("/checkout")
    order = order_snapshot(app, user_id=shopper.user.id)
    assert res.headers["Location"] == f"/orders/{order.public_id}"
    assert (order.subtotal, order.discount, order.total, order.status) == (22000, 22000, 0, "PAID")
    assert library_of(app, shopper.user.id) == [game_id]
    assert toss.calls == []
    shopper.browser.post(f"/orders/{order.public_id}/refund")  # and its refund needs none either
    assert order_snapshot(app, order.public_id).status == "REFUNDED" and toss.calls == []
