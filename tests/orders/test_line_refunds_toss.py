"""Per-game refunds against the local Toss server (toss_server.py): the partial cancel
carries `cancelAmount` and the line's own idempotency key, Toss's balance follows,
a failure or an unknown outcome changes nothing, and (PostgreSQL) two clicks at once
on one game cancel once, and the last two games refunded at once refund the order."""
import pytest
from sqlalchemy import select

from shop.catalog.models import Game
from shop.orders.models import Order, OrderLine

from tests.support.env import DATABASE_URL
from ..support.orders import Shopper, library_of, new_game, order_snapshot, payment_events, scalar
from .test_concurrency import at_once, committed  # noqa: F401  (fixture)
from .test_line_refunds import lines_of, refund_line
from .toss_server import toss  # noqa: F401  (fixture)

postgres_only = pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"),
                                   reason="needs PostgreSQL: SQLite serialises every writer, so there is no race")


def buy_through_toss(app, shopper, toss, *games) -> tuple[str, str]:
    for game_id in games:
        assert shopper.add(game_id).status_code == 200
    public_id = shopper.checkout()
    total = order_snapshot(app, public_id).total
    payment_key = toss.authorize(public_id, total)
    assert shopper.return_from_toss(payment_key, public_id, total).status_code == 302
    shopper.flashes()
    assert order_snapshot(app, public_id).status == "PAID"
    return public_id, payment_key


@pytest.fixture
def paid_two(app, make_user, toss):
    shopper = Shopper(app, make_user())
    celeste, hades = new_game(app, "Celeste", price=22000), new_game(app, "Hades", price=24000)
    public_id, payment_key = buy_through_toss(app, shopper, toss, celeste, hades)
    celeste_line, hades_line = lines_of(app, public_id)
    return shopper, public_id, payment_key, celeste_line, hades_line


def test_refunding_one_game_is_a_partial_cancel_at_toss(app, paid_two, toss):
    shopper, public_id, payment_key, celeste, hades = paid_two
    res = refund_line(shopper, public_id, hades.id)
    assert res.headers["Location"] == f"/orders/{public_id}"
    assert "Refunded Hades: ₩24,000 goes back to the way you paid." in shopper.flashes()
    (call,) = toss.calls_to("POST", f"/v1/payments/{payment_key}/cancel")
    assert call.body["cancelAmount"] == 24000 and call.body["cancelReason"]
    assert call.header("Idempotency-Key") == f"refund-{public_id}-line-{hades.id}"
    payment = toss.payment_for(public_id)
    assert (payment["status"], payment["balanceAmount"]) == ("PARTIAL_CANCELED", 22000)
    assert [c["cancelAmount"] for c in payment["cancels"]] == [24000]
    assert [(l.status, l.refund_amount) for l in lines_of(app, public_id)] == [("ACTIVE", None), ("REFUNDED", 24000)]
    assert order_snapshot(app, public_id).status == "PAID" and library_of(app, shopper.user.id) == [celeste.game_id]

    # the rest, as a whole-order refund: only what is left is cancelled
    shopper.browser.post(f"/orders/{public_id}/refund")
    assert "Refunded. The games were removed from your library." in shopper.flashes()
    last = toss.calls_to("POST", f"/v1/payments/{payment_key}/cancel")[-1]
    assert last.body["cancelAmount"] == 22000 and last.header("Idempotency-Key") == f"refund-{public_id}"
    payment = toss.payment_for(public_id)
    assert (payment["status"], payment["balanceAmount"]) == ("CANCELED", 0)
    assert toss.cancel_effects() == 2 and sum(e.amount for e in toss.effects if e.kind == "cancel") == 46000
    assert order_snapshot(app, public_id).status == "REFUNDED" and library_of(app, shopper.user.id) == []
    assert [(l.status, l.refund_amount) for l in lines_of(app, public_id)] == [("REFUNDED", 22000),
                                                                               ("REFUNDED", 24000)]


