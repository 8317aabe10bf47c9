"""Log in, log out, remember-me, `next`, session renewal and rate limits."""
import pytest


def test_login_and_logout(browser, make_user):
    user = make_user(nickname="Lara")
    res = browser.login(user.email)
    assert res.status_code == 302 and res.headers["Location"] == "/"
    assert browser.current_nickname() == "Lara"
    browser.logout()
    assert browser.current_nickname() is None


def test_login_is_case_insensitive_on_email(browser, make_user):
    user = make_user(email="mixed@example.com")
    assert browser.login("MIXED@Example.com").status_code == 302


@pytest.mark.parametrize("email,password", [
    ("nobody@example.com", "a long passphrase 1"),
    ("known@example.com", "wrong password!!"),
])
def test_wrong_credentials_get_one_generic_message(browser, make_user, email, password):
    make_user(email="known@example.com")
    res = browser.login(email, password)
    assert res.status_code == 400
    assert "Email or password is not correct." in res.get_data(as_text=True)
    assert browser.current_nickname() is None


def test_login_starts_a_new_session(browser, make_user):
    user = make_user()
    browser.get("/login")
    with browser.client.session_transaction() as s:
        s["planted"] = "by an attacker"
    browser.login(user.email)
    with browser.client.session_transaction() as s:
        assert "planted" not in s
        assert s["_user_id"].startswith(f"{user.id}:")


def test_logout_requires_post_with_csrf(browser, make_user):
    user = make_user()
    browser.login(user.email)
    assert browser.get("/logout").status_code == 405
    assert browser.post("/logout", csrf=False).status_code == 400
    assert browser.current_nickname() == user.nickname


def test_remember_me_sets_a_long_lived_cookie(browser, make_user):
    user = make_user()
    res = browser.login(user.email, remember=True)
    cookies = " ".join(res.headers.getlist("Set-Cookie"))
    assert "remember_token=" in cookies and "HttpOnly" in cookies
    plain = make_user()
    other = type(browser)(browser.app)
    res = other.login(plain.email)
    assert "remember_token=" not in " ".join(res.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize("next_url,expected", [
    ("/account", "/account"),
    ("/account?tab=1", "/account?tab=1"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("http:/evil", "/"),
])
def test_next_only_goes_to_our_own_paths(browser, make_user, next_url, expected):
    user = make_user()
    res = browser.post("/login?" + __import__("urllib.parse").parse.urlencode({"next": next_url}),
                       {"email": user.email, "password": user.password})
    assert res.status_code == 302
    assert res.headers["Location"] == expected


def test_unverified_user_is_sent_to_verify_after_login(browser, make_user):
    user = make_user(verified=False)
    res = browser.login(user.email)
    assert res.status_code == 302 and res.headers["Location"].startswith("/verify")


def test_login_is_rate_limited_per_ip(browser, make_user):
    user = make_user()
    for _ in range(10):
        assert browser.login(user.email, "wrong password!!").status_code == 400
    res = browser.login(user.email)  # even the right password waits now
    assert res.status_code == 429
    assert "Too many attempts" in res.get_data(as_text=True)


def test_login_is_rate_limited_per_account_across_ips(app, make_user):
    from .._ip import browser_from

    user = make_user()
    for i in range(10):
        b = browser_from(app, f"10.0.0.{i + 1}")
        assert b.login(user.email, "wrong password!!").status_code == 400
    assert browser_from(app, "10.0.1.1").login(user.email).status_code == 429
    other = make_user()
    assert browser_from(app, "10.0.1.2").login(other.email).status_code == 302


def test_signup_is_rate_limited(browser):
    for i in range(5):
        assert browser.signup(email=f"bot{i}@example.com").status_code == 302
        browser.logout()
    res = browser.signup(email="bot9@example.com")
    assert res.status_code == 429


def test_password_hash_is_argon2id_at_asvs_strength(app, make_user):
    from shop.accounts.models import User
    from shop.extensions import db

    user = make_user()
    with app.app_context():
        stored = db.session.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2 and int(params["p"]) >= 1
