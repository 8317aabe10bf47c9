"""Coupons at checkout, through the real checkout and the sandbox gateway: reserved when
the order is created, used when it is paid, released when it fails / is cancelled /
expires / is replaced, usable again after a refund within validity; discounts (fixed,
percent with a cap), minimum order, scope by tag or publisher; the wallet page and the
daily expiry job; and one coupon never held by two orders at once."""
import re
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from shop.coupons import services, wallet
from shop.coupons.consumer import drain_event
from shop.coupons.models import Coupon
from shop.extensions import db
from shop.infra.jobs import CRON, enqueue
from shop.orders import services as orders
from shop.orders.models import Order
from shop.timeutil import utcnow

from ..support.browser import run_jobs
from ..support.orders import Shopper, new_game, order_snapshot, set_order
from .conftest import event_input, purge


def coupon_for(app, user_id, **event_fields) -> int:
    """A coupon in the user's wallet: an event is created, claimed and persisted."""
    with app.app_context():
        event_id = services.create_event(event_input(quantity=5, **event_fields)).id
    with app.app_context():
        assert services.claim(event_id, user_id) == "claimed"
        drain_event(event_id)
        return db.session.scalar(select(Coupon.id).where(Coupon.event_id == event_id, Coupon.user_id == user_id))


def coupon_state(app, coupon_id) -> SimpleNamespace:
    with app.app_context():
        c = db.session.get(Coupon, coupon_id)
        return SimpleNamespace(status=c.status, order_id=c.order_id, used_at=c.used_at, expires_at=c.expires_at)


def set_coupon(app, coupon_id, **values):
    with app.app_context():
        db.session.execute(update(Coupon).where(Coupon.id == coupon_id).values(**values))
        db.session.commit()


def order_id_of(app, public_id) -> int:
    return order_snapshot(app, public_id).id


def check_out(shopper, coupon_id, *game_ids):
    """Cart the games and press Pay with the coupon chosen; returns the response."""
    for game_id in game_ids:
        assert shopper.add(game_id).status_code == 200
    return shopper.browser.post("/checkout", {"coupon": coupon_id} if coupon_id else {})


def pending_order(shopper, coupon_id, *game_ids) -> str:
    res = check_out(shopper, coupon_id, *game_ids)
    assert res.status_code == 302 and "/sandbox/pay/" in res.headers["Location"], shopper.flashes()
    return res.headers["Location"].rsplit("/", 1)[1]


def pay(shopper, public_id):
    res = shopper.sandbox(public_id, "approve")
    res = shopper.browser.get(res.headers["Location"])
    assert res.headers["Location"] == f"/orders/{public_id}"


@pytest.fixture
def shopper(app, make_user):
    return Shopper(app, make_user())


# --- reserve → use, release, refund ---------------------------------------------------------

def test_coupon_is_reserved_by_the_order_and_used_when_paid(app, shopper):
    coupon_id = coupon_for(app, shopper.user.id, name="Launch drop", discount_value=3000)
    game = new_game(app, "Hades", price=20000)
    public_id = pending_order(shopper, coupon_id, game)
    order = order_snapshot(app, public_id)
    assert (order.subtotal, order.discount, order.total) == (20000, 3000, 17000)
    assert order.discounts[0]["kind"] == "coupon" and order.discounts[0]["ref"] == str(coupon_id)
    state = coupon_state(app, coupon_id)
    assert (state.status, state.order_id) == ("reserved", order.id)
    wallet_page = shopper.browser.get("/coupons/mine").get_data(as_text=True)
    assert "held by an open checkout" in wallet_page

    pay(shopper, public_id)
    assert order_snapshot(app, public_id).status == "PAID"
    state = coupon_state(app, coupon_id)
    assert (state.status, state.order_id) == ("used", order.id) and state.used_at is not None
    assert sections(shopper) == {"Available": 0, "Used": 1, "Expired": 0}


