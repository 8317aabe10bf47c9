"""When the round trip goes wrong: a clear message on the login page, nobody logged
in, nothing created."""
import time

import pytest

from shop.accounts.models import User
from shop.social.models import SocialAccount

from .conftest import query_of


@pytest.fixture
def nothing_happened(browser, count, social):
    """Assert: landed on /login with `message` shown, no account, no link, not logged in."""

    def check(res, message):
        assert res.status_code == 302 and res.headers["Location"] == "/login"
        page = social.follow(res)
        assert message in social.flashes(page), social.flashes(page)
        assert 'class="flash flash-error"' in page.get_data(as_text=True)
        assert count(User) == 0 and count(SocialAccount) == 0
        assert browser.current_nickname() is None

    return check


@pytest.mark.parametrize("name,label", [("google", "Google"), ("kakao", "Kakao")])
def test_denied_consent(social, local_provider, nothing_happened, name, label):
    local_provider.consent = "deny"
    res = social.login(name)
    assert "error=access_denied" in social.last_callback
    nothing_happened(res, f"You cancelled signing in with {label}. Nothing was changed.")
    assert local_provider.token_requests == []


def test_provider_error_response_on_the_callback(social, local_provider, nothing_happened):
    local_provider.consent = "temporarily_unavailable"
    res = social.login("google")
    nothing_happened(res, "Google could not complete the sign-in. Please try again in a moment.")


def test_provider_refuses_the_code_at_the_token_endpoint(social, local_provider, nothing_happened):
    local_provider.token_error = "invalid_grant"
    res = social.login("naver")
    nothing_happened(res, "Naver could not complete the sign-in.")


def test_forged_state(social, local_provider, nothing_happened):
    """A callback whose state this browser never got: e.g. an attacker's own code (login CSRF)."""
    start = social.start("kakao")
    callback = social.consent(start.headers["Location"])
    res = social.callback(callback.replace("state=", "state=forged"))
    nothing_happened(res, "That Kakao sign-in expired or was not started here. Please try again.")
    assert local_provider.token_requests == []  # the code was never even spent


def test_attackers_callback_in_a_victims_browser(app, social, local_provider, nothing_happened):
    """The attacker starts a login in their own browser and sends the callback URL to the victim."""
    from tests.support.browser import Browser

    attacker = type(social)(Browser(app), local_provider)
    callback = attacker.consent(attacker.start("google").headers["Location"])
    nothing_happened(social.callback(callback), "That Google sign-in expired or was not started here.")


def test_expired_state_session_lost(social, browser, local_provider, nothing_happened):
    start = social.start("google")
    callback = social.consent(start.headers["Location"])
    browser.client.delete_cookie("session")  # the browser was closed, or the cookie expired
    nothing_happened(social.callback(callback), "That Google sign-in expired or was not started here.")


def test_expired_state_too_old(app, social, browser, nothing_happened):
    start = social.start("github")
    callback = social.consent(start.headers["Location"])
    with browser.client.session_transaction() as s:  # as if SOCIAL_STATE_TTL had passed at the provider
        for key in [k for k in s if k.startswith("_state_github_")]:
            s[key] = {**s[key], "exp": time.time() - 1}
    nothing_happened(social.callback(callback), "That GitHub sign-in expired or was not started here.")


def test_state_is_single_use(social, browser):
    start = social.start("google")
    callback = social.consent(start.headers["Location"])
    assert social.callback(callback).headers["Location"] == "/"
    browser.logout()
    res = social.callback(callback)  # replayed
    assert res.headers["Location"] == "/login"
    assert "expired or was not started here" in social.flashes(social.follow(res))


def test_provider_timeout(social, local_provider, nothing_happened):
    local_provider.delay = 5  # the app waits SOCIAL_HTTP_TIMEOUT (1 s in these tests)
    began = time.monotonic()
    res = social.login("kakao")
    assert time.monotonic() - began < 4
    nothing_happened(res, "Kakao did not answer in time. Please try again in a moment.")


def test_provider_down_when_starting(app, browser, local_provider):
    from shop import create_app
    from shop.config import TestingConfig

    from .conftest import SHARED

    nobody_home = "http://127.0.0.1:9/.well-known/openid-configuration"  # the discard port: refused
    config = {**local_provider.app_config(), "GOOGLE_DISCOVERY_URL": nobody_home}
    down = create_app(TestingConfig, **{k: app.config[k] for k in SHARED}, **config, SOCIAL_HTTP_TIMEOUT=1.0)
    down.test_client_class = app.test_client_class  # English, as the suite's browser
    client = down.test_client()
    res = client.get("/login/google")
    assert res.status_code == 302 and res.headers["Location"] == "/login"
    assert "Google did not answer in time" in client.get("/login").get_data(as_text=True)


def test_code_from_another_attempt_is_refused(social, browser, local_provider, nothing_happened):
    """A code from another login attempt pasted into this one: PKCE makes it useless."""
    other = query_of(social.consent(social.start("google").headers["Location"]))
    browser.client.delete_cookie("session")
    mine = query_of(social.consent(social.start("google").headers["Location"]))
    res = social.callback(f"/login/google/callback?code={other['code']}&state={mine['state']}")
    nothing_happened(res, "Google could not complete the sign-in.")
    assert local_provider.token_requests[-1]["code_verifier"]


def test_id_token_with_another_nonce_is_refused(social, local_provider, nothing_happened):
    local_provider.wrong_nonce = True
    nothing_happened(social.login("google"), "Google could not complete the sign-in.")


def test_unknown_provider_is_404(browser):
    assert browser.get("/login/myspace").status_code == 404
    assert browser.get("/login/myspace/callback?code=x&state=y").status_code == 404
