"""Log out logs out: the browser's session and its remember-me cookie both end, and so
does every copy of either cookie taken before (the login's record is deleted)."""
import pytest

from ..support.browser import Browser

REMEMBER = "remember_token"


def _cookie(browser, name):
    cookie = browser.client.get_cookie(name)
    return cookie.value if cookie else None


def _with_cookies(app, **cookies) -> Browser:
    """Another browser holding copies of these cookies only."""
    thief = Browser(app)
    for name, value in cookies.items():
        thief.client.set_cookie(name, value)
    return thief


@pytest.mark.parametrize("remember", [False, True], ids=["plain", "keep-me-logged-in"])
def test_log_out_leaves_the_browser_anonymous(browser, make_user, remember):
    user = make_user()
    browser.login(user.email, remember=remember)
    assert (_cookie(browser, REMEMBER) is not None) is remember
    assert browser.get("/account").status_code == 200
    res = browser.logout()
    assert res.status_code == 302
    if remember:  # Flask-Login's instruction survived the log-out: the cookie is deleted
        assert any(c.startswith(f"{REMEMBER}=;") for c in res.headers.getlist("Set-Cookie"))
    assert _cookie(browser, REMEMBER) is None
    res = browser.get("/account")  # the next request is not logged back in from a cookie
    assert res.status_code == 302 and res.headers["Location"].startswith("/login")
    assert browser.current_nickname() is None


def test_a_session_cookie_copy_taken_before_log_out_is_refused_after(app, browser, make_user):
    user = make_user()
    browser.login(user.email)
    copy = _with_cookies(app, session=_cookie(browser, "session"))
    assert copy.current_nickname() == user.nickname  # the copy works while the login lives
    browser.logout()
    assert copy.get("/account").status_code == 302
    assert copy.current_nickname() is None


def test_a_remember_cookie_copy_taken_before_log_out_is_refused_after(app, browser, make_user):
    user = make_user()
    browser.login(user.email, remember=True)
    stolen = _cookie(browser, REMEMBER)
    before = _with_cookies(app, **{REMEMBER: stolen})
    assert before.current_nickname() == user.nickname  # alone, it logs a browser in
    browser.logout()
    after = _with_cookies(app, **{REMEMBER: stolen})
    assert after.get("/account").status_code == 302
    assert after.current_nickname() is None
    assert before.current_nickname() is None  # the session it had opened ended too


def test_logging_out_one_browser_leaves_the_others_logged_in(app, browser, make_user):
    user = make_user()
    phone = Browser(app)
    phone.login(user.email, remember=True)
    browser.login(user.email)
    browser.logout()
    assert browser.current_nickname() is None
    assert phone.current_nickname() == user.nickname


def test_every_login_path_ends_on_log_out(app, browser, outbox):
    """Sign-up logs the new user in through the same login record."""
    browser.signup(email="fresh@example.com", nickname="Fresh")
    copy = _with_cookies(app, session=_cookie(browser, "session"))
    assert copy.get("/verify").status_code == 200  # logged in (and asked for the code)
    browser.logout()
    assert copy.get("/verify").status_code == 302
