"""Per-game refunds (docs/refunds.md): one game of a multi-game order refunded on its own,
its share of the coupon and points worked out by the proration rule, the gateway's
partial cancel (the sandbox here; Toss in test_line_refunds_toss.py), the library, the
product key, the counters, the plug-ins and what the buyer is told; who may ask; and the
eligibility rules' registry with a real rule."""
import random
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from shop.catalog.models import Game
from shop.coupons.models import Coupon
from shop.extensions import db
from shop.infra.mail import EmailLog
from shop.infra.mail_render import render_email
from shop.library import keys
from shop.library.models import ProductKey
from shop.loyalty import points
from shop.loyalty.models import VipGrade
from shop.notifications.models import Notification
from shop.orders import proration, refund_rules
from shop.orders.models import Order, OrderLine, SandboxPayment
from shop.timeutil import utcnow
from tests.coupons.test_wallet import coupon_for

from ..support.orders import Shopper, count, library_of, new_game, order_snapshot, scalar, set_order

COUPON, POINTS = 3001, 5003  # odd amounts, so the shares have remainders to place


def lines_of(app, public_id) -> list[SimpleNamespace]:
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.public_id == public_id))
        return [SimpleNamespace(id=l.id, game_id=l.game_id, title=l.title, status=l.status,
                                refund_amount=l.refund_amount, refunded_at=l.refunded_at) for l in order.lines]


def sandbox_payment(app, public_id) -> SimpleNamespace:
    with app.app_context():
        p = db.session.scalar(select(SandboxPayment).where(SandboxPayment.order_public_id == public_id))
        return SimpleNamespace(status=p.status, cancelled=p.cancelled_amount, balance=p.balance)


def balance(app, user_id) -> int:
    with app.app_context():
        assert points.balance(user_id) == points.ledger_balance(user_id)
        return points.balance(user_id)


def sales(app, game_id) -> int:
    return scalar(app, select(Game.sales_count).where(Game.id == game_id))


def refund_line(shopper, public_id, line_id, **kwargs):
    return shopper.browser.post(f"/orders/{public_id}/lines/{line_id}/refund", **kwargs)


@pytest.fixture
def two_games(app, make_user):
    """A GOLD buyer (2% cashback) who paid for Celeste ₩20,000 and Hades ₩10,000 with a
    ₩3,001 coupon and 5,003 points, through checkout and the sandbox gateway."""
    shopper = Shopper(app, make_user(nickname="Madeline"))
    with app.app_context():
        points.earn(shopper.user.id, 10_000, "earn_grade", f"t:bonus:{shopper.user.id}")
        db.session.add(VipGrade(user_id=shopper.user.id, month="2026-10", grade="GOLD", paid_total=200_000))
        db.session.commit()
    coupon_id = coupon_for(app, shopper.user.id, discount_value=COUPON)
    celeste, hades = new_game(app, "Celeste", price=20000), new_game(app, "Hades", price=10000)
    for game_id in (celeste, hades):
        assert shopper.add(game_id).status_code == 200
    res = shopper.browser.post("/checkout", {"coupon": coupon_id, "points": str(POINTS)})
    public_id = res.headers["Location"].rsplit("/", 1)[1]
    res = shopper.browser.get(shopper.sandbox(public_id, "approve").headers["Location"])
    assert res.headers["Location"] == f"/orders/{public_id}"
    shopper.flashes()
    order = order_snapshot(app, public_id)
    assert (order.status, order.total) == ("PAID", 30000 - COUPON - POINTS)
    first, second = lines_of(app, public_id)
    return SimpleNamespace(shopper=shopper, public_id=public_id, coupon_id=coupon_id, celeste=celeste, hades=hades,
                           celeste_line=first.id, hades_line=second.id, user_id=shopper.user.id)


# --- the proration rule ---------------------------------------------------------------------------------------

def fake_order(prices, discounts):
    lines = [SimpleNamespace(id=i + 1, price=p, refunded=False) for i, p in enumerate(prices)]
    return SimpleNamespace(lines=lines, discounts=[{"kind": k, "amount": a} for k, a in discounts])


def test_split_gives_the_leftover_won_to_the_largest_fractions():
    assert proration.split(3001, [20000, 10000]) == [2001, 1000]
    assert proration.split(10, [10, 10, 10]) == [4, 3, 3]  # a tie goes to the earlier line
    assert proration.split(0, [5, 5]) == [0, 0] and proration.split(7, [0, 0]) == [0, 0]
    assert proration.split(99, [3, 4]) == [3, 4]  # never more than the weights


