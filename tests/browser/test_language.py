"""The footer's language switcher in a real browser, from each language to the other:

1. a visitor whose browser speaks `lang` gets `<html lang>` in it; the footer's button for
   the other language (POST /language) turns the page to it, back on the same page;
2. the choice (a cookie) survives navigation, a reload and logging in to an account
   that has no language of its own yet;
3. switching while logged in is the account's setting: in a fresh browser that speaks
   the other language, the account logs in to the language it chose.

Screenshots: artifacts/screenshots/<lang>/language/NN-*-{1280,390}.png.
"""
import re

import pytest
from playwright.sync_api import expect

from tests.support.lang import Language

from .conftest import DESKTOP, _new_page, shots_in
from .test_store_journey import _log_in

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

TIMEOUT_MS = 15_000
OTHER = {"ko": "en", "en": "ko"}
BUTTON = {"ko": "한국어", "en": "English"}  # each language's name in itself, in every language
MEMBER = {"email": "switcher@example.com", "nickname": "Switcher", "password": "a long passphrase 1"}



@pytest.fixture(scope="module")
def member(live_cli):
    """An account with no language setting (as every account was before they had one)."""
    live_cli.python(f"""
        from tests.support.accounts import make_user
        make_user(email={MEMBER['email']!r}, nickname={MEMBER['nickname']!r}, password={MEMBER['password']!r},
                  locale=None)
    """)
    return MEMBER


def _speaks(page, language: Language):
    """The page is in `language`: <html lang>, the header's words, the switcher's state."""
    page.lang = language  # what the journeys' helpers read the page in from now on
    expect(page.locator("html")).to_have_attribute("lang", language.code)
    expect(page.get_by_role("banner").get_by_role("link", name=language("Browse"), exact=True)).to_be_visible()
    switcher = page.get_by_role("contentinfo").locator("form.language-switch")
    # the current language is text, the other one the button
    expect(switcher.locator("strong", has_text=BUTTON[language.code])).to_be_visible()
    expect(switcher.get_by_role("button", name=BUTTON[language.code])).to_have_count(0)
    expect(switcher.get_by_role("button", name=BUTTON[OTHER[language.code]])).to_be_enabled()


def _switch_to(page, language: Language):
    page.get_by_role("contentinfo").locator("form.language-switch").get_by_role(
        "button", name=BUTTON[language.code]).click()
    _speaks(page, language)


def test_the_footer_switcher_changes_the_language_and_the_choice_stays(chromium, live_server, member, lang):
    shots = shots_in("language", lang)
    other = Language(OTHER[lang.code])
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        # The browser's language first.
        page.goto("/games")
        _speaks(page, lang)
        shots(page, "browser-language")

        # The footer's other button: the same page, in the other language.
        _switch_to(page, other)
        expect(page).to_have_url(re.compile(r"/games$"))
        shots(page, "switched")

        # It stays on the next page, after a reload, and after logging in.
        page.get_by_role("banner").get_by_role("link", name=other("Coupons"), exact=True).click()
        expect(page).to_have_url(re.compile(r"/coupons$"))
        _speaks(page, other)
        page.reload()
        _speaks(page, other)
        _log_in(page, None, user=member)  # checks the flash in, and <html lang> of, page.lang
        _speaks(page, other)
        page.goto("/account")
        _speaks(page, other)
        shots(page, "logged-in")

        # Switching back while logged in is the account's choice from now on.
        _switch_to(page, lang)
        expect(page).to_have_url(re.compile(r"/account$"))
        shots(page, "switched-back")
        assert not [p for p in page.problems.items if not p.endswith("net::ERR_ABORTED")], page.problems.items
    finally:
        context.close()

    # A fresh browser speaking the other language: the page follows the browser until
    # the account logs in, then the account's language.
    context, page = _new_page(chromium, live_server, DESKTOP, other)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto("/login")
        _speaks(page, other)
        form = page.get_by_role("main").locator("form").first
        form.locator("[name=email]").fill(member["email"])
        form.locator("[name=password]").fill(member["password"])
        form.get_by_role("button", name=other("Log in")).click()
        expect(page.get_by_role("banner").locator("summary.user-chip")).to_contain_text(member["nickname"])
        page.goto("/games")
        _speaks(page, lang)
        shots(page, "account-language")
    finally:
        context.close()
