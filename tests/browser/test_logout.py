"""Log out in a real browser, with and without "Keep me logged in": afterwards the
browser is anonymous on reload, and a second browser holding copies of its cookies
taken before is refused too (the login's record is gone). In each language (`lang`)."""
import pytest

from .conftest import DESKTOP, shots_in

PASSWORD = "a long passphrase 1"


@pytest.fixture(scope="module")
def shots(lang):
    return shots_in("logout", lang)


@pytest.fixture(scope="module")
def member(live_cli, lang):
    live_cli.python(f"""
        from tests.support.accounts import make_user
        make_user(email="leaver@example.com", nickname="Leaver", locale={lang.code!r})
    """)
    return {"email": "leaver@example.com", "nickname": "Leaver"}


def _log_in(page, member, remember, lang):
    page.goto("/login")
    form = page.get_by_role("main").locator("form").first
    form.locator("[name=email]").fill(member["email"])
    form.locator("[name=password]").fill(PASSWORD)
    if remember:
        form.get_by_label(lang("Keep me logged in")).check()
    form.get_by_role("button", name=lang("Log in"), exact=True).click()
    page.wait_for_url("**/")
    page.goto("/account")
    assert page.url.endswith("/account")
    assert page.locator("h2", has_text=member["nickname"]).is_visible()


@pytest.mark.parametrize("remember", [False, True], ids=["plain", "keep-me-logged-in"])
def test_log_out_leaves_the_browser_and_its_cookie_copies_anonymous(chromium, live_server, page, member,
                                                                    shots, remember, lang):
    _log_in(page, member, remember, lang)
    names = {c["name"] for c in page.context.cookies()}
    assert ("remember_token" in names) is remember
    copy = chromium.new_context(base_url=live_server, viewport=DESKTOP, locale=lang.browser_locale)
    copy.add_cookies(page.context.cookies())  # a copy of every cookie, taken before log-out
    try:
        copied = copy.new_page()
        copied.goto("/account")
        assert copied.url.endswith("/account")  # the copy works while the login lives
        shots(page, f"logged-in-{'remember' if remember else 'plain'}")

        page.locator("summary.user-chip").click()
        page.get_by_role("button", name=lang("Log out"), exact=True).click()
        page.wait_for_url("**/")
        assert "remember_token" not in {c["name"] for c in page.context.cookies()}
        page.goto("/account")
        page.wait_for_load_state("networkidle")  # a reload mid-way would abort the lazy logo
        page.reload(wait_until="networkidle")
        assert "/login" in page.url  # anonymous: sent to log in
        assert page.get_by_role("heading", name=lang("Log in")).is_visible()
        shots(page, f"logged-out-{'remember' if remember else 'plain'}")

        copied.reload()
        assert "/login" in copied.url
    finally:
        copy.close()
    assert not page.problems.items, page.problems.items