def test_shares_add_up_to_each_discount_and_the_refunds_to_the_total():
    rng = random.Random(19)
    for _ in range(500):
        prices = [rng.choice([0, 1, 990, 4500, 9900, 12000, 22000, 59800]) for _ in range(rng.randint(1, 6))]
        subtotal = sum(prices)
        coupon = rng.randint(0, subtotal)
        spent = rng.randint(0, subtotal - coupon)
        order = fake_order(prices, [("coupon", coupon), ("points", spent)])
        shares = proration.shares(order)
        assert sum(s.discounts["coupon"] for s in shares.values()) == coupon
        assert sum(s.discounts["points"] for s in shares.values()) == spent
        assert sum(s.cash for s in shares.values()) == subtotal - coupon - spent
        assert all(0 <= s.cash <= s.price for s in shares.values())


def test_the_worked_example_of_the_docs():
    shares = proration.shares(fake_order([20000, 10000], [("coupon", COUPON), ("points", POINTS)]))
    assert (shares[1].discounts, shares[1].cash) == ({"coupon": 2001, "points": 3335}, 14664)
    assert (shares[2].discounts, shares[2].cash) == ({"coupon": 1000, "points": 1668}, 7332)


# --- refunding one game ---------------------------------------------------------------------------------------

def test_refunding_one_game_gives_back_its_share_and_keeps_the_other(app, two_games):
    t = two_games
    page = t.shopper.browser.get(f"/orders/{t.public_id}").get_data(as_text=True)
    assert page.count("Refund this game") == 2 and "₩7,332 back" in page and "₩14,664 back" in page
    assert "within 14 days of payment" in page  # the policy, repeated on the order page
    assert balance(app, t.user_id) == 10_000 - POINTS + 439  # 2% of ₩21,996 cashback

    res = refund_line(t.shopper, t.public_id, t.hades_line)
    assert res.status_code == 302 and res.headers["Location"] == f"/orders/{t.public_id}"
    assert "Refunded Hades: ₩7,332 goes back to the way you paid." in t.shopper.flashes()

    celeste, hades = lines_of(app, t.public_id)
    assert (hades.status, hades.refund_amount) == ("REFUNDED", 7332) and hades.refunded_at is not None
    assert (celeste.status, celeste.refund_amount) == ("ACTIVE", None)
    assert order_snapshot(app, t.public_id).status == "PAID"
    assert sandbox_payment(app, t.public_id) == SimpleNamespace(status="PARTIAL_CANCELED", cancelled=7332,
                                                                balance=21996 - 7332)
    assert library_of(app, t.user_id) == [t.celeste]
    assert (sales(app, t.hades), sales(app, t.celeste)) == (0, 1)
    # its 1,668 points back; its 146 of the 439 cashback taken back; the coupon stays with Celeste
    assert balance(app, t.user_id) == 10_000 - POINTS + 439 + 1668 - 146
    assert scalar(app, select(Coupon.status).where(Coupon.id == t.coupon_id)) == "used"
    with app.app_context():
        (notice,) = db.session.scalars(select(Notification).where(
            Notification.user_id == t.user_id, Notification.kind == "order_line_refunded")).all()
        assert notice.params == {"title": "Hades", "amount": 7332}
        (mail,) = db.session.scalars(select(EmailLog).where(EmailLog.kind == "line_refund",
                                                            EmailLog.recipient == t.shopper.user.email)).all()
        subject, text, _html = render_email("line_refund", mail.context, "ko")
        assert subject == "Playcation 환불 완료: Hades" and "7,332원" in text and "1,668" in text
    page = t.shopper.browser.get(f"/orders/{t.public_id}").get_data(as_text=True)
    assert page.count("Refund this game") == 1 and "₩7,332 back to the way you paid" in page
    assert "Refunded so far" in page and "−₩7,332" in page and "Refund the other games" in page

    refund_line(t.shopper, t.public_id, t.hades_line)  # again: nothing moves
    assert "This game was already refunded." in t.shopper.flashes()
    assert sandbox_payment(app, t.public_id).cancelled == 7332


