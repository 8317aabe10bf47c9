"""Logging in and signing up with a provider: the real redirect → consent → callback →
token → profile path against the local provider."""
import pytest

from shop.accounts.models import User
from shop.social.models import SocialAccount

from .conftest import query_of


def test_new_account_via_openid_connect(social, browser, count, db_get, local_provider):
    local_provider.person.email = "Lara@Example.com"
    local_provider.person.name = "Lara"
    res = social.login("google")
    assert res.status_code == 302 and res.headers["Location"] == "/"
    assert "Welcome, Lara! Your account is ready." in social.flashes(social.follow(res))
    assert browser.current_nickname() == "Lara"
    user = db_get(User, email="lara@example.com")
    assert user["password_hash"] is None and user["email_verified_at"] is not None
    link = db_get(SocialAccount, user_id=user["id"])
    assert (link["provider"], link["subject"], link["email"]) == ("google", "10001", "lara@example.com")


def test_openid_connect_sends_state_nonce_and_pkce(social, local_provider):
    social.login("google")
    sent = local_provider.authorize_requests[-1]
    assert sent["state"] and sent["nonce"] and sent["scope"] == "openid email profile"
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
    assert sent["redirect_uri"] == "http://localhost/login/google/callback"
    assert local_provider.token_requests[-1]["code_verifier"]  # checked by the provider against the challenge
    assert "client_secret" not in local_provider.token_requests[-1]  # Google: HTTP Basic


@pytest.mark.parametrize("name,pkce", [("github", True), ("kakao", True), ("naver", False)])
def test_plain_oauth2_providers_send_state_and_pkce_where_supported(social, local_provider, name, pkce):
    social.login(name)
    sent = local_provider.authorize_requests[-1]
    assert sent["state"] and "nonce" not in sent
    assert ("code_challenge" in sent) is pkce
    assert local_provider.token_requests[-1]["client_secret"] == f"{name}-secret"


def test_returning_user_logs_in_with_the_linked_account(app, social, browser, count):
    social.login("google")
    browser.logout()
    res = social.login("google")
    assert res.headers["Location"] == "/"
    assert "Logged in as Gamer." in social.flashes(social.follow(res))
    assert count(User) == 1 and count(SocialAccount) == 1


def test_login_keeps_next_and_starts_a_new_session(social, browser):
    browser.get("/login")
    with browser.client.session_transaction() as s:
        s["planted"] = "by an attacker"
    res = social.login("google", next="/account")
    assert res.headers["Location"] == "/account"
    with browser.client.session_transaction() as s:
        assert "planted" not in s and "social_pending" not in s


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/"])
def test_next_only_goes_to_our_own_paths(social, next_url):
    res = social.login("google", next=next_url)
    assert res.headers["Location"] == "/"


def test_kakao_profile_with_verified_email(social, db_get, local_provider):
    local_provider.person.name = "카카오친구"
    res = social.login("kakao")
    assert res.headers["Location"] == "/"
    user = db_get(User, email="gamer@example.com")
    assert user["nickname"] == "카카오친구"
    assert db_get(SocialAccount, provider="kakao")["subject"] == "10001"


def test_github_uses_the_primary_verified_email(social, db_get, local_provider):
    res = social.login("github")
    assert res.headers["Location"] == "/"
    assert db_get(SocialAccount, provider="github")["user_id"] == db_get(User, email="gamer@example.com")["id"]


def test_github_unverified_email_is_not_trusted(social, count, local_provider):
    local_provider.person.email_verified = False
    res = social.login("github")
    assert res.headers["Location"] == "/login/github/email"
    assert count(User) == 0


def test_nickname_is_asked_when_the_provider_has_none(social, browser, db_get, local_provider):
    local_provider.person.name = None
    res = social.login("kakao")
    assert res.headers["Location"] == "/login/kakao/nickname"
    assert db_get(User, email="gamer@example.com") is None  # nothing yet
    page = browser.get("/login/kakao/nickname")
    assert page.status_code == 200 and "Choose a nickname" in page.get_data(as_text=True)
    res = browser.post("/login/kakao/nickname", {"nickname": "x"})
    assert res.status_code == 400 and "Nicknames are 2–20" in res.get_data(as_text=True)
    res = browser.post("/login/kakao/nickname", {"nickname": "Kakao Kid"})
    assert res.status_code == 302 and res.headers["Location"] == "/"
    assert browser.current_nickname() == "Kakao Kid"
    assert db_get(User, email="gamer@example.com")["email_verified_at"] is not None


def test_a_nickname_our_rules_refuse_is_asked_again_prefilled(social, browser, local_provider):
    local_provider.person.name = "A very long display name from Google"
    res = social.login("google")
    assert res.headers["Location"] == "/login/google/nickname"
    assert 'value="A very long display "' in browser.get(res.headers["Location"]).get_data(as_text=True)


