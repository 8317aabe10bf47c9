"""The "Linked accounts" card: see, link another, unlink (never the last way in)."""
from shop.accounts.models import User
from shop.social.models import SocialAccount


def _social_only_user(social, browser):
    """Signs up with Google: an account without a password, logged in."""
    assert social.login("google").headers["Location"] == "/"
    return browser


def test_profile_lists_linked_and_linkable_providers(social, browser, make_user):
    _social_only_user(social, browser)
    page = browser.get("/account").get_data(as_text=True)
    assert "Linked accounts" in page
    assert "gamer@example.com · since" in page
    assert 'action="/account/social/google/unlink"' in page
    for name in ("github", "kakao", "naver"):
        assert f'action="/account/social/{name}/link"' in page
    assert "Your account has no password" in page


def test_link_another_provider_from_the_profile(social, browser, make_user, local_provider, db_get):
    user = make_user(email="pat@example.com", nickname="Pat")
    browser.login(user.email)
    local_provider.person.email = "pat.kakao@example.com"  # need not match the account's email
    res = social.link("kakao")
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    assert "Kakao is linked. You can log in with it from now on." in social.flashes(social.follow(res))
    assert db_get(SocialAccount, provider="kakao")["user_id"] == user.id
    browser.logout()
    assert social.login("kakao").headers["Location"] == "/"
    assert browser.current_nickname() == "Pat"


def test_linking_an_account_linked_to_someone_else_is_refused(social, browser, make_user, db_get, count):
    _social_only_user(social, browser)  # Google account 10001 now belongs to the new user
    browser.logout()
    other = make_user(email="other@example.com")
    browser.login(other.email)
    res = social.link("google")
    assert res.headers["Location"] == "/account"
    assert "That Google account is already linked to another Playcation account." in \
        social.flashes(social.follow(res))
    assert count(SocialAccount, SocialAccount.user_id == other.id) == 0


def test_link_failure_returns_to_the_profile_with_a_message(social, browser, make_user, local_provider, count):
    user = make_user()
    browser.login(user.email)
    local_provider.consent = "deny"
    res = social.link("github")
    assert res.headers["Location"] == "/account"
    assert "You cancelled signing in with GitHub." in social.flashes(social.follow(res))
    assert count(SocialAccount) == 0 and browser.current_nickname() == user.nickname


def test_unlink_with_a_password(social, browser, make_user, count):
    user = make_user()
    browser.login(user.email)
    social.link("naver")
    res = browser.post("/account/social/naver/unlink")
    assert res.headers["Location"] == "/account"
    assert "Naver is unlinked." in social.flashes(social.follow(res))
    assert count(SocialAccount) == 0


def test_unlink_refused_for_the_last_way_to_log_in(social, browser, count):
    _social_only_user(social, browser)
    res = browser.post("/account/social/google/unlink")
    assert "That is your only way to log in." in social.flashes(social.follow(res))
    assert count(SocialAccount) == 1


def test_unlink_allowed_while_another_provider_remains(social, browser, local_provider, count, db_get):
    _social_only_user(social, browser)
    social.link("kakao")
    assert count(SocialAccount) == 2
    assert "Google is unlinked." in social.flashes(social.follow(browser.post("/account/social/google/unlink")))
    res = browser.post("/account/social/kakao/unlink")
    assert "That is your only way to log in." in social.flashes(social.follow(res))
    assert db_get(SocialAccount, provider="kakao") is not None


def test_unlink_what_is_not_linked(browser, make_user, social):
    user = make_user()
    browser.login(user.email)
    res = browser.post("/account/social/github/unlink")
    assert "That account is not linked." in social.flashes(social.follow(res))


def test_purging_an_account_forgets_its_links(app, social, browser, count, db_get):
    from shop.accounts.profile import purge_user
    from shop.extensions import db

    _social_only_user(social, browser)
    user_id = db_get(User, email="gamer@example.com")["id"]
    with app.app_context():
        purge_user(db.session.get(User, user_id))
    assert count(SocialAccount) == 0
    browser.logout()
    res = social.login("google")  # the same Google account starts afresh
    assert res.headers["Location"] == "/"
    assert count(User) == 2


def test_unverified_user_logging_in_with_a_link_is_sent_to_verify(social, browser, make_user):
    user = make_user(verified=False)
    browser.login(user.email)
    social.link("kakao")
    browser.logout()
    res = social.login("kakao", next="/account")
    assert res.headers["Location"].startswith("/verify?next=")
