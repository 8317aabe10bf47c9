"""Withdrawal: disabled at once, restorable for 30 days, then purged."""
from datetime import timedelta

from sqlalchemy import select

from shop.accounts.models import User
from shop.accounts.tasks import purge_withdrawn
from shop.extensions import db
from shop.infra.mail import EmailLog
from shop.timeutil import utcnow


def _get(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id)


def test_withdraw_disables_the_account_at_once(app, browser, make_user):
    user = make_user()
    other_device = type(browser)(app)
    other_device.login(user.email)
    browser.login(user.email)
    res = browser.post("/account/withdraw", {"password": user.password, "confirm": "y"})
    assert res.status_code == 302
    assert _get(app, user.id).status == "withdrawn"
    assert browser.current_nickname() is None
    assert other_device.current_nickname() is None


def test_withdraw_needs_password_and_confirmation(app, browser, make_user):
    user = make_user()
    browser.login(user.email)
    assert browser.post("/account/withdraw", {"password": "wrong one!!", "confirm": "y"}).status_code == 400
    assert browser.post("/account/withdraw", {"password": user.password}).status_code == 400
    assert _get(app, user.id).status == "active"


def test_logging_in_within_grace_restores(app, browser, make_user):
    user = make_user(status="withdrawn", withdrawn_at=utcnow() - timedelta(days=29))
    res = browser.login(user.email)
    assert res.status_code == 302
    assert _get(app, user.id).status == "active"


def test_after_grace_login_fails_and_purge_erases_personal_data(app, browser, make_user, outbox):
    user = make_user(status="withdrawn", withdrawn_at=utcnow() - timedelta(days=31))
    keep = make_user(status="withdrawn", withdrawn_at=utcnow() - timedelta(days=3))
    assert browser.login(user.email).status_code == 400
    with app.app_context():
        db.session.add(EmailLog(recipient=user.email, kind="verify_email", subject="s", context={"code": "1"}))
        db.session.commit()
        assert purge_withdrawn() == 1
        assert purge_withdrawn() == 0  # rerun changes nothing
    purged = _get(app, user.id)
    assert purged.status == "purged" and purged.password_hash is None
    assert user.email not in purged.email and purged.nickname != user.nickname
    assert _get(app, keep.id).status == "withdrawn"
    with app.app_context():
        assert db.session.scalar(select(EmailLog).where(EmailLog.recipient == user.email)) is None
    assert browser.login(user.email).status_code == 400


def test_withdrawn_email_stays_taken_during_grace(app, browser, make_user):
    user = make_user(status="withdrawn", withdrawn_at=utcnow() - timedelta(days=1))
    assert browser.signup(email=user.email).status_code == 400
