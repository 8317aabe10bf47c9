"""Who may do what: one table of routes × visitors × expected answers."""
import pytest


@pytest.mark.parametrize("url", ["/account/social/google/link", "/account/social/google/unlink"])
def test_anonymous_cannot_link_or_unlink(browser, url):
    res = browser.post(url)
    assert res.status_code == 302 and res.headers["Location"].startswith("/login")


@pytest.mark.parametrize("url", ["/account/social/kakao/link", "/account/social/kakao/unlink"])
def test_link_and_unlink_need_csrf(browser, make_user, url, local_provider):
    user = make_user()
    browser.login(user.email)
    res = browser.post(url, csrf=False)
    assert res.status_code == 400
    assert "Your form expired or was sent from elsewhere" in res.get_data(as_text=True)
    assert local_provider.authorize_requests == []


@pytest.mark.parametrize("url", ["/account/social/kakao/link", "/account/social/kakao/unlink"])
def test_link_and_unlink_are_post_only(browser, make_user, url):
    user = make_user()
    browser.login(user.email)
    assert browser.get(url).status_code == 405


@pytest.mark.parametrize("url,status", [
    ("/account/social/myspace/link", 404),
    ("/account/social/myspace/unlink", 404),
])
def test_unknown_provider(browser, make_user, url, status):
    user = make_user()
    browser.login(user.email)
    assert browser.post(url).status_code == status


@pytest.mark.parametrize("url,data", [
    ("/login/google/prove", {"password": "whatever it is"}),
    ("/login/google/prove/send", {}),
    ("/login/google/prove/code", {"code": "123456"}),
    ("/login/google/nickname", {"nickname": "Sneaky"}),
    ("/login/google/email", {"email": "x@example.com"}),
    ("/login/google/email/code", {"code": "123456"}),
])
def test_steps_need_a_pending_sign_in(browser, social, count, url, data):
    from shop.accounts.models import User

    res = browser.post(url, data)
    assert res.status_code == 302 and res.headers["Location"] == "/login"
    assert "sign-in expired" in social.flashes(social.follow(res))
    assert count(User) == 0


@pytest.mark.parametrize("url", ["/login/kakao/nickname", "/login/kakao/email", "/login/kakao/prove/send",
                                 "/login/kakao/email/code"])
def test_step_posts_need_csrf(browser, social, local_provider, url):
    local_provider.person.email = None
    local_provider.person.name = None
    social.login("kakao")
    res = browser.post(url, {"nickname": "Sneaky", "email": "x@example.com", "code": "123456"}, csrf=False)
    assert res.status_code == 400
    assert "Your form expired or was sent from elsewhere" in res.get_data(as_text=True)


def test_pending_sign_in_expires(social, browser, local_provider):
    local_provider.person.name = None
    social.login("kakao")
    with browser.client.session_transaction() as s:
        s["social_pending"] = {**s["social_pending"], "expires": 0}
    res = browser.post("/login/kakao/nickname", {"nickname": "Late Comer"})
    assert res.headers["Location"] == "/login"
