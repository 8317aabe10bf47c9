"""First journey, in a real browser against a real server and RQ worker: sign up,
read the code from the dev inbox, verify, log out via the user menu, log in again."""
import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

EMAIL = "journey@example.com"
NICKNAME = "Journey"
PASSWORD = "correct horse battery staple"
CODE_RE = re.compile(r"\b(\d{6})\b")


def _label(text):
    """A form field by the start of its label (labels also hold the help text)."""
    return re.compile(rf"^\s*{re.escape(text)}")


def _open_newest_mail(page, to, timeout=15.0):
    """The worker sends mail asynchronously: reload the inbox until it shows up."""
    deadline = time.monotonic() + timeout
    rows = page.locator("table tbody tr").filter(has_text=to)
    while rows.count() == 0:
        assert time.monotonic() < deadline, f"no mail to {to} in the dev inbox after {timeout}s"
        page.wait_for_timeout(250)
        page.reload()
    return rows.first


def test_signup_verify_logout_login(page, shots):
    # Home page, as a visitor.
    page.goto("/")
    expect(page).to_have_title(re.compile("Playcation"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Find your next favourite game.")
    shots(page, "home")

    # Header "Sign up" (a link styled as a button).
    page.get_by_role("banner").get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/signup$"))
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    shots(page, "signup")

    form = page.get_by_role("main").locator("form")
    submit = form.get_by_role("button", name="Sign up")

    # Invalid input first: the form comes back with the errors next to the fields.
    form.get_by_label(_label("Email")).fill("not-an-email")
    form.get_by_label(_label("Nickname")).fill("x")
    form.get_by_label(_label("Password")).fill("short")
    form.get_by_label(_label("Repeat password")).fill("different")
    submit.click()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    expect(page.get_by_text("Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores.")).to_be_visible()
    expect(page.get_by_text("Passwords need at least 8 characters and at most 128.")).to_be_visible()
    expect(page.get_by_text("The passwords do not match.")).to_be_visible()
    expect(form.get_by_label(_label("Email"))).to_have_attribute("aria-invalid", "true")
    shots(page, "signup-errors")

    # Now a valid sign-up.
    form.get_by_label(_label("Email")).fill(EMAIL)
    form.get_by_label(_label("Nickname")).fill(NICKNAME)
    form.get_by_label(_label("Password")).fill(PASSWORD)
    form.get_by_label(_label("Repeat password")).fill(PASSWORD)
    submit.click()
    expect(page).to_have_url(re.compile(r"/verify(\?.*)?$"))
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {NICKNAME}!")
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(EMAIL)
    shots(page, "verify")

    # The dev inbox (footer link): the worker has sent the code through SMTP.
    page.get_by_role("contentinfo").get_by_role("link", name="Dev inbox").click()
    expect(page.get_by_role("heading", name=re.compile("Dev inbox"))).to_be_visible()
    row = _open_newest_mail(page, EMAIL)
    shots(page, "dev-inbox")
    row.get_by_role("link", name=re.compile("verification code")).click()
    body = page.locator("pre.mail-text")
    expect(body).to_contain_text("Your Playcation verification code is:")
    code = CODE_RE.search(body.inner_text()).group(1)
    shots(page, "dev-message")

    # Back to /verify via the header's "Verify email" badge, and enter the code.
    page.get_by_role("banner").get_by_role("link", name="Verify email").click()
    expect(page).to_have_url(re.compile(r"/verify$"))
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Your email is verified")
    expect(page.get_by_role("banner").get_by_role("link", name="Verify email")).to_have_count(0)
    shots(page, "verified")

    # The account page, through the header's user menu.
    menu = page.get_by_role("banner").locator("details.dropdown")
    menu.locator("summary").click()
    expect(menu.get_by_role("link", name="Account")).to_be_visible()
    shots(page, "user-menu")
    menu.get_by_role("link", name="Account").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("heading", name=NICKNAME)).to_be_visible()
    expect(page.locator(".profile-summary")).to_contain_text("verified")
    shots(page, "account")

    # Log out through the user menu.
    menu = page.get_by_role("banner").locator("details.dropdown")
    menu.locator("summary").click()
    menu.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_contain_text("You have been logged out.")
    expect(page.get_by_role("banner").get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_role("banner")).not_to_contain_text(NICKNAME)
    shots(page, "logged-out")

    # Log in: a wrong password first.
    page.get_by_role("banner").get_by_role("link", name="Log in").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shots(page, "login")
    login = page.get_by_role("main").locator("form")
    login.get_by_label(_label("Email")).fill(EMAIL)
    login.get_by_label(_label("Password")).fill(PASSWORD + "!")
    login.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Email or password is not correct.")).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Log in")).to_be_visible()
    shots(page, "login-wrong-password")

    login.get_by_label(_label("Email")).fill(EMAIL)
    login.get_by_label(_label("Password")).fill(PASSWORD)
    login.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status")).to_contain_text(f"Logged in as {NICKNAME}.")
    expect(page.get_by_role("banner").locator("summary.user-chip")).to_contain_text(NICKNAME)
    shots(page, "logged-in")

    # An unknown address gets the styled 404 page.
    response = page.goto("/no-such-page")
    assert response.status == 404
    expect(page.locator(".error-code")).to_have_text("404")
    shots(page, "not-found")

    assert page.problems.items == [], "\n".join(page.problems.items)


def test_mobile_home_and_signup(mobile_page, shots):
    page = mobile_page
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shots(page, "mobile-home")
    page.get_by_role("banner").get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    shots(page, "mobile-signup")
    # Nothing may overflow sideways on a phone.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the 390px viewport"
    assert page.problems.items == [], "\n".join(page.problems.items)