@pytest.mark.parametrize("how", ["one by one", "reverse order", "one then the rest", "whole order"])
def test_every_way_of_refunding_everything_returns_the_same(app, two_games, how):
    t = two_games
    if how == "whole order":
        t.shopper.browser.post(f"/orders/{t.public_id}/refund")
    elif how == "one then the rest":
        refund_line(t.shopper, t.public_id, t.hades_line)
        t.shopper.browser.post(f"/orders/{t.public_id}/refund")
    else:
        first, second = (t.celeste_line, t.hades_line) if how == "one by one" else (t.hades_line, t.celeste_line)
        refund_line(t.shopper, t.public_id, first)
        refund_line(t.shopper, t.public_id, second)
    order = order_snapshot(app, t.public_id)
    assert order.status == "REFUNDED" and order.refunded_at is not None
    assert [(l.status, l.refund_amount) for l in lines_of(app, t.public_id)] == [("REFUNDED", 14664),
                                                                                  ("REFUNDED", 7332)]
    assert sandbox_payment(app, t.public_id) == SimpleNamespace(status="CANCELED", cancelled=21996, balance=0)
    assert balance(app, t.user_id) == 10_000  # every point back, all the cashback reversed
    coupon = scalar(app, select(Coupon.status).where(Coupon.id == t.coupon_id))
    assert coupon == "available"
    assert library_of(app, t.user_id) == [] and sales(app, t.hades) == sales(app, t.celeste) == 0


def test_the_last_game_refunded_refunds_the_order(app, two_games):
    t = two_games
    refund_line(t.shopper, t.public_id, t.celeste_line)
    refund_line(t.shopper, t.public_id, t.hades_line)
    assert "Refunded Hades" in t.shopper.flashes()
    page = t.shopper.browser.get(f"/orders/{t.public_id}").get_data(as_text=True)
    assert 'status status-refunded">Refunded' in page and "Refund this game" not in page
    assert "Request a refund" not in page
    with app.app_context():
        kinds = sorted(db.session.scalars(select(EmailLog.kind).where(EmailLog.recipient == t.shopper.user.email)))
    assert kinds == ["line_refund", "line_refund", "receipt"]


def test_a_refunded_games_product_key_is_void_and_the_others_is_kept(app, make_user):
    shopper = Shopper(app, make_user())
    celeste, hades = new_game(app, "Celeste", price=20000), new_game(app, "Hades", price=10000)
    with app.app_context():
        keys.upload_pool(celeste, b"CELESTE-1\n")
        keys.upload_pool(hades, b"HADES-1\n")
    public_id = shopper.buy(celeste, hades)
    celeste_line, hades_line = lines_of(app, public_id)
    refund_line(shopper, public_id, hades_line.id)
    with app.app_context():
        states = dict(db.session.execute(select(ProductKey.game_id, ProductKey.status)).all())
    assert states == {celeste: "assigned", hades: "void"}
    page = shopper.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert "CELESTE-1" in page and "HADES-1" not in page


# --- eligibility --------------------------------------------------------------------------------------------------

def test_past_the_window_each_game_says_why_and_nothing_is_refunded(app, two_games):
    t = two_games
    set_order(app, t.public_id, paid_at=utcnow() - timedelta(days=15))
    page = t.shopper.browser.get(f"/orders/{t.public_id}").get_data(as_text=True)
    assert "Refund this game" not in page and page.count("The 14-day refund window has passed.") == 2
    refund_line(t.shopper, t.public_id, t.hades_line)
    assert "The 14-day refund window has passed." in t.shopper.flashes()
    assert [l.status for l in lines_of(app, t.public_id)] == ["ACTIVE", "ACTIVE"]
    assert sandbox_payment(app, t.public_id).cancelled == 0


def test_a_registered_rule_decides_per_game_and_for_the_whole_order(app, two_games):
    t = two_games
    downloads = {(t.user_id, t.hades): 3, (t.user_id, t.celeste): 2}  # what a download log would count
    rule = refund_rules.download_limit(lambda user_id, game_id, since: downloads.get((user_id, game_id), 0))
    refund_rules.register(rule)
    refund_rules.register(rule)  # twice changes nothing
    try:
        assert refund_rules.RULES.count(rule) == 1
        page = t.shopper.browser.get(f"/orders/{t.public_id}").get_data(as_text=True)
        assert "Downloaded 3 times, more than the refund policy allows (2)." in page
        assert page.count("Refund this game") == 1  # Celeste, downloaded twice, still can be
        assert "Request a refund" not in page  # the whole order would include Hades

        refund_line(t.shopper, t.public_id, t.hades_line)
        assert "Downloaded 3 times, more than the refund policy allows (2)." in t.shopper.flashes()
        t.shopper.browser.post(f"/orders/{t.public_id}/refund")
        assert "Hades can't be refunded: Downloaded 3 times" in t.shopper.flashes()
        assert [l.status for l in lines_of(app, t.public_id)] == ["ACTIVE", "ACTIVE"]
        assert sandbox_payment(app, t.public_id).cancelled == 0

        refund_line(t.shopper, t.public_id, t.celeste_line)
        assert [l.status for l in lines_of(app, t.public_id)] == ["REFUNDED", "ACTIVE"]
    finally:
        refund_rules.unregister(rule)
    assert rule not in refund_rules.RULES and refund_rules.within_window in refund_rules.RULES