@pytest.mark.parametrize("scenario,message,retry_key", [
    ("cancel_fails", "취소 할 수 없는 결제 입니다.", "refund-{id}-line-{line}-2"),   # a refusal: a new key next time
    ("cancel_error", "내부 시스템 처리 작업이 실패했습니다.", "refund-{id}-line-{line}"),  # unknown: the same key
])
def test_toss_failing_leaves_the_order_unchanged_with_a_clear_message(app, paid_two, toss, scenario, message,
                                                                       retry_key):
    shopper, public_id, payment_key, celeste, hades = paid_two
    toss.scenario(scenario)
    refund_line(shopper, public_id, hades.id)
    flashed = shopper.flashes()
    assert f"The refund could not be processed: {message}" in flashed and "Nothing changed" in flashed
    assert [l.status for l in lines_of(app, public_id)] == ["ACTIVE", "ACTIVE"]
    assert order_snapshot(app, public_id).status == "PAID"
    assert library_of(app, shopper.user.id) == sorted([celeste.game_id, hades.game_id])
    assert scalar(app, select(Game.sales_count).where(Game.id == hades.game_id)) == 1
    assert toss.cancel_effects() == 0 and toss.payment_for(public_id)["balanceAmount"] == 46000
    assert payment_events(app, public_id)[-1][0:2] == ("cancel", "declined" if scenario == "cancel_fails" else "error")

    toss.clear()
    refund_line(shopper, public_id, hades.id)
    assert [l.status for l in lines_of(app, public_id)] == ["ACTIVE", "REFUNDED"] and toss.cancel_effects() == 1
    keys = [c.header("Idempotency-Key") for c in toss.calls_to("POST", rf"/v1/payments/{payment_key}/cancel")]
    assert keys == [f"refund-{public_id}-line-{hades.id}", retry_key.format(id=public_id, line=hades.id)]


def test_toss_unreachable_leaves_the_order_unchanged(app, paid_two, toss, monkeypatch):
    shopper, public_id, payment_key, celeste, hades = paid_two
    toss.stop()  # the server is gone: connection refused
    refund_line(shopper, public_id, hades.id)
    assert "The refund could not be processed" in shopper.flashes()
    assert [l.status for l in lines_of(app, public_id)] == ["ACTIVE", "ACTIVE"]
    assert len(library_of(app, shopper.user.id)) == 2 and toss.cancel_effects() == 0
    toss.start()  # a new port: fixture teardown stops it again


# --- at the same moment (PostgreSQL) ----------------------------------------------------------------------------

@postgres_only
@pytest.mark.no_db_isolation
def test_one_game_refunded_in_several_tabs_at_once_cancels_once(app, toss, committed):  # noqa: F811
    buyer = committed.user()
    games = committed.game("Celeste", 22000), committed.game("Hades", 24000)
    public_id, payment_key = buy_through_toss(app, Shopper(app, buyer), toss, *games)
    hades = lines_of(app, public_id)[1]

    tabs = at_once(app, buyer.id, lambda b: b.post(f"/orders/{public_id}/lines/{hades.id}/refund"))

    assert [status for status, _ in tabs] == [302] * len(tabs)
    for _status, browser in tabs:  # each tab says it is done or under way, never "nothing changed"
        page = browser.get(f"/orders/{public_id}").get_data(as_text=True)
        assert "Refunded Hades" in page or "already under way" in page or "already refunded" in page
        assert "Nothing changed" not in page
    assert toss.cancel_effects() == 1 and toss.payment_for(public_id)["balanceAmount"] == 22000
    assert [l.status for l in lines_of(app, public_id)] == ["ACTIVE", "REFUNDED"]
    assert library_of(app, buyer.id) == [games[0]]
    assert scalar(app, select(Game.sales_count).where(Game.id == games[1])) == 0
    assert order_snapshot(app, public_id).status == "PAID"


@postgres_only
@pytest.mark.no_db_isolation
def test_the_last_two_games_refunded_at_once_refund_the_order(app, toss, committed):  # noqa: F811
    buyer = committed.user()
    games = committed.game("Celeste", 22000), committed.game("Hades", 24000)
    public_id, payment_key = buy_through_toss(app, Shopper(app, buyer), toss, *games)
    line_ids = [line.id for line in lines_of(app, public_id)]
    pending = list(line_ids)

    def press(browser):
        return browser.post(f"/orders/{public_id}/lines/{pending.pop()}/refund")

    tabs = at_once(app, buyer.id, press, n=2)

    assert [status for status, _ in tabs] == [302, 302]
    assert toss.cancel_effects() == 2 and toss.payment_for(public_id)["status"] == "CANCELED"
    assert [l.status for l in lines_of(app, public_id)] == ["REFUNDED", "REFUNDED"]
    order = order_snapshot(app, public_id)
    assert order.status == "REFUNDED" and order.refunded_at is not None
    assert scalar(app, select(Order.status).join(OrderLine, OrderLine.order_id == Order.id)
                  .where(OrderLine.id == line_ids[0])) == "REFUNDED"