@pytest.mark.parametrize("how", ["decline", "close", "expire", "replace"])
def test_coupon_is_released_when_the_order_does_not_complete(app, shopper, how):
    coupon_id = coupon_for(app, shopper.user.id)
    game = new_game(app, "Celeste", price=20000)
    public_id = pending_order(shopper, coupon_id, game)
    if how in ("decline", "close"):
        res = shopper.sandbox(public_id, "decline" if how == "decline" else "close")
        shopper.browser.get(res.headers["Location"])  # the gateway's fail redirect
    elif how == "expire":
        set_order(app, public_id, expires_at=utcnow() - timedelta(minutes=1))
        with app.app_context():
            assert orders.expire_pending() == 1
    else:
        assert shopper.browser.post("/checkout").status_code == 302  # a newer checkout, no coupon
    assert order_snapshot(app, public_id).status in ("FAILED", "CANCELLED")
    state = coupon_state(app, coupon_id)
    assert (state.status, state.order_id) == ("available", None)
    # …and it works on the next order.
    if how == "replace":
        shopper.browser.post("/checkout", {"coupon": coupon_id})
        again = order_snapshot(app, user_id=shopper.user.id).public_id
    else:
        again = pending_order(shopper, coupon_id)
    assert order_snapshot(app, again).discount == 3000
    assert coupon_state(app, coupon_id).status == "reserved"


def test_pressing_pay_again_moves_the_coupon_to_the_new_order(app, shopper):
    """Back from the payment window, Pay again with the same coupon: the first order is
    replaced and gives the coupon back before the new one takes it."""
    coupon_id = coupon_for(app, shopper.user.id)
    game = new_game(app, price=20000)
    first = pending_order(shopper, coupon_id, game)
    second = pending_order(shopper, coupon_id)
    assert order_snapshot(app, first).status == "CANCELLED"
    assert order_snapshot(app, second).discount == 3000
    assert coupon_state(app, coupon_id).order_id == order_id_of(app, second)


def test_refund_within_validity_makes_the_coupon_usable_again(app, shopper):
    coupon_id = coupon_for(app, shopper.user.id)
    game = new_game(app, price=20000)
    public_id = pending_order(shopper, coupon_id, game)
    pay(shopper, public_id)
    res = shopper.browser.post(f"/orders/{public_id}/refund")
    assert res.status_code == 302 and order_snapshot(app, public_id).status == "REFUNDED"
    state = coupon_state(app, coupon_id)
    assert (state.status, state.order_id, state.used_at) == ("available", None, None)
    assert order_snapshot(app, pending_order(shopper, coupon_id, game)).discount == 3000


def test_refund_after_the_coupon_expired_leaves_it_expired(app, shopper):
    coupon_id = coupon_for(app, shopper.user.id)
    game = new_game(app, price=20000)
    public_id = pending_order(shopper, coupon_id, game)
    pay(shopper, public_id)
    set_coupon(app, coupon_id, expires_at=utcnow() - timedelta(hours=1))
    shopper.browser.post(f"/orders/{public_id}/refund")
    assert order_snapshot(app, public_id).status == "REFUNDED"
    assert coupon_state(app, coupon_id).status == "expired"


def test_a_coupon_covering_the_whole_order_completes_it_at_once(app, shopper):
    coupon_id = coupon_for(app, shopper.user.id, discount_value=50000)
    game = new_game(app, price=20000)
    res = check_out(shopper, coupon_id, game)
    order = order_snapshot(app, user_id=shopper.user.id)
    assert res.headers["Location"] == f"/orders/{order.public_id}"
    assert (order.status, order.total, order.discount) == ("PAID", 0, 20000)
    assert coupon_state(app, coupon_id).status == "used"


# --- what a coupon takes off ----------------------------------------------------------------

def test_percent_discount_with_a_krw_cap(app, make_user):
    big, small = Shopper(app, make_user()), Shopper(app, make_user())
    event = dict(discount_type="percent", discount_value=10, discount_cap=3000)
    expensive, cheap = new_game(app, "Elden Ring", price=50000), new_game(app, "Celeste", price=20000)
    order = order_snapshot(app, pending_order(big, coupon_for(app, big.user.id, **event), expensive))
    assert (order.discount, order.total) == (3000, 47000)  # 10 % is 5,000: capped at 3,000
    order = order_snapshot(app, pending_order(small, coupon_for(app, small.user.id, **event), cheap))
    assert (order.discount, order.total) == (2000, 18000)  # under the cap: 10 %


