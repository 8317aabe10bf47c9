"""Accounts never verified 7 days after sign-up are removed, with what cascades from
them; verified, recent, suspended, withdrawn or purchasing accounts stay."""
from datetime import timedelta

from sqlalchemy import select

from shop.accounts.models import User
from shop.accounts.tasks import remove_never_verified
from shop.cart.models import CartItem
from shop.catalog.models import WishlistItem
from shop.extensions import db
from shop.infra.jobs import CRON
from shop.infra.mail import EmailLog
from shop.notifications.models import Notification
from shop.timeutil import utcnow

from ..admin.test_dashboard import add_order
from ..support.catalog import make_game


def age(app, user_id, days, **fields):
    with app.app_context():
        user = db.session.get(User, user_id)
        user.created_at = utcnow() - timedelta(days=days)
        for name, value in fields.items():
            setattr(user, name, value)
        db.session.commit()


def exists(app, user_id) -> bool:
    with app.app_context():
        return db.session.get(User, user_id) is not None


def test_never_verified_after_7_days_is_removed_with_its_rows(app, make_user, redis):
    stale = make_user(verified=False, email="stale@example.com")
    age(app, stale.id, 8)
    with app.app_context():
        game = make_game("Spare Tale")
        db.session.add_all([CartItem(user_id=stale.id, game_id=game), WishlistItem(user_id=stale.id, game_id=game),
                            Notification(user_id=stale.id, kind="review", message="hi"),
                            EmailLog(recipient="stale@example.com", kind="verify_email", subject="code",
                                     context={"code": "123456"}, status="sent")])
        db.session.commit()
        redis.set(f"auth:user:{stale.id}", "token|0|1")

        assert remove_never_verified() == 1

        assert db.session.get(User, stale.id) is None
        for model in (CartItem, WishlistItem, Notification):
            assert db.session.scalar(select(model).where(model.user_id == stale.id)) is None
        log = db.session.scalar(select(EmailLog).where(EmailLog.kind == "verify_email"))
        assert log.recipient == f"removed-{stale.id}" and log.context is None
    # The Redis copy of its sessions (coupon claims read it) is tombstoned.
    assert redis.get(f"auth:user:{stale.id}") == "!"


def test_accounts_that_stay(app, make_user):
    recent = make_user(verified=False)
    age(app, recent.id, 6)
    verified = make_user(verified=True)
    age(app, verified.id, 60)
    suspended = make_user(verified=False)
    age(app, suspended.id, 30, suspended_at=utcnow())
    withdrawn = make_user(verified=False, status="withdrawn", withdrawn_at=utcnow())
    age(app, withdrawn.id, 30)
    publisher = make_user(verified=False, role="publisher")
    age(app, publisher.id, 30)
    buyer = make_user(verified=False)  # verified, bought, then changed to an address it never confirmed
    age(app, buyer.id, 30)
    with app.app_context():
        game = make_game("Kept Quest")
    add_order(app, buyer.id, [game], paid_at=utcnow() - timedelta(days=20))
    with app.app_context():
        assert remove_never_verified() == 0
    for user in (recent, verified, suspended, withdrawn, publisher, buyer):
        assert exists(app, user.id), user


def test_a_removed_accounts_session_no_longer_logs_in(app, make_user, browser):
    stale = make_user(verified=False)
    browser.login(stale.email)
    assert browser.get("/verify").status_code == 200
    age(app, stale.id, 8)
    with app.app_context():
        assert remove_never_verified() == 1
    assert browser.get("/account").status_code == 302


def test_it_is_on_the_schedule():
    assert ("accounts-remove-unverified", "50 18 * * *", "shop.accounts.tasks.remove_never_verified") in CRON