def test_checkout_states_the_policy_before_payment(app, make_user):
    shopper = Shopper(app, make_user())
    shopper.add(new_game(app, "Celeste", price=20000))
    page = shopper.browser.get("/checkout").get_data(as_text=True)
    policy = page.index("Each game of an order can be refunded on its own within 14 days of payment, if it was "
                        "downloaded no more than 2 times.")
    assert page.index("Refund policy") < policy and "A coupon comes back when every game" in page
    assert page.index('id="checkout-form"') < policy  # beside the Pay button, before anything is paid


# --- who may ask, and bad requests --------------------------------------------------------------------------

@pytest.mark.parametrize("who,expected", [("buyer", 302), ("admin", 403), ("other", 404), ("anonymous", 302)])
def test_only_the_buyer_may_refund_a_game(app, make_user, two_games, who, expected):
    from .test_orders_views import visitor

    t = two_games
    browser = t.shopper.browser if who == "buyer" else visitor(app, make_user, who)
    res = browser.post(f"/orders/{t.public_id}/lines/{t.hades_line}/refund")
    assert res.status_code == expected
    if who == "anonymous":
        assert res.headers["Location"].startswith("/login")
    refunded = [l.status for l in lines_of(app, t.public_id)] == ["ACTIVE", "REFUNDED"]
    assert refunded is (who == "buyer")


def test_a_game_refund_needs_the_csrf_token(app, two_games):
    t = two_games
    assert refund_line(t.shopper, t.public_id, t.hades_line, csrf=False).status_code == 400
    assert [l.status for l in lines_of(app, t.public_id)] == ["ACTIVE", "ACTIVE"]


def test_a_line_of_another_order_or_no_line_is_404(app, make_user, two_games):
    t = two_games
    other = Shopper(app, make_user())
    other_order = other.buy(new_game(app, "Tunic", price=30000))
    (other_line,) = lines_of(app, other_order)
    for line in (other_line.id, 0, 2**31 - 1, 2**31, "abc", "-1", "1.5", "٣"):
        assert refund_line(t.shopper, t.public_id, line).status_code == 404, line
    assert refund_line(t.shopper, "not-an-order", t.hades_line).status_code == 404
    assert lines_of(app, other_order)[0].status == "ACTIVE"
    assert count(app, OrderLine, OrderLine.status == "REFUNDED") == 0


def test_the_admin_order_page_shows_each_games_refund(app, make_user, two_games):
    t = two_games
    refund_line(t.shopper, t.public_id, t.hades_line)
    admin = Shopper(app, make_user(role="admin")).browser
    page = admin.get(f"/admin/orders/{order_snapshot(app, t.public_id).id}").get_data(as_text=True)
    assert "refund value ₩7,332" in page and "refund value ₩14,664" in page
    assert "₩7,332 back" in page and "Coupon share −₩1,000" in page and "Points share −₩1,668" in page
    assert "Refund ₩14,664" in page  # what is left to refund


# --- the sandbox gateway's partial cancels ------------------------------------------------------------------

def test_the_sandbox_cancels_part_of_a_payment_once_per_key_and_never_past_the_balance(app, make_user):
    from shop.orders.gateways import SandboxGateway

    shopper = Shopper(app, make_user())
    public_id = shopper.buy(new_game(app, "Celeste", price=20000))
    with app.app_context():
        key = db.session.scalar(select(Order.payment_key).where(Order.public_id == public_id))
        gateway = SandboxGateway()
        first = gateway.cancel(key, "one game", "k-1", 7000)
        assert (first.outcome, first.status, first.payload["balanceAmount"]) == ("ok", "PARTIAL_CANCELED", 13000)
        assert gateway.cancel(key, "one game", "k-1", 7000).payload["balanceAmount"] == 13000  # a replay
        too_much = gateway.cancel(key, "too much", "k-2", 13001)
        assert (too_much.outcome, too_much.code) == ("declined", "NOT_CANCELABLE_AMOUNT")
        assert gateway.cancel(key, "zero", "k-3", 0).code == "NOT_CANCELABLE_AMOUNT"
        rest = gateway.cancel(key, "the rest", "k-4")
        assert (rest.status, rest.payload["balanceAmount"]) == ("CANCELED", 0)
        assert gateway.cancel(key, "more", "k-5", 1).code == "ALREADY_CANCELED_PAYMENT"
    assert sandbox_payment(app, public_id) == SimpleNamespace(status="CANCELED", cancelled=20000, balance=0)
