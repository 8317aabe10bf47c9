"""A social log-in in Korean: the button, the flashes, and the `lang` cookie the
account's language gives the browser."""
from shop.accounts.models import User


def _lang_cookie(res):
    for header in res.headers.getlist("Set-Cookie"):
        if header.startswith("lang="):
            return header.split(";", 1)[0].split("=", 1)[1]
    return None


def test_social_sign_up_and_log_in_in_korean(social, browser, db_get, local_provider):
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ko-KR,ko;q=0.9"
    page = browser.get("/login").get_data(as_text=True)
    assert "카카오(으)로 계속하기" in page and "네이버(으)로 계속하기" in page
    local_provider.person.name = "하늘"
    res = social.login("kakao")
    assert res.status_code == 302 and _lang_cookie(res) == "ko"
    assert "하늘님, 환영해요! 계정이 만들어졌어요." in social.flashes(social.follow(res))
    assert db_get(User, nickname="하늘")["locale"] == "ko"
    browser.logout()
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # another browser language: the account wins
    res = social.login("kakao")
    assert _lang_cookie(res) == "ko"
    assert "하늘님으로 로그인했어요." in social.flashes(social.follow(res))


def test_social_failure_in_korean(social, browser):
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ko"
    callback = social.consent(social.start("google").headers["Location"])
    res = social.callback(callback.replace("state=", "state=forged"))
    assert "Google 로그인이 만료되었거나 이 사이트에서 시작된 요청이 아니에요." in social.flashes(social.follow(res))