def test_provider_without_email_asks_for_one_and_verifies_it(social, browser, outbox, count, db_get,
                                                             local_provider):
    local_provider.person.email = None  # Kakao lets users refuse the email consent item
    res = social.login("kakao")
    assert res.headers["Location"] == "/login/kakao/email"
    assert "did not give us a verified email" in browser.get("/login/kakao/email").get_data(as_text=True)
    res = browser.post("/login/kakao/email", {"email": "Mine@Example.com"})
    assert res.status_code == 302
    page = browser.get("/login/kakao/email").get_data(as_text=True)
    assert "We sent a 6-digit code to <strong>mine@example.com</strong>" in page
    assert count(User) == 0
    assert browser.post("/login/kakao/email/code", {"code": "000000"}).status_code == 400
    res = browser.post("/login/kakao/email/code", {"code": outbox.last_code("mine@example.com")})
    assert res.status_code == 302 and res.headers["Location"] == "/"
    user = db_get(User, email="mine@example.com")
    assert user["email_verified_at"] is not None and user["nickname"] == "Gamer"
    assert db_get(SocialAccount, provider="kakao")["email"] is None
    assert browser.current_nickname() == "Gamer"


def test_naver_email_is_prefilled_and_confirmed_by_code(social, browser, outbox, db_get):
    res = social.login("naver")
    assert res.headers["Location"] == "/login/naver/email"
    assert 'value="gamer@example.com"' in browser.get("/login/naver/email").get_data(as_text=True)
    browser.post("/login/naver/email", {"email": "gamer@example.com"})
    res = browser.post("/login/naver/email/code", {"code": outbox.last_code("gamer@example.com")})
    assert res.headers["Location"] == "/"
    assert db_get(SocialAccount, provider="naver")["subject"] == "naver-10001"


def test_buttons_show_only_configured_providers(app, browser):
    page = browser.get("/login").get_data(as_text=True)
    for name in ("Google", "GitHub", "Kakao", "Naver"):
        assert f"Continue with {name}" in page
    assert "css/social.css" in page
    assert "Continue with Kakao" in browser.get("/signup").get_data(as_text=True)

    from shop import create_app
    from shop.config import TestingConfig

    only_kakao = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                            REDIS_URL=app.config["REDIS_URL"], GOOGLE_CLIENT_ID=None, GITHUB_CLIENT_ID=None,
                            NAVER_CLIENT_ID="id-without-secret", NAVER_CLIENT_SECRET=None,
                            KAKAO_CLIENT_ID="k", KAKAO_CLIENT_SECRET="s")
    page = only_kakao.test_client().get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Continue with Kakao" in page
    assert "Continue with Google" not in page and "Continue with Naver" not in page
    assert only_kakao.test_client().get("/login/google").status_code == 404


def test_the_login_page_passes_next_to_the_buttons(browser):
    page = browser.get("/login?next=/cart").get_data(as_text=True)
    assert 'href="/login/google?next=/cart"' in page or 'href="/login/google?next=%2Fcart"' in page


def test_logged_in_users_are_not_sent_to_the_provider(social, browser, make_user):
    user = make_user()
    browser.login(user.email)
    res = social.start("google", next="/account")
    assert res.status_code == 302 and res.headers["Location"] == "/account"


def test_password_login_still_works_for_others(social, browser, make_user):
    social.login("google")  # a password-less account exists
    browser.logout()
    user = make_user(email="classic@example.com")
    assert browser.login(user.email).status_code == 302
    browser.logout()
    res = browser.login("gamer@example.com", "a long passphrase 1")
    assert res.status_code == 400 and "Email or password is not correct." in res.get_data(as_text=True)


def test_callback_query_carries_code_and_state(social):
    social.login("google")
    assert {"code", "state"} <= set(query_of(social.last_callback))


def test_github_without_an_email_asks_for_one(social, local_provider):
    local_provider.person.email = None
    assert social.login("github").headers["Location"] == "/login/github/email"


def test_a_social_login_has_its_own_login_record(app, social, browser, redis):
    """Social log-in goes through the same login records: listed on the account page,
    and its cookies (and every copy) end on log-out."""
    from ..support.browser import Browser

    social.login("google")
    with browser.client.session_transaction() as s:
        uid, _, sid = s["_user_id"].split(":")
    assert redis.exists(f"login:{{{uid}}}:{sid}")
    assert f'data-login="{sid}"' in browser.get("/account").get_data(as_text=True)
    copy = Browser(app)
    copy.client.set_cookie("session", browser.client.get_cookie("session").value)
    assert copy.current_nickname() == "Gamer"
    browser.logout()
    assert copy.current_nickname() is None
