"""Emails are written when they are sent, in the recipient's language: the account's
setting (Korean when it never chose), else the language of the request that queued
them. Subject and both bodies; a resend or a language switch follows the account."""
import pytest
from sqlalchemy import update

from shop.accounts.models import User
from shop.extensions import db
from shop.infra.mail import EmailLog, queue_email, resend_email

from ..support.browser import run_jobs
from ..support.env import free_port

RECEIPT = {"order_id": "7f0c3c6e-0000-4000-8000-000000000009", "first_title": "Hades", "more": 1,
           "total": 36000, "subtotal": 42000, "discount": 6000, "paid_at": "2026-11-21T00:00:00+00:00",
           "lines": [{"title": "Hades", "price": 24000, "list_price": 30000},
                     {"title": "Celeste", "price": 12000, "list_price": 12000}]}


def _queue(app, to, kind, **context):
    with app.app_context():
        entry = queue_email(to, kind, **context)
        db.session.commit()
        return entry.id


def _set_locale(app, user_id, locale):
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(locale=locale))
        db.session.commit()


def test_a_korean_user_gets_a_korean_verification_email_and_an_english_user_an_english_one(app, outbox, make_user):
    mina, jane = make_user(nickname="Mina", locale="ko"), make_user(nickname="Jane", locale="en")
    for user in (mina, jane):
        _queue(app, user.email, "verify_email", code="314159", nickname=user.nickname, minutes=5)
    outbox.deliver()
    [ko] = outbox.messages(to=mina.email)
    assert ko["subject"] == "Playcation 인증 코드: 314159"
    assert "Mina님, 안녕하세요." in ko["text"] and "Playcation 인증 코드: 314159" in ko["text"]
    assert "5분 동안 한 번만 사용할 수 있습니다" in ko["text"]
    assert "Mina님, 안녕하세요." in ko["html"] and "인증 코드는 다음과 같습니다" in ko["html"] and "314159" in ko["html"]
    assert '<html lang="ko">' in ko["html"] and "Playcation 계정과 관련하여 발송된 메일입니다" in ko["html"]
    assert "Hi " not in ko["text"] + ko["html"] and "verification" not in ko["text"] + ko["html"]
    [en] = outbox.messages(to=jane.email)
    assert en["subject"] == "Your Playcation verification code: 314159"
    assert "Hi Jane," in en["text"] and "It works once, for 5 minutes." in en["html"]
    assert '<html lang="en">' in en["html"] and "님" not in en["text"] + en["html"]


def test_a_korean_receipt_reads_in_won_and_korean_an_english_one_in_english(app, outbox, make_user):
    mina, jane = make_user(nickname="Mina", locale="ko"), make_user(nickname="Jane", locale="en")
    _queue(app, mina.email, "receipt", nickname="Mina", **RECEIPT)
    _queue(app, jane.email, "receipt", nickname="Jane", **RECEIPT)
    outbox.deliver()
    [ko] = outbox.messages(to=mina.email)
    assert ko["subject"] == "Playcation 구매 영수증: Hades 외 1건"
    for body in (ko["text"], ko["html"]):
        assert "구매해 주셔서 감사합니다!" in body and "총 결제 금액" in body and "할인" in body
        assert "36,000원" in body and "30,000원" in body and "6,000원" in body and "₩" not in body
        assert "주문번호 7f0c3c6e-0000-4000-8000-000000000009" in body
    assert "정가 30,000원" in ko["text"]
    [en] = outbox.messages(to=jane.email)
    assert en["subject"] == "Your Playcation receipt: Hades and 1 more"
    for body in (en["text"], en["html"]):
        assert "Thanks for your purchase!" in body and "Total paid" in body and "₩36,000" in body
    assert "(was ₩30,000)" in en["text"]


def test_a_user_without_a_language_gets_korean(app, outbox, make_user):
    quiet = make_user(nickname="Quiet", locale=None)
    _queue(app, quiet.email, "password_changed", nickname="Quiet")
    [msg] = outbox.deliver()
    assert msg["subject"] == "Playcation 비밀번호가 변경되었습니다" and "Quiet님" in msg["text"]


def test_an_address_on_no_account_is_written_in_the_language_of_the_request_that_queued_it(app, outbox):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        queue_email("new@example.com", "email_change", code="271828", nickname="Mina", minutes=5)
        db.session.commit()
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        queue_email("nouveau@example.com", "email_change", code="271828", nickname="Mina", minutes=5)
        db.session.commit()
    with app.app_context():  # no request, no account: Korean
        queue_email("nobody@example.com", "email_change", code="271828", nickname="Mina", minutes=5)
        db.session.commit()
    outbox.deliver()
    assert outbox.messages(to="new@example.com")[0]["subject"] == "Confirm your new Playcation email: 271828"
    assert outbox.messages(to="nouveau@example.com")[0]["subject"] == "Playcation 새 이메일 확인 코드: 271828"
    assert outbox.messages(to="nobody@example.com")[0]["subject"] == "Playcation 새 이메일 확인 코드: 271828"


def test_the_account_language_at_sending_time_wins_over_the_one_at_queueing(app, outbox, make_user):
    """Queued in an English request for a user who then switches to Korean: sent in Korean."""
    mina = make_user(nickname="Mina", locale="en")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        log_id = queue_email(mina.email, "password_changed", nickname="Mina").id
        db.session.commit()
    with app.app_context():
        assert db.session.get(EmailLog, log_id).subject == "Your Playcation password was changed"
    _set_locale(app, mina.id, "ko")
    [msg] = outbox.deliver()
    assert msg["subject"] == "Playcation 비밀번호가 변경되었습니다" and "Mina님, 안녕하세요." in msg["html"]
    with app.app_context():  # the log shows what was sent
        assert db.session.get(EmailLog, log_id).subject == "Playcation 비밀번호가 변경되었습니다"


def test_an_admin_resend_is_written_in_the_recipients_language(app, outbox, make_user, monkeypatch):
    mina = make_user(nickname="Mina", locale="ko")
    monkeypatch.setattr(app.extensions["mail"], "port", free_port())  # SMTP down: the one attempt fails
    monkeypatch.setitem(app.config, "MAIL_RETRY_INTERVALS", [])
    log_id = _queue(app, mina.email, "password_changed", nickname="Mina")
    run_jobs(app)
    monkeypatch.undo()
    with app.test_request_context(headers={"Accept-Language": "en"}):  # an English-speaking admin
        resend_email(db.session.get(EmailLog, log_id))
        db.session.commit()
    [msg] = outbox.deliver()
    assert msg["subject"] == "Playcation 비밀번호가 변경되었습니다"
    assert "본인이 변경하지 않았다면" in msg["text"] and "본인이 변경하지 않았다면" in msg["html"]


@pytest.mark.parametrize("locale, subject, month, money", [
    ("ko", "2026년 10월 Playcation 등급 안내: SILVER", "2026년 10월", "300,000원"),
    ("en", "Your Playcation grade for October 2026: SILVER", "October 2026", "₩300,000"),
])
def test_vip_letters_name_the_month_and_money_in_the_readers_language(app, outbox, make_user, locale, subject,
                                                                       month, money):
    user = make_user(nickname="Dropper", locale=locale)
    _queue(app, user.email, "vip_downgrade", nickname="Dropper", grade="SILVER", previous="VIP", month="2026-10",
           bonus=1000, regain_at=300000)
    [msg] = outbox.deliver()
    assert msg["subject"] == subject
    for body in (msg["text"], msg["html"]):
        assert month in body and money in body and "1,000" in body