def test_minimum_order_amount(app, shopper):
    coupon_id = coupon_for(app, shopper.user.id, min_order_amount=30000)
    first, second = new_game(app, "Hades", price=20000), new_game(app, "Celeste", price=15000)
    res = check_out(shopper, coupon_id, first)
    assert res.status_code == 302 and res.headers["Location"] == "/cart"
    assert "That coupon needs an order of ₩30,000 or more." in shopper.flashes()
    assert order_snapshot(app, user_id=shopper.user.id) is None  # no order at the full price
    assert coupon_state(app, coupon_id).status == "available"
    order = order_snapshot(app, pending_order(shopper, coupon_id, second))
    assert (order.subtotal, order.discount) == (35000, 3000)


def test_scope_by_tag_discounts_only_the_tagged_games(app, shopper):
    from shop.catalog.models import Tag

    with app.app_context():
        tag = Tag(name="Roguelike", slug="roguelike")
        db.session.add(tag)
        db.session.commit()
        tag_id = tag.id
    tagged = new_game(app, "Hades", price=20000, tag_ids=[tag_id])
    other = new_game(app, "Celeste", price=10000)
    coupon_id = coupon_for(app, shopper.user.id, discount_type="percent", discount_value=50, scope_tag_id=tag_id)
    res = check_out(shopper, coupon_id, other)
    assert res.headers["Location"] == "/cart"
    assert "That coupon doesn't apply to any game in your cart." in shopper.flashes()
    order = order_snapshot(app, pending_order(shopper, coupon_id, tagged))
    assert (order.subtotal, order.discount) == (30000, 10000)  # half of the tagged game only


def test_scope_by_publisher_never_takes_more_than_their_games_cost(app, shopper, make_user):
    publisher = make_user(role="publisher")
    theirs = new_game(app, "Small indie", price=4000, publisher_id=publisher.id)
    other = new_game(app, "Big release", price=20000)
    coupon_id = coupon_for(app, shopper.user.id, discount_value=5000, scope_publisher_id=publisher.id)
    order = order_snapshot(app, pending_order(shopper, coupon_id, theirs, other))
    assert (order.subtotal, order.discount, order.total) == (24000, 4000, 20000)


def test_someone_elses_used_or_unknown_coupon_is_refused(app, shopper, make_user):
    other = make_user()
    theirs = coupon_for(app, other.id)
    mine = coupon_for(app, shopper.user.id)
    set_coupon(app, mine, status="used", used_at=utcnow())
    game = new_game(app, price=20000)
    for coupon_id in (theirs, mine, 999999, "abc"):
        res = check_out(shopper, coupon_id, *([game] if coupon_id == theirs else []))
        assert res.headers["Location"] == "/cart"
        assert "That coupon is no longer available." in shopper.flashes()
    assert order_snapshot(app, user_id=shopper.user.id) is None
    assert coupon_state(app, theirs).status == "available"


# --- wallet and expiry ------------------------------------------------------------------------

def sections(shopper) -> dict[str, int]:
    html = shopper.browser.get("/coupons/mine").get_data(as_text=True)
    return {name: int(n) for name, n in re.findall(r'<h3>(Available|Used|Expired) <small class="muted">\((\d+)\)', html)}


def test_daily_expiry_job_and_the_wallet_sections(app, shopper):
    assert ("coupons-expire", "10 15 * * *", "shop.coupons.tasks.expire_coupons") in CRON  # 00:10 KST
    fresh = coupon_for(app, shopper.user.id, name="Fresh")
    stale = coupon_for(app, shopper.user.id, name="Stale")
    held = coupon_for(app, shopper.user.id, name="Held")
    game = new_game(app, price=20000)
    pending_order(shopper, held, game)  # reserved by an open checkout
    past = utcnow() - timedelta(minutes=1)
    set_coupon(app, stale, expires_at=past)
    set_coupon(app, held, expires_at=past)
    assert sections(shopper) == {"Available": 1, "Used": 0, "Expired": 2}  # shown expired at once
    with app.app_context():
        from shop.coupons.tasks import expire_coupons

        enqueue(expire_coupons)
    run_jobs(app)
    assert coupon_state(app, stale).status == "expired"
    assert coupon_state(app, fresh).status == "available"
    assert coupon_state(app, held).status == "reserved"  # its order decides: paid → used, else expired
    with app.app_context():
        assert wallet.expire_coupons() == 0  # idempotent
    assert "Stale" in shopper.browser.get("/coupons/mine").get_data(as_text=True)


