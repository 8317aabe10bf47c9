"""The points ledger: FIFO expiry, checkout hold/release/finalise, cashback, refunds,
rebuildable balances and concurrent spending."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from shop.extensions import db
from shop.loyalty import points
from shop.loyalty.models import PointAllocation, PointBalance, PointEntry, VipGrade
from shop.orders.models import Order
from shop.timeutil import utcnow

from ..support.browser import run_jobs
from ..support.catalog import make_game


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def _age(entry_id, days):
    entry = db.session.get(PointEntry, entry_id)
    entry.expires_at = utcnow() - timedelta(days=days)
    db.session.commit()


def test_fifo_spend_and_expiry(ctx, make_user):
    u = make_user()
    old = points.earn(u.id, 1_000, "earn_grade", "t:old")
    new = points.earn(u.id, 2_000, "earn_grade", "t:new")
    old.expires_at = utcnow() + timedelta(days=1)  # expires first
    db.session.commit()
    order = Order(user_id=u.id, status="PENDING", subtotal=0, total=0, gateway="sandbox", expires_at=utcnow())
    db.session.add(order)
    db.session.flush()
    points.spend(u.id, 1_500, order.id)  # takes 1,000 from old, 500 from new
    db.session.commit()
    assert (db.session.get(PointEntry, old.id).remaining, db.session.get(PointEntry, new.id).remaining) == (0, 1_500)
    _age(new.id, 1)
    assert points.expire_points() == 1_500
    assert points.expire_points() == 0  # idempotent
    assert points.balance(u.id) == 0 == points.ledger_balance(u.id)


def test_spend_cannot_overdraw_and_earn_is_idempotent(ctx, make_user):
    u = make_user()
    assert points.earn(u.id, 500, "earn_grade", "t:once") is not None
    assert points.earn(u.id, 500, "earn_grade", "t:once") is None
    db.session.commit()
    with pytest.raises(points.NotEnoughPoints):
        points.spend(u.id, 501, 999_999)
    assert points.balance(u.id) == 500


def test_balance_rebuilds_from_the_ledger(ctx, make_user):
    u = make_user()
    points.earn(u.id, 700, "earn_grade", "t:a")
    db.session.commit()
    db.session.execute(PointBalance.__table__.update().values(balance=123))  # a corrupted cache
    db.session.commit()
    points.rebuild_balances()
    assert points.balance(u.id) == 700 == points.ledger_balance(u.id)


def _buy_with_points(app, browser, user, price, use, approve=True):
    with app.app_context():
        game_id = make_game(f"Game {price}-{use}", price=price)
    run_jobs(app)
    browser.login(user.email)
    browser.post(f"/cart/{game_id}")
    res = browser.post("/checkout", {"points": str(use)})
    pay = res.headers["Location"]
    res = browser.post(pay, {"action": "approve" if approve else "decline"})
    browser.get(res.headers["Location"])
    with app.app_context():
        return db.session.scalar(select(Order).order_by(Order.id.desc())).id


def test_checkout_with_points_then_refund(app, browser, make_user):
    u = make_user()
    with app.app_context():
        points.earn(u.id, 10_000, "earn_grade", "t:bonus")
        db.session.add(VipGrade(user_id=u.id, month="2026-10", grade="GOLD", paid_total=200_000))  # 2% cashback
        db.session.commit()
    order_id = _buy_with_points(app, browser, u, price=20_000, use=15_000)  # capped at 50% = 10,000 → 10,000 held
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == "PAID" and order.discount == 10_000 and order.total == 10_000
        assert points.balance(u.id) == 0 + 200  # 2% of 10,000 paid
        assert points.balance(u.id) == points.ledger_balance(u.id)
        public_id = order.public_id
    res = browser.post(f"/orders/{public_id}/refund")
    assert res.status_code == 302
    with app.app_context():
        assert db.session.get(Order, order_id).status == "REFUNDED"
        assert points.balance(u.id) == 10_000 == points.ledger_balance(u.id)  # points back, cashback reversed


def test_declined_payment_releases_held_points(app, browser, make_user):
    u = make_user()
    with app.app_context():
        points.earn(u.id, 5_000, "earn_grade", "t:b")
        db.session.commit()
    _buy_with_points(app, browser, u, price=10_000, use=5_000, approve=False)
    with app.app_context():
        assert points.balance(u.id) == 5_000 == points.ledger_balance(u.id)
        kinds = db.session.scalars(select(PointEntry.kind).where(PointEntry.user_id == u.id).order_by(PointEntry.id)).all()
        assert kinds == ["earn_grade", "spend", "release"]


@pytest.mark.no_db_isolation
def test_concurrent_spending_never_goes_negative(app, make_user):
    from tests.support.env import DATABASE_URL

    if not DATABASE_URL.startswith("postgresql"):
        pytest.skip("real concurrent transactions need PostgreSQL (SQLite serialises writers)")
    with app.app_context():
        from tests.support.accounts import make_user as factory

        u = factory()
        points.earn(u.id, 1_000, "earn_grade", f"t:conc:{u.id}")
        orders = []
        for _ in range(10):
            o = Order(user_id=u.id, status="PENDING", subtotal=0, total=0, gateway="sandbox", expires_at=utcnow())
            db.session.add(o)
            db.session.flush()
            orders.append(o.id)
        db.session.commit()
    results = []
    barrier = threading.Barrier(10)

    def spend(order_id):
        with app.app_context():
            barrier.wait()
            try:
                points.spend(u.id, 300, order_id)
                db.session.commit()
                results.append("ok")
            except points.NotEnoughPoints:
                db.session.rollback()
                results.append("refused")

    threads = [threading.Thread(target=spend, args=(o,)) for o in orders]
    [t.start() for t in threads]
    [t.join() for t in threads]
    try:
        with app.app_context():
            assert results.count("ok") == 3 and results.count("refused") == 7
            assert points.balance(u.id) == 100 == points.ledger_balance(u.id)
    finally:
        with app.app_context():
            ids = db.session.scalars(select(PointEntry.id).where(PointEntry.user_id == u.id)).all()
            db.session.execute(delete(PointAllocation).where(PointAllocation.spend_id.in_(ids)))
            db.session.execute(delete(PointEntry).where(PointEntry.user_id == u.id))
            db.session.execute(delete(PointBalance).where(PointBalance.user_id == u.id))
            db.session.execute(delete(Order).where(Order.user_id == u.id))
            from shop.accounts.models import User

            db.session.execute(delete(User).where(User.id == u.id))
            db.session.commit()


def test_a_games_refund_returns_its_points_onto_the_longest_lived_lines_first(ctx, make_user):
    from shop.loyalty.refunds import return_points

    u = make_user()
    soon = points.earn(u.id, 1000, "earn_grade", "t:soon")
    later = points.earn(u.id, 1000, "earn_grade", "t:later")
    soon.expires_at = utcnow() + timedelta(days=30)  # still valid, but expires first: spent first
    order = Order(user_id=u.id, status="PAID", subtotal=3000, total=1500, gateway="sandbox", expires_at=utcnow())
    db.session.add(order)
    db.session.commit()
    points.spend(u.id, 1500, order.id)  # 1,000 from `soon`, 500 from `later`
    db.session.commit()
    assert (soon.remaining, later.remaining) == (0, 500)
    assert return_points(order.id, 7, 700) == 700
    assert return_points(order.id, 7, 700) == 0  # the same line again: nothing more
    db.session.commit()
    db.session.refresh(soon)
    db.session.refresh(later)
    assert (soon.remaining, later.remaining) == (200, 1000)  # `later` refilled first, then `soon`
    assert points.balance(u.id) == 500 + 700 == points.ledger_balance(u.id)
    # the order's refund returns only what is left of the spend, onto what is left of each line
    assert points.give_back(order.id, "reverse", "Returned: order refunded") == 800
    db.session.commit()
    db.session.refresh(soon)
    assert soon.remaining == 1000 and points.balance(u.id) == 2000 == points.ledger_balance(u.id)
