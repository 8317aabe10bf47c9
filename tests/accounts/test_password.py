"""Password reset by emailed link, and password change."""
from urllib.parse import urlsplit

from shop.accounts.models import User
from shop.extensions import db

NEW = "a brand new passphrase"


def _reset_path(outbox, email):
    link = outbox.last_link(email)
    return urlsplit(link).path


def test_reset_link_sets_a_new_password_once(browser, outbox, make_user):
    user = make_user()
    res = browser.post("/password/forgot", {"email": user.email})
    assert res.status_code == 302
    path = _reset_path(outbox, user.email)
    assert browser.get(path).status_code == 200
    res = browser.post(path, {"password": NEW, "confirm": NEW})
    assert res.status_code == 302 and res.headers["Location"] == "/login"
    assert browser.login(user.email, user.password).status_code == 400
    assert browser.login(user.email, NEW).status_code == 302
    browser.logout()
    # single use: the same link is dead now
    assert browser.get(path).status_code == 400
    res = browser.post(path, {"password": "yet another passphrase", "confirm": "yet another passphrase"})
    assert res.status_code == 400
    assert browser.login(user.email, NEW).status_code == 302
    # a "password changed" notice went out too
    assert any("password was changed" in m["subject"] for m in outbox.deliver())


def test_unknown_email_gets_the_same_answer_and_no_mail(browser, outbox, make_user):
    make_user(email="real@example.com")
    known = browser.post("/password/forgot", {"email": "real@example.com"}, follow_redirects=True)
    unknown = browser.post("/password/forgot", {"email": "ghost@example.com"}, follow_redirects=True)
    assert "If an account uses that email" in known.get_data(as_text=True)
    assert "If an account uses that email" in unknown.get_data(as_text=True)
    recipients = [m["to"] for m in outbox.deliver()]
    assert recipients == ["real@example.com"]


def test_expired_or_tampered_link_is_refused(app, browser, outbox, make_user, monkeypatch):
    user = make_user()
    browser.post("/password/forgot", {"email": user.email})
    path = _reset_path(outbox, user.email)
    assert browser.get(path[:-3] + "abc").status_code == 400  # tampered signature
    assert browser.get("/password/reset/" + "x" * 600).status_code == 400
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", -1)  # already past its age
    res = browser.get(path)
    assert res.status_code == 400 and "doesn" in res.get_data(as_text=True)


def test_reset_rejects_a_weak_new_password(browser, outbox, make_user):
    user = make_user()
    browser.post("/password/forgot", {"email": user.email})
    path = _reset_path(outbox, user.email)
    res = browser.post(path, {"password": "short", "confirm": "short"})
    assert res.status_code == 400 and "at least 8" in res.get_data(as_text=True)
    assert browser.login(user.email, user.password).status_code == 302


def test_password_reset_is_rate_limited(browser):
    for _ in range(5):
        assert browser.post("/password/forgot", {"email": "x@example.com"}).status_code == 302
    assert browser.post("/password/forgot", {"email": "x@example.com"}).status_code == 429


def test_changing_password_logs_out_every_session(app, browser, make_user):
    user = make_user()
    other_device = type(browser)(app)
    other_device.login(user.email, remember=True)
    browser.login(user.email)
    res = browser.post("/account/password", {"current": user.password, "password": NEW, "confirm": NEW})
    assert res.status_code == 302
    assert other_device.current_nickname() is None  # the other session and its remember cookie are dead
    assert browser.current_nickname() is None
    assert browser.login(user.email, NEW).status_code == 302


def test_changing_password_needs_the_current_one(app, browser, make_user):
    user = make_user()
    browser.login(user.email)
    res = browser.post("/account/password", {"current": "not my password", "password": NEW, "confirm": NEW})
    assert res.status_code == 400 and "current password is not correct" in res.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user.id).password_hash  # unchanged: old password still works
    browser.logout()
    assert browser.login(user.email, user.password).status_code == 302
