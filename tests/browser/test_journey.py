"""First journey, in a real browser against a real server and RQ worker: sign up,
read the code from the dev inbox, verify, log out via the user menu, log in again.
In each language (`lang`, see conftest.py): the page's words come from the catalog.
Screenshots: artifacts/screenshots/<lang>/journey/NN-*-{1280,390}.png."""
import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

EMAIL = "journey@example.com"
NICKNAME = "Journey"
PASSWORD = "correct horse battery staple"
CODE_RE = re.compile(r"\b(\d{6})\b")


def _field(form, name):
    """A form field by its name: labels also hold help text, and in Korean one label is
    the start of another (비밀번호, 비밀번호 확인)."""
    return form.locator(f"[name='{name}']")


def _open_newest_mail(page, to, timeout=15.0):
    """The worker sends mail asynchronously: reload the inbox until it shows up."""
    deadline = time.monotonic() + timeout
    rows = page.locator("table tbody tr").filter(has_text=to)
    while rows.count() == 0:
        assert time.monotonic() < deadline, f"no mail to {to} in the dev inbox after {timeout}s"
        page.wait_for_timeout(250)
        page.reload()
    return rows.first


def test_signup_verify_logout_login(page, shots, lang):
    # Home page, as a visitor: in the browser's language.
    page.goto("/")
    expect(page).to_have_title(re.compile("Playcation"))
    expect(page.locator("html")).to_have_attribute("lang", lang.code)
    expect(page.get_by_role("heading", level=1)).to_have_text(lang("Find your next favourite game."))
    shots(page, "home")

    # Header "Sign up" (a link styled as a button).
    page.get_by_role("banner").get_by_role("button", name=lang("Sign up")).click()
    expect(page).to_have_url(re.compile(r"/signup$"))
    expect(page.get_by_role("heading", name=lang("Create your account"))).to_be_visible()
    shots(page, "signup")

    form = page.get_by_role("main").locator("form")
    submit = form.get_by_role("button", name=lang("Sign up"))
    expect(form.locator("label[for=email]")).to_contain_text(lang("Email"))

    # Invalid input first: the form comes back with the errors next to the fields.
    _field(form, "email").fill("not-an-email")
    _field(form, "nickname").fill("x")
    _field(form, "password").fill("short")
    _field(form, "confirm").fill("different")
    submit.click()
    expect(page.get_by_text(lang("Enter a valid email address."))).to_be_visible()
    expect(page.get_by_text(lang("Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores."))).to_be_visible()
    expect(page.get_by_text(lang("Passwords need at least 8 characters and at most 128."))).to_be_visible()
    expect(page.get_by_text(lang("The passwords do not match."))).to_be_visible()
    expect(_field(form, "email")).to_have_attribute("aria-invalid", "true")
    shots(page, "signup-errors")

    # Now a valid sign-up.
    _field(form, "email").fill(EMAIL)
    _field(form, "nickname").fill(NICKNAME)
    _field(form, "password").fill(PASSWORD)
    _field(form, "confirm").fill(PASSWORD)
    submit.click()
    expect(page).to_have_url(re.compile(r"/verify(\?.*)?$"))
    expect(page.get_by_role("status")).to_contain_text(
        lang("Welcome, %(nickname)s! We emailed a 6-digit code to %(email)s.", nickname=NICKNAME, email=EMAIL))
    expect(page.get_by_role("heading", name=lang("Check your email"))).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(EMAIL)
    shots(page, "verify")

    # The dev inbox (footer link): the worker has sent the code through SMTP, in the
    # language the account signed up in.
    page.get_by_role("contentinfo").locator("a[href='/dev/inbox']").click()
    expect(page).to_have_url(re.compile(r"/dev/inbox$"))
    row = _open_newest_mail(page, EMAIL)
    shots(page, "dev-inbox")
    row.get_by_role("link").first.click()
    body = page.locator("pre.mail-text")
    expect(body).to_contain_text(lang("Your Playcation verification code is: %(code)s", code="").strip())
    code = CODE_RE.search(body.inner_text()).group(1)
    shots(page, "dev-message")

    # Back to /verify via the header's "Verify email" badge, and enter the code.
    page.get_by_role("banner").get_by_role("link", name=lang("Verify email")).click()
    expect(page).to_have_url(re.compile(r"/verify$"))
    _field(page.get_by_role("main").locator("form").first, "code").fill(code)
    page.get_by_role("button", name=lang("Verify"), exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(lang("Your email is verified. Happy playing!"))
    expect(page.get_by_role("banner").get_by_role("link", name=lang("Verify email"))).to_have_count(0)
    shots(page, "verified")

    # The account page, through the header's user menu.
    menu = page.get_by_role("banner").locator("details.dropdown")
    menu.locator("summary").click()
    account = menu.locator("a[href='/account']")
    expect(account).to_have_text(lang("Account"))
    shots(page, "user-menu")
    account.click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", name=lang("Your account"))).to_be_visible()
    expect(page.get_by_role("heading", name=NICKNAME)).to_be_visible()
    expect(page.locator(".profile-summary")).to_contain_text(lang("verified"))
    shots(page, "account")

    # Log out through the user menu.
    menu = page.get_by_role("banner").locator("details.dropdown")
    menu.locator("summary").click()
    menu.get_by_role("button", name=lang("Log out"), exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(lang("You have been logged out."))
    expect(page.get_by_role("banner").get_by_role("link", name=lang("Log in"))).to_be_visible()
    expect(page.get_by_role("banner")).not_to_contain_text(NICKNAME)
    shots(page, "logged-out")

    # Log in: a wrong password first.
    page.get_by_role("banner").get_by_role("link", name=lang("Log in")).click()
    expect(page.get_by_role("heading", name=lang("Log in"))).to_be_visible()
    shots(page, "login")
    login = page.get_by_role("main").locator("form")
    _field(login, "email").fill(EMAIL)
    _field(login, "password").fill(PASSWORD + "!")
    login.get_by_role("button", name=lang("Log in")).click()
    expect(page.get_by_text(lang("Email or password is not correct."))).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name=lang("Log in"))).to_be_visible()
    shots(page, "login-wrong-password")

    _field(login, "email").fill(EMAIL)
    _field(login, "password").fill(PASSWORD)
    login.get_by_role("button", name=lang("Log in")).click()
    expect(page.get_by_role("status")).to_contain_text(lang("Logged in as %(nickname)s.", nickname=NICKNAME))
    expect(page.get_by_role("banner").locator("summary.user-chip")).to_contain_text(NICKNAME)
    shots(page, "logged-in")

    # An unknown address gets the styled 404 page.
    response = page.goto("/no-such-page")
    assert response.status == 404
    expect(page.locator(".error-code")).to_have_text("404")
    shots(page, "not-found")

    assert page.problems.items == [], "\n".join(page.problems.items)


def test_mobile_home_and_signup(mobile_page, shots, lang):
    page = mobile_page
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shots(page, "mobile-home")
    page.get_by_role("banner").get_by_role("button", name=lang("Sign up")).click()
    expect(page.get_by_role("heading", name=lang("Create your account"))).to_be_visible()
    shots(page, "mobile-signup")
    # Nothing may overflow sideways on a phone.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the 390px viewport"
    assert page.problems.items == [], "\n".join(page.problems.items)