def test_expired_reservation_is_not_given_back_as_available(app, shopper):
    coupon_id = coupon_for(app, shopper.user.id)
    public_id = pending_order(shopper, coupon_id, new_game(app, price=20000))
    set_coupon(app, coupon_id, expires_at=utcnow() - timedelta(minutes=1))
    set_order(app, public_id, expires_at=utcnow() - timedelta(minutes=1))
    with app.app_context():
        orders.expire_pending()
    assert coupon_state(app, coupon_id).status == "expired"


# --- one coupon, two orders at once -------------------------------------------------------------

@pytest.mark.no_db_isolation
def test_two_checkouts_racing_for_one_coupon_leave_it_with_one_order(app, make_user, postgres_only):
    """Two tabs press Pay with the same coupon at the same moment."""
    user = make_user()
    tabs = [Shopper(app, user), Shopper(app, user)]
    coupon_id, event_id, game = None, None, None
    try:
        coupon_id = coupon_for(app, user.id)
        event_id = coupon_state_event(app, coupon_id)
        game = new_game(app, price=20000)
        tabs[0].add(game)
        gate = threading.Barrier(2)
        responses = [None, None]

        def press_pay(i):
            gate.wait()
            responses[i] = tabs[i].browser.post("/checkout", {"coupon": coupon_id})

        threads = [threading.Thread(target=press_pay, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r.status_code == 302 for r in responses)
        with app.app_context():
            mine = db.session.scalars(select(Order).where(Order.user_id == user.id)).all()
            holders = [o for o in mine if any(d.get("ref") == str(coupon_id) for d in o.discounts or [])]
            live = [o for o in holders if o.status == "PENDING"]
            assert len(live) == 1, [(o.id, o.status) for o in mine]
            assert all(o.status == "CANCELLED" for o in holders if o is not live[0])
            coupon = db.session.get(Coupon, coupon_id)
            assert (coupon.status, coupon.order_id) == ("reserved", live[0].id)
    finally:
        purge(app, user_ids=[user.id], event_ids=[event_id] if event_id else [])
        if game:
            from shop.catalog.models import Game

            with app.app_context():
                publisher = db.session.get(Game, game).publisher_id
            purge(app, user_ids=[publisher])


@pytest.mark.no_db_isolation
def test_conditional_update_lets_only_one_of_two_orders_reserve_a_coupon(app, make_user, postgres_only):
    """Below the checkout's per-buyer lock: two orders reserving one coupon on two
    connections at once. The UPDATE … WHERE status = 'available' lets exactly one win."""
    user = make_user()
    event_id = None
    try:
        coupon_id = coupon_for(app, user.id)
        event_id = coupon_state_event(app, coupon_id)
        with app.app_context():
            rows = [Order(user_id=user.id, status="PENDING", subtotal=20000, discount=3000, total=17000,
                          gateway="sandbox", expires_at=utcnow() + timedelta(minutes=30),
                          discounts=[{"kind": "coupon", "label": "Coupon", "amount": 3000, "ref": str(coupon_id)}])
                    for _ in range(2)]
            db.session.add_all(rows)
            db.session.commit()
            order_ids = [o.id for o in rows]
        gate = threading.Barrier(2)
        results = {}

        def reserve(order_id):
            with app.test_request_context("/", headers={"Accept-Language": "en"}):  # as the buyer's request
                order = db.session.get(Order, order_id)
                gate.wait()
                try:
                    wallet.reserve(order, None)
                    threading.Event().wait(0.2)  # hold the row lock while the other one tries
                    db.session.commit()
                    results[order_id] = "reserved"
                except orders.CheckoutError as exc:
                    db.session.rollback()
                    results[order_id] = exc.message

        threads = [threading.Thread(target=reserve, args=(i,)) for i in order_ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == ["That coupon is no longer available.", "reserved"]
        winner = next(i for i, r in results.items() if r == "reserved")
        state = coupon_state(app, coupon_id)
        assert (state.status, state.order_id) == ("reserved", winner)
    finally:
        purge(app, user_ids=[user.id], event_ids=[event_id] if event_id else [])


def coupon_state_event(app, coupon_id) -> int:
    with app.app_context():
        return db.session.get(Coupon, coupon_id).event_id
