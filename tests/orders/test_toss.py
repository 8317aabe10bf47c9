"""Every Toss Payments path, against the local fake in toss_server.py: confirm, its
failures and unknown outcomes, the reconciler, and refunds (gateway cancel)."""
import base64
import json
import re
from datetime import timedelta

import pytest

from shop.orders import services
from shop.orders.gateways import TossGateway
from shop.timeutil import utcnow

from ..support.orders import Shopper, library_of, new_game, order_snapshot, payment_events, set_order
from .toss_server import TOSS_TIMEOUT, toss  # noqa: F401  (fixture)

CONFIRM = "/v1/payments/confirm"


@pytest.fixture
def shopper(app, make_user):
    return Shopper(app, make_user())


@pytest.fixture
def checked_out(app, shopper, toss):
    """A buyer with a PENDING Toss order for one ₩22,000 game, approved in Toss's window."""
    game_id = new_game(app, "Celeste", price=22000)
    shopper.add(game_id)
    public_id = shopper.checkout()
    payment_key = toss.authorize(public_id, 22000)
    return shopper, public_id, payment_key, game_id


def reconcile(app, **kwargs) -> dict:
    with app.app_context():
        return services.reconcile_in_flight(**kwargs)


def status_of(app, public_id) -> str:
    return order_snapshot(app, public_id).status


def test_the_payment_page_hands_the_order_to_the_toss_sdk(app, shopper, toss):
    shopper.add(new_game(app, "Celeste", price=22000))
    res = shopper.browser.post("/checkout")
    page = res.get_data(as_text=True)
    assert res.status_code == 200
    # The SDK call lives in static/js/toss_pay.js (no inline script: CSP); the page hands
    # it the payment as JSON.
    data = json.loads(re.search(r'<script type="application/json" id="toss-payment">(.*?)</script>', page, re.S).group(1))
    assert data["clientKey"] == "test_ck_playcation_fake" and data["amount"] == 22000
    assert data["successUrl"] == "http://localhost/checkout/success"
    assert data["failUrl"] == "http://localhost/checkout/fail"
    assert 'src="https://js.tosspayments.com/v1/payment"' in page and "js/toss_pay.js" in page
    assert toss.calls == []  # nothing is sent to Toss before the buyer approves


