"""Who is an adult under the Youth Protection Act, and the birth-date check: consent,
the sandbox identity provider, its signed answer, bad input, withdrawal, access rules."""
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from shop.accounts import age
from shop.accounts.identity import SandboxIdentity
from shop.accounts.models import User
from shop.extensions import db
from shop.timeutil import seoul_today

from ..support.orders import ShopBrowser, Shopper


# --- the rule ------------------------------------------------------------------------------

@pytest.mark.parametrize("birth, today, adult", [
    # Born 2007: turns 19 in 2026, so an adult from 1 January 2026 whatever the birthday.
    (date(2007, 12, 31), date(2026, 1, 1), True),
    (date(2007, 12, 31), date(2025, 12, 31), False),   # the day before: still a youth
    (date(2007, 1, 1), date(2025, 12, 31), False),      # already 만 18 all year, not yet the year of 19
    (date(2008, 1, 1), date(2026, 12, 31), False),      # turns 19 only next year
    (date(2007, 6, 15), date(2026, 6, 14), True),       # 만 18 the day before the birthday: adult by the year rule
    (date(1990, 5, 17), date(2026, 12, 2), True),
    (date(2008, 2, 29), date(2027, 1, 1), True),        # a leap-day birthday: the year is what counts
])
def test_adult_from_the_first_of_january_of_the_year_of_19(birth, today, adult):
    assert age.adult_by_birth_date(birth, today) is adult


def test_only_a_verified_birth_date_counts(app, make_user):
    with app.app_context():
        adult = db.session.get(User, make_user(birth_date=date(1990, 1, 1)).id)
        assert age.is_adult(adult, date(2026, 1, 1))
        unverified = db.session.get(User, make_user().id)
        unverified.birth_date = date(1990, 1, 1)  # typed in, never confirmed by a provider
        assert not age.is_adult(unverified, date(2026, 1, 1))
        minor = db.session.get(User, make_user(birth_date=date(2010, 1, 1)).id)
        assert not age.is_adult(minor, date(2026, 1, 1))
        db.session.rollback()

    class Anonymous:
        is_authenticated = False

    assert not age.is_adult(Anonymous()) and not age.is_adult(None)


# --- the check, through the site ---------------------------------------------------------------

def _stored(app, user_id):
    with app.app_context():
        user = db.session.get(User, user_id)
        return user.birth_date, user.birth_date_verified_at, user.birth_date_consent_at, user.identity_provider


def verify(shopper, birth_date: str, name="Hong Gildong"):
    """Consent, the sandbox page, the return: what a user clicks. Returns the last response."""
    res = shopper.browser.post("/account/age", {"consent": "y"})
    assert res.status_code == 302 and res.headers["Location"].endswith("/identity/sandbox"), res.headers.get("Location")
    res = shopper.browser.post("/identity/sandbox", {"name": name, "birth_date": birth_date})
    if res.status_code != 302:
        return res
    return shopper.browser.get(res.headers["Location"])


def test_an_adult_verifies_with_consent_and_both_moments_are_kept(app, make_user):
    shopper = Shopper(app, make_user())
    res = verify(shopper, "1990-05-17")
    assert res.status_code == 302
    birth, verified_at, consent_at, provider = _stored(app, shopper.user.id)
    assert birth == date(1990, 5, 17) and provider == "sandbox"
    assert verified_at is not None and consent_at is not None and consent_at <= verified_at
    assert "You can buy and play adults-only games" in shopper.flashes()


def test_a_minor_is_verified_but_stays_a_minor(app, make_user):
    shopper = Shopper(app, make_user())
    year = seoul_today().year - 18  # turns 19 next year
    verify(shopper, f"{year}-01-01")
    assert _stored(app, shopper.user.id)[0] == date(year, 1, 1)
    assert "until the year you turn 19" in shopper.flashes()
    page = shopper.browser.get("/account/age").get_data(as_text=True)
    assert "adults-only games stay closed" in page


def test_no_consent_no_check(app, make_user):
    shopper = Shopper(app, make_user())
    res = shopper.browser.post("/account/age", {})
    assert res.status_code == 400
    assert "Agree to the storage of your birth date" in res.get_data(as_text=True)
    assert _stored(app, shopper.user.id) == (None, None, None, None)
    # Straight to the return URL with a valid answer but no consent: refused.
    with app.test_request_context():
        with app.app_context():
            user = db.session.get(User, shopper.user.id)
            token = SandboxIdentity().answer(user, "X", date(1990, 1, 1))
    res = shopper.browser.get(f"/account/age/return?token={token}")
    assert res.status_code == 302 and _stored(app, shopper.user.id)[0] is None


