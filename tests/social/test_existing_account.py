"""A provider's email that matches an existing account links only after the visitor
proves that account (password, or a code sent to it): never a silent takeover."""
import pytest

from shop.accounts.models import User
from shop.social.models import SocialAccount


@pytest.fixture
def existing(make_user, local_provider):
    """Alex has a password account; Google says its user has the same, verified, email."""
    user = make_user(email="alex@example.com", nickname="Alex")
    local_provider.person.email = "alex@example.com"
    return user


def _at_prove_page(social, name="google"):
    res = social.login(name)
    assert res.status_code == 302 and res.headers["Location"] == f"/login/{name}/prove"
    return res


def test_matching_email_asks_for_proof_and_links_nothing_yet(social, browser, existing, count):
    _at_prove_page(social)
    assert count(SocialAccount) == 0 and count(User) == 1
    assert browser.current_nickname() is None  # not logged in either
    page = browser.get("/login/google/prove").get_data(as_text=True)
    assert "Is this your account?" in page and "alex@example.com" in page
    assert "Link with my password" in page and "Email me a code" in page


def test_proof_by_password_links_and_logs_in(social, browser, existing, db_get):
    _at_prove_page(social)
    res = browser.post("/login/google/prove", {"password": existing.password})
    assert res.status_code == 302 and res.headers["Location"] == "/"
    assert "Google is now linked to your account. Logged in as Alex." in social.flashes(social.follow(res))
    assert db_get(SocialAccount, provider="google")["user_id"] == existing.id
    browser.logout()
    assert social.login("google").headers["Location"] == "/"  # from now on, no questions
    assert browser.current_nickname() == "Alex"


def test_wrong_password_links_nothing(social, browser, existing, count):
    _at_prove_page(social)
    res = browser.post("/login/google/prove", {"password": "not the password"})
    assert res.status_code == 400 and "That password is not correct." in res.get_data(as_text=True)
    assert count(SocialAccount) == 0 and browser.current_nickname() is None


def test_proof_by_email_code(social, browser, existing, outbox, db_get):
    _at_prove_page(social, "kakao")
    res = browser.post("/login/kakao/prove/send")
    assert res.headers["Location"] == "/login/kakao/prove"
    assert "We emailed a 6-digit code to alex@example.com." in social.flashes(social.follow(res))
    assert browser.post("/login/kakao/prove/code", {"code": "000000"}).status_code == 400
    assert db_get(SocialAccount, provider="kakao") is None
    res = browser.post("/login/kakao/prove/code", {"code": outbox.last_code("alex@example.com")})
    assert res.headers["Location"] == "/"
    assert db_get(SocialAccount, provider="kakao")["user_id"] == existing.id
    assert browser.current_nickname() == "Alex"
    assert db_get(User, id=existing.id)["password_hash"] is not None  # a verified owner keeps it


def test_a_code_for_another_purpose_is_no_proof(social, browser, existing, app, db_get):
    """Only a code sent by the prove step counts, not e.g. an email-change code."""
    from shop.accounts import codes

    _at_prove_page(social)
    with app.test_request_context():
        other = codes.issue_code("email", existing.id, "alex@example.com")
    res = browser.post("/login/google/prove/code", {"code": other.code})
    assert res.status_code == 400 and db_get(SocialAccount, provider="google") is None


def test_squatted_unverified_account_is_claimed_by_proving_the_address(social, browser, make_user, outbox,
                                                                       local_provider, db_get):
    """Someone signed up with Alex's address and never verified it. Alex proves the
    address by code: the squatter's password goes and their sessions end."""
    squatter = make_user(email="alex@example.com", nickname="Squatter", verified=False)
    local_provider.person.email = "alex@example.com"
    from tests.support.browser import Browser

    squatter_browser = Browser(browser.app)
    squatter_browser.login(squatter.email)
    assert squatter_browser.current_nickname() == "Squatter"

    _at_prove_page(social)
    browser.post("/login/google/prove/send")
    res = browser.post("/login/google/prove/code", {"code": outbox.last_code("alex@example.com")})
    assert res.headers["Location"] == "/"
    user = db_get(User, id=squatter.id)
    assert user["password_hash"] is None and user["email_verified_at"] is not None
    assert squatter_browser.current_nickname() is None  # logged out everywhere
    assert squatter_browser.login(squatter.email).status_code == 400


def test_email_step_with_an_existing_accounts_address_links_after_the_code(social, browser, existing, outbox,
                                                                           local_provider, db_get, count):
    local_provider.person.email = None
    social.login("kakao")
    browser.post("/login/kakao/email", {"email": "alex@example.com"})
    res = browser.post("/login/kakao/email/code", {"code": outbox.last_code("alex@example.com")})
    assert res.headers["Location"] == "/"
    assert "Kakao is now linked to your account. Logged in as Alex." in social.flashes(social.follow(res))
    assert db_get(SocialAccount, provider="kakao")["user_id"] == existing.id and count(User) == 1


def test_withdrawn_account_is_restored_by_proving_it(social, browser, make_user, local_provider, db_get):
    from shop.timeutil import utcnow

    user = make_user(email="alex@example.com", status="withdrawn", withdrawn_at=utcnow())
    local_provider.person.email = "alex@example.com"
    _at_prove_page(social)
    res = browser.post("/login/google/prove", {"password": user.password})
    assert "Welcome back! Your account has been restored." in social.flashes(social.follow(res))
    assert db_get(User, id=user.id)["status"] == "active"


def test_account_with_this_provider_already_linked_is_not_linked_twice(social, browser, existing, db_get,
                                                                        local_provider):
    social.login("google")
    browser.post("/login/google/prove", {"password": existing.password})
    browser.logout()
    local_provider.person.sub = "20002"  # a second Google account with the same address
    _at_prove_page(social)
    res = browser.post("/login/google/prove", {"password": existing.password})
    assert res.status_code == 400
    assert "already has a Google account linked" in res.get_data(as_text=True)
    assert db_get(SocialAccount, subject="20002") is None


def test_prove_step_without_a_pending_sign_in(browser, social):
    res = browser.get("/login/google/prove")
    assert res.status_code == 302 and res.headers["Location"] == "/login"
    assert "That Google sign-in expired. Please start again." in social.flashes(social.follow(res))


def test_pending_sign_in_belongs_to_its_provider(social, browser, existing):
    _at_prove_page(social)
    res = browser.post("/login/kakao/prove", {"password": existing.password})
    assert res.status_code == 302 and res.headers["Location"] == "/login"