def test_success_confirms_once_with_basic_auth_and_an_idempotency_key(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    res = shopper.return_from_toss(payment_key, public_id, 22000)
    assert res.status_code == 302 and res.headers["Location"] == f"/orders/{public_id}"
    assert "Payment complete" in shopper.flashes()

    (call,) = toss.calls_to("POST", CONFIRM)
    secret = app.config["TOSS_SECRET_KEY"]
    assert call.header("Authorization") == "Basic " + base64.b64encode(f"{secret}:".encode()).decode()
    assert call.header("Idempotency-Key") == f"confirm-{public_id}"
    assert call.header("Content-Type") == "application/json"
    assert call.body == {"paymentKey": payment_key, "orderId": public_id, "amount": 22000}

    order = order_snapshot(app, public_id)
    assert (order.status, order.payment_key) == ("PAID", payment_key)
    assert toss.confirm_effects() == 1 and toss.payment_for(public_id)["status"] == "DONE"
    assert library_of(app, shopper.user.id) == [game_id]
    # a refresh of the success page: no second call, nothing changes
    assert shopper.return_from_toss(payment_key, public_id, 22000).headers["Location"] == f"/orders/{public_id}"
    assert len(toss.calls_to("POST", CONFIRM)) == 1 and toss.confirm_effects() == 1
    assert payment_events(app, public_id) == [("confirm", "ok", None)]


def test_a_rejected_card_fails_the_order_with_tosss_message(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    toss.scenario("reject_card", payment_key)
    res = shopper.return_from_toss(payment_key, public_id, 22000)
    assert res.headers["Location"] == f"/orders/{public_id}"
    assert "한도초과 혹은 잔액부족으로 결제에 실패했습니다. Nothing was charged." in shopper.flashes()
    order = order_snapshot(app, public_id)
    assert (order.status, order.failure_code) == ("FAILED", "REJECT_CARD_PAYMENT")
    assert toss.confirm_effects() == 0 and library_of(app, shopper.user.id) == []
    assert "Celeste" in shopper.browser.get("/cart").get_data(as_text=True)  # free to try another card
    receipt = shopper.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert "Failed" in receipt and "한도초과" in receipt


def test_a_500_leaves_the_order_awaiting_until_the_reconciler_confirms(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    toss.scenario("server_error")
    res = shopper.return_from_toss(payment_key, public_id, 22000)
    pending = res.get_data(as_text=True)
    assert res.status_code == 202 and "Confirming your payment" in pending
    assert f'hx-get="/orders/{public_id}" hx-trigger="every 5s"' in pending  # the page settles itself
    assert status_of(app, public_id) == "AWAITING_CONFIRMATION"
    assert library_of(app, shopper.user.id) == []
    receipt = shopper.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert "waiting for the payment service" in receipt and 'hx-trigger="every 5s"' in receipt
    # the success page again while it is being settled: no new confirm, still waiting
    assert shopper.return_from_toss(payment_key, public_id, 22000).status_code == 202
    assert len(toss.calls_to("POST", CONFIRM)) == 1

    assert reconcile(app) == {"paid": 0, "failed": 0, "waiting": 1}  # Toss still failing
    assert status_of(app, public_id) == "AWAITING_CONFIRMATION" and toss.confirm_effects() == 0

    toss.clear("confirm")
    assert reconcile(app) == {"paid": 1, "failed": 0, "waiting": 0}
    assert status_of(app, public_id) == "PAID" and toss.confirm_effects() == 1
    assert library_of(app, shopper.user.id) == [game_id]
    assert 'hx-trigger="every 5s"' not in shopper.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert {c.header("Idempotency-Key") for c in toss.calls_to("POST", CONFIRM)} == {f"confirm-{public_id}"}
    assert reconcile(app) == {"paid": 0, "failed": 0, "waiting": 0}  # nothing left in flight


def test_a_timeout_after_toss_charged_is_settled_by_the_reconciler_with_one_effect(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    toss.scenario("charge_then_hang")
    res = shopper.return_from_toss(payment_key, public_id, 22000)
    assert res.status_code == 202
    assert status_of(app, public_id) == "AWAITING_CONFIRMATION"
    assert toss.confirm_effects() == 1  # the money moved; the answer never arrived
    assert payment_events(app, public_id) == [("confirm", "timeout", "TIMEOUT")]

    assert reconcile(app) == {"paid": 1, "failed": 0, "waiting": 0}  # asks Toss: DONE
    assert status_of(app, public_id) == "PAID" and library_of(app, shopper.user.id) == [game_id]
    assert len(toss.calls_to("POST", CONFIRM)) == 1  # no second confirm was needed
    toss.release()
    toss.wait_idle()
    assert toss.confirm_effects() == 1


def test_a_slow_toss_is_asked_again_with_the_same_key_and_charges_once(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    toss.scenario("slow")  # hangs before doing anything, then goes through
    assert shopper.return_from_toss(payment_key, public_id, 22000).status_code == 202
    assert status_of(app, public_id) == "AWAITING_CONFIRMATION"
    # the reconciler re-confirms while the first request is still inside Toss: 409, keep waiting
    assert reconcile(app) == {"paid": 0, "failed": 0, "waiting": 1}
    assert ("confirm", "error", "IDEMPOTENT_REQUEST_PROCESSING") in payment_events(app, public_id)
    assert status_of(app, public_id) == "AWAITING_CONFIRMATION" and toss.confirm_effects() == 0
    toss.release()
    toss.wait_idle()
    assert toss.confirm_effects() == 1  # the first request went through in the end
    assert reconcile(app) == {"paid": 1, "failed": 0, "waiting": 0}
    assert status_of(app, public_id) == "PAID" and toss.confirm_effects() == 1


def test_already_processed_payment_is_resolved_by_a_status_lookup(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    toss.complete(payment_key)  # confirmed earlier under another key (e.g. an old deploy)
    res = shopper.return_from_toss(payment_key, public_id, 22000)
    assert res.headers["Location"] == f"/orders/{public_id}"
    assert status_of(app, public_id) == "PAID" and library_of(app, shopper.user.id) == [game_id]
    assert payment_events(app, public_id) == [("confirm", "already", "ALREADY_PROCESSED_PAYMENT"),
                                              ("status", "ok", None)]
    (lookup,) = toss.calls_to("GET", f"/v1/payments/orders/{public_id}")
    assert lookup.header("Authorization") == toss.expected_authorization
    assert toss.confirm_effects() == 1


def test_the_idempotency_key_replays_the_first_answer_and_another_key_is_already_processed(app, toss):
    """The fake honours Toss's contract (what the shop's safety rests on)."""
    payment_key = toss.authorize("order-contract-0001", 5000)
    with app.app_context():
        gateway = TossGateway(toss.secret_key, None, toss.url, TOSS_TIMEOUT)
        first = gateway.confirm(payment_key, "order-contract-0001", 5000, "key-1")
        replay = gateway.confirm(payment_key, "order-contract-0001", 5000, "key-1")
        other = gateway.confirm(payment_key, "order-contract-0001", 5000, "key-2")
        wrong = TossGateway("test_sk_wrong", None, toss.url, TOSS_TIMEOUT).status("order-contract-0001")
    assert (first.outcome, first.status, first.amount) == ("ok", "DONE", 5000)
    assert replay.outcome == "ok" and replay.payload == first.payload
    assert (other.outcome, other.code) == ("already", "ALREADY_PROCESSED_PAYMENT")
    assert (wrong.outcome, wrong.code) == ("declined", "UNAUTHORIZED_KEY")
    assert toss.confirm_effects() == 1


def test_an_unknown_payment_key_fails_the_order(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    shopper.return_from_toss("tgen_forged", public_id, 22000)
    order = order_snapshot(app, public_id)
    assert (order.status, order.failure_code) == ("FAILED", "NOT_FOUND_PAYMENT_SESSION")
    assert toss.confirm_effects() == 0


def test_the_reconciler_finishes_an_order_whose_process_died_mid_confirm(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    # the claim was committed, then the worker died before calling Toss
    set_order(app, public_id, status="CONFIRMING", payment_key=payment_key,
              updated_at=utcnow() - timedelta(minutes=5))
    assert reconcile(app) == {"paid": 1, "failed": 0, "waiting": 0}
    assert status_of(app, public_id) == "PAID" and toss.confirm_effects() == 1
    (call,) = toss.calls_to("POST", CONFIRM)
    assert call.header("Idempotency-Key") == f"confirm-{public_id}"


def test_a_fresh_confirming_order_is_left_to_its_request(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    set_order(app, public_id, status="CONFIRMING", payment_key=payment_key)
    assert reconcile(app) == {"paid": 0, "failed": 0, "waiting": 0}
    assert toss.calls == []


def test_the_reconciler_fails_orders_toss_aborted_and_waits_when_toss_is_down(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    toss.scenario("server_error")
    shopper.return_from_toss(payment_key, public_id, 22000)
    toss.scenario("status_error")
    assert reconcile(app) == {"paid": 0, "failed": 0, "waiting": 1}
    toss.clear()
    toss.payments[payment_key]["status"] = "EXPIRED"  # the buyer's authorisation lapsed at Toss
    assert reconcile(app) == {"paid": 0, "failed": 1, "waiting": 0}
    assert status_of(app, public_id) == "FAILED" and toss.confirm_effects() == 0


def test_the_reconciler_runs_as_an_rq_job(app, checked_out, toss):
    from shop.infra.jobs import get_queue
    from shop.orders.tasks import reconcile_payments

    from ..support.browser import run_jobs

    shopper, public_id, payment_key, game_id = checked_out
    toss.scenario("server_error")
    shopper.return_from_toss(payment_key, public_id, 22000)
    toss.clear()
    with app.app_context():
        get_queue().enqueue(reconcile_payments)
    run_jobs(app)
    assert status_of(app, public_id) == "PAID"


def test_checkout_waits_while_a_payment_for_the_same_games_is_in_flight(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    toss.scenario("server_error")
    shopper.return_from_toss(payment_key, public_id, 22000)
    res = shopper.browser.post("/checkout")
    assert res.headers["Location"] == "/cart"
    assert "A payment for Celeste is still being confirmed." in shopper.flashes()
    assert [o.status for o in [order_snapshot(app, user_id=shopper.user.id)]] == ["AWAITING_CONFIRMATION"]


# --- refunds --------------------------------------------------------------------------------------

@pytest.fixture
def paid(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    shopper.return_from_toss(payment_key, public_id, 22000)
    shopper.flashes()
    assert status_of(app, public_id) == "PAID"
    return checked_out


def test_a_refund_cancels_at_toss_once_and_revokes_the_games(app, paid, toss):
    shopper, public_id, payment_key, game_id = paid
    res = shopper.browser.post(f"/orders/{public_id}/refund")
    assert res.headers["Location"] == f"/orders/{public_id}"
    assert "Refunded. The games were removed from your library." in shopper.flashes()
    (call,) = toss.calls_to("POST", f"/v1/payments/{payment_key}/cancel")
    assert call.header("Idempotency-Key") == f"refund-{public_id}"
    assert call.header("Authorization") == toss.expected_authorization
    assert call.body["cancelReason"] and "cancelAmount" not in call.body  # a full cancel
    assert toss.cancel_effects() == 1 and toss.payment_for(public_id)["status"] == "CANCELED"
    order = order_snapshot(app, public_id)
    assert order.status == "REFUNDED" and order.refunded_at is not None
    assert library_of(app, shopper.user.id) == []
    # asking again changes nothing and moves no money
    shopper.browser.post(f"/orders/{public_id}/refund")
    assert "already refunded" in shopper.flashes()
    assert toss.cancel_effects() == 1


@pytest.mark.parametrize("scenario,message,retry_key", [
    # a definite refusal is replayed for the same key, so the retry needs a new one
    ("cancel_fails", "취소 할 수 없는 결제 입니다.", "refund-{id}-2"),
    # an unknown outcome (5xx) is retried with the same key: it must never cancel twice
    ("cancel_error", "내부 시스템 처리 작업이 실패했습니다.", "refund-{id}"),
])
def test_a_failed_cancel_leaves_the_order_unchanged(app, paid, toss, scenario, message, retry_key):
    shopper, public_id, payment_key, game_id = paid
    toss.scenario(scenario)
    res = shopper.browser.post(f"/orders/{public_id}/refund")
    assert res.headers["Location"] == f"/orders/{public_id}"
    flashed = shopper.flashes()
    assert f"The refund could not be processed: {message}" in flashed and "Nothing changed" in flashed
    order = order_snapshot(app, public_id)
    assert (order.status, order.refunded_at) == ("PAID", None)
    assert library_of(app, shopper.user.id) == [game_id]
    assert toss.cancel_effects() == 0
    toss.clear()  # Toss is back: asking again works
    shopper.browser.post(f"/orders/{public_id}/refund")
    assert status_of(app, public_id) == "REFUNDED" and toss.cancel_effects() == 1
    keys = [c.header("Idempotency-Key") for c in toss.calls_to("POST", rf"/v1/payments/{payment_key}/cancel")]
    assert keys == [f"refund-{public_id}", retry_key.format(id=public_id)]


def test_tosss_fail_redirect_fails_the_order_without_calling_toss(app, checked_out, toss):
    shopper, public_id, payment_key, game_id = checked_out
    res = shopper.browser.get(f"/checkout/fail?code=REJECT_CARD_COMPANY&message=카드사에서 거절했습니다&orderId={public_id}")
    assert res.headers["Location"] == "/cart"
    assert "The payment did not go through: 카드사에서 거절했습니다. Nothing was charged." in shopper.flashes()
    order = order_snapshot(app, public_id)
    assert (order.status, order.failure_code) == ("FAILED", "REJECT_CARD_COMPANY")
    assert toss.calls == []