@pytest.mark.parametrize("typed, message", [
    ("17-05-1990", "Enter your birth date as YYYY-MM-DD"),
    ("1990-02-30", "Enter your birth date as YYYY-MM-DD"),
    ("1990-5-7", "Enter your birth date as YYYY-MM-DD"),
    ("9" * 5000, "Enter your birth date as YYYY-MM-DD"),
    ("1850-01-01", "Enter a birth date after 1900"),
    ((date.today() + timedelta(days=400)).isoformat(), "can&#39;t be in the future"),
    ("", "Enter your birth date."),
])
def test_bad_birth_dates_get_a_clear_message_and_change_nothing(app, make_user, typed, message):
    shopper = Shopper(app, make_user())
    res = verify(shopper, typed)
    assert res.status_code == 400
    assert message in res.get_data(as_text=True)
    assert _stored(app, shopper.user.id)[0] is None


def test_an_answer_cannot_be_forged_or_reused_by_another_account(app, make_user):
    owner = Shopper(app, make_user())
    owner.browser.post("/account/age", {"consent": "y"})
    res = owner.browser.post("/identity/sandbox", {"name": "A", "birth_date": "1990-01-01"})
    token = parse_qs(urlsplit(res.headers["Location"]).query)["token"][0]

    thief = Shopper(app, make_user())
    thief.browser.post("/account/age", {"consent": "y"})
    assert thief.browser.get(f"/account/age/return?token={token}").status_code == 302
    assert "could not be completed" in thief.flashes()
    assert _stored(app, thief.user.id)[0] is None

    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert owner.browser.get(f"/account/age/return?token={forged}").status_code == 302
    assert _stored(app, owner.user.id)[0] is None
    owner.browser.get(f"/account/age/return?token={token}")
    assert _stored(app, owner.user.id)[0] == date(1990, 1, 1)


def test_withdrawing_consent_deletes_the_birth_date(app, make_user):
    shopper = Shopper(app, make_user(birth_date=date(1990, 1, 1)))
    assert shopper.browser.post("/account/age/forget", csrf=False).status_code == 400
    assert _stored(app, shopper.user.id)[0] == date(1990, 1, 1)
    assert shopper.browser.post("/account/age/forget").status_code == 302
    assert _stored(app, shopper.user.id) == (None, None, None, None)


@pytest.mark.parametrize("method, url", [
    ("GET", "/account/age"), ("POST", "/account/age"), ("GET", "/account/age/return?token=x"),
    ("POST", "/account/age/forget"), ("GET", "/identity/sandbox"), ("POST", "/identity/sandbox"),
])
def test_anonymous_visitors_are_sent_to_log_in(app, method, url):
    browser = ShopBrowser(app)
    res = browser.get(url) if method == "GET" else browser.post(url, {"consent": "y"})
    assert res.status_code == 302 and "/login" in res.headers["Location"]


@pytest.mark.parametrize("url", ["/account/age", "/identity/sandbox"])
def test_posts_without_the_csrf_token_are_refused(app, make_user, url):
    shopper = Shopper(app, make_user())
    res = shopper.browser.post(url, {"consent": "y", "name": "A", "birth_date": "1990-01-01"}, csrf=False)
    assert res.status_code == 400
    assert _stored(app, shopper.user.id) == (None, None, None, None)


def test_the_sandbox_page_is_gone_with_a_real_provider(app, make_user):
    shopper = Shopper(app, make_user())
    app.config["IDENTITY_PROVIDER"], before = "pass", app.config["IDENTITY_PROVIDER"]
    try:
        assert shopper.browser.get("/identity/sandbox").status_code == 404
    finally:
        app.config["IDENTITY_PROVIDER"] = before


def test_the_age_page_reads_in_korean(app, make_user):
    shopper = Shopper(app, make_user(locale="ko"))
    page = shopper.browser.get("/account/age").get_data(as_text=True)
    assert "연령 인증" in page and "청소년이용불가" in page
