"""Sign-up and the emailed 6-digit code."""
import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.infra.mail import EmailLog


def _user(app, email):
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_signup_emails_a_code_through_the_worker_and_verifies(app, browser, outbox):
    res = browser.signup(email="Neo@Example.com", nickname="Neo")
    assert res.status_code == 302 and "/verify" in res.headers["Location"]
    user = _user(app, "neo@example.com")  # stored lower-cased
    assert user is not None and not user.is_verified
    assert outbox.messages() == []  # nothing is sent inside the request: RQ does it
    code = outbox.last_code("neo@example.com")
    msg = outbox.messages("neo@example.com")[0]
    assert msg["html"] and code in msg["html"] and code in msg["text"]
    res = browser.verify(code)
    assert res.status_code == 302
    assert _user(app, "neo@example.com").is_verified
    with app.app_context():
        log = db.session.scalar(select(EmailLog).where(EmailLog.recipient == "neo@example.com"))
        assert log.status == "sent" and log.attempts == 1 and log.context is None


def test_code_works_once(app, browser, outbox):
    browser.signup(email="once@example.com")
    code = outbox.last_code("once@example.com")
    assert browser.verify(code).status_code == 302
    browser.logout()
    # a second account cannot reuse someone else's code, and the first code is gone
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "once@example.com")).is_verified


def test_wrong_code_five_times_locks_the_code(app, browser, outbox):
    browser.signup(email="tries@example.com")
    code = outbox.last_code("tries@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        res = browser.verify(wrong)
        assert res.status_code == 400
        assert (f"{left} tries left" if left > 1 else "1 try left") in res.get_data(as_text=True)
    res = browser.verify(wrong)
    assert "Too many wrong codes" in res.get_data(as_text=True)
    res = browser.verify(code)  # the right code no longer works
    assert res.status_code == 400 and "expired" in res.get_data(as_text=True)
    assert not _user(app, "tries@example.com").is_verified


def test_code_expires_after_its_ttl(app, browser, outbox, redis):
    browser.signup(email="late@example.com")
    code = outbox.last_code("late@example.com")
    user = _user(app, "late@example.com")
    assert 295 <= redis.ttl(f"code:verify:{user.id}") <= 300
    redis.delete(f"code:verify:{user.id}")  # what Redis does when the TTL runs out
    res = browser.verify(code)
    assert res.status_code == 400 and "expired" in res.get_data(as_text=True)


def test_resend_has_a_cooldown_and_replaces_the_code(app, browser, outbox, redis):
    browser.signup(email="again@example.com")
    first = outbox.last_code("again@example.com")
    res = browser.post("/verify/resend", follow_redirects=True)
    assert "You can ask for a new one in" in res.get_data(as_text=True)
    user = _user(app, "again@example.com")
    redis.delete(f"code:verify:{user.id}:cooldown")  # 60 s later
    outbox.clear()
    res = browser.post("/verify/resend", follow_redirects=True)
    assert "A new code is on its way" in res.get_data(as_text=True)
    second = outbox.last_code("again@example.com")
    if second != first:
        assert browser.verify(first).status_code == 400
    assert browser.verify(second).status_code == 302


@pytest.mark.parametrize("field,value,message", [
    ("email", "not-an-email", "valid email"),
    ("email", "a" * 250 + "@x.io", "254"),
    ("nickname", "x", "Nicknames are 2–20 letters"),
    ("nickname", "<script>", "letters, digits"),
    ("password", "short", "at least 8"),
    ("password", "p" * 129, "128"),
    ("confirm", "different password", "do not match"),
])
def test_bad_signup_input_is_refused_and_changes_nothing(app, browser, outbox, field, value, message):
    data = {"email": "bad@example.com", "nickname": "Fine", "password": "a long passphrase 1"}
    data[field] = value
    res = browser.signup(**data)
    assert res.status_code == 400
    assert message in res.get_data(as_text=True)
    assert _user(app, "bad@example.com") is None
    assert outbox.deliver() == []


def test_password_may_not_equal_email(browser):
    res = browser.signup(email="same@example.com", password="same@example.com")
    assert res.status_code == 400 and "must not be your email" in res.get_data(as_text=True)


def test_duplicate_email_is_refused(app, browser, make_user):
    make_user(email="taken@example.com")
    res = browser.signup(email="TAKEN@example.com")
    assert res.status_code == 400 and "already exists" in res.get_data(as_text=True)


def test_signup_without_csrf_is_refused(app, browser):
    res = browser.post("/signup", {"email": "x@example.com", "nickname": "Xx", "password": "a long passphrase 1",
                                   "confirm": "a long passphrase 1"}, csrf=False)
    assert res.status_code == 400
    assert _user(app, "x@example.com") is None


def test_signup_without_next_goes_to_plain_verify(browser):
    res = browser.signup(email="plain@example.com")
    assert res.status_code == 302 and res.headers["Location"] == "/verify"


def test_signup_keeps_a_safe_next_and_drops_an_unsafe_one(browser):
    res = browser.post("/signup?next=/games", {"email": "next@example.com", "nickname": "Next",
                                                "password": "a long passphrase 1", "confirm": "a long passphrase 1"})
    assert res.headers["Location"] == "/verify?next=/games"
    res = browser.post("/verify/resend?next=//evil.example")
    assert res.headers["Location"] == "/verify"
