"""Gifts and DLC in a real browser against the launched store (see conftest.py):

1. the publisher creates a base game and a DLC of it in the back office (the form's
   "DLC of" select);
2. the customer gifts the base game to a friend's address from its page, with a
   message, and pays in the sandbox; the Gifts page says "Sent";
3. the friend reads the gift email in the dev inbox, opens the claim link, signs up
   (the code comes by email too), comes back to the claim page, claims the game into
   the library; the giver's Gifts page says "Claimed";
4. the customer is refused the DLC alone ("DLC for …"), puts the base game in the cart
   first and buys both; the library shows the DLC under the base game and the base
   game's page lists it as owned.

In each language (`lang`); the steps share one customer context (module scope) and run
in file order, a step whose prerequisite failed is skipped. The games are delisted at
the end so later journeys that count the store's games see only their own.
Screenshots: artifacts/screenshots/<lang>/gifts/NN-*-{1280,390}.png.
"""
import re
import time

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, USERS, _new_page, log_in, shots_in

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

TIMEOUT_MS = 15_000
BASE = dict(title="Lantern Keep", price=18_000)
DLC = dict(title="Lantern Keep Ember Isles", price=6_000)
MESSAGE = "Happy birthday! See you in the keep."
PASSWORD = "correct horse battery staple"
CODE_RE = re.compile(r"\b(\d{6})\b")


def _field(scope, name):
    return scope.locator(f"[name='{name}']")


def _flashes(page):
    return page.locator("#flashes")


class Journey:
    def __init__(self, lang):
        self.done: set[str] = set()
        self.slugs: dict[str, str] = {}
        self.friend = f"gift-friend-{lang.code}@example.com"

    def need(self, *steps):
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.skip(f"needs the earlier step(s) {', '.join(missing)}, which did not pass")


@pytest.fixture(scope="module")
def journey(lang, live_cli):
    yield Journey(lang)
    # Later journeys count the games in the store: these leave it (their buyers keep them).
    live_cli.python(f"""
        from sqlalchemy import update
        from shop.catalog.models import Game
        from shop.extensions import db
        db.session.execute(update(Game).where(Game.title.in_({[BASE['title'], DLC['title']]!r}))
                           .values(status="delisted"))
        db.session.commit()
    """)


@pytest.fixture(scope="module")
def gift_shots(lang):
    return shots_in("gifts", lang)


def _open(chromium, live_server, lang, role):
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    context.set_default_timeout(TIMEOUT_MS)
    user = USERS[role]
    log_in(page, user["email"], user["password"], user["nickname"])
    return context, page


@pytest.fixture(scope="module")
def customer(chromium, live_server, demo_users, lang):
    context, page = _open(chromium, live_server, lang, "customer")
    yield page
    context.close()


def _mail(page, *texts, timeout=TIMEOUT_MS / 1000):
    """Reload the dev inbox until a row holds every one of `texts`; open it; its text."""
    page.goto("/dev/inbox")
    deadline = time.monotonic() + timeout
    rows = page.locator("table tbody tr")
    for text in texts:
        rows = rows.filter(has_text=text)
    while rows.count() == 0:
        assert time.monotonic() < deadline, f"no mail with {texts} in the dev inbox after {timeout:.0f}s"
        page.wait_for_timeout(300)
        page.reload()
    rows.first.get_by_role("link").first.click()
    return page.locator("pre.mail-text")


def _approve(page, flash_msgid):
    say = page.lang
    expect(page).to_have_url(re.compile(r"/sandbox/pay/[^/]+$"))
    page.get_by_role("button", name=say("Approve payment")).click()
    expect(page).to_have_url(re.compile(r"/orders/[^/]+$"))
    expect(_flashes(page)).to_contain_text(say(flash_msgid))


def test_publisher_creates_a_game_and_its_dlc(chromium, live_server, demo_users, journey, gift_shots, lang):
    context, page = _open(chromium, live_server, lang, "publisher")
    try:
        for game in (BASE, DLC):
            page.goto("/publisher/games/new")
            form = page.locator("form.bo-form")
            _field(form, "title").fill(game["title"])
            _field(form, "price").fill(str(game["price"]))
            if game is DLC:
                base = _field(form, "base_game_id")
                expect(form.locator("label[for=base_game_id]")).to_contain_text(lang("DLC of"))
                base.select_option(label=BASE["title"])
                gift_shots(page, "publisher-dlc-form")
            form.get_by_role("button", name=lang("Create game")).click()
            expect(page).to_have_url(re.compile(r"/publisher/games/\d+/edit#media$"))
            public = page.locator(".bo-head .bo-public-link").inner_text()
            journey.slugs[game["title"]] = public.removeprefix("/games/")
        expect(_field(page.locator("form.bo-form"), "base_game_id").locator("option:checked")).to_have_text(
            BASE["title"])
    finally:
        context.close()
    journey.done.add("stocked")


def test_customer_gifts_the_game(customer, journey, gift_shots, lang):
    journey.need("stocked")
    page = customer
    page.goto(f"/games/{journey.slugs[BASE['title']]}")
    expect(page.locator(".dlc-list")).to_contain_text(DLC["title"])
    expect(page.locator(".dlc-list .dlc-not-owned")).to_contain_text(lang("Not owned"))
    gift_shots(page, "base-game-page")
    gift = page.locator(".purchase-box a.gift-this")
    expect(gift).to_contain_text(lang("Gift this game"))
    gift.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(lang("Gift %(title)s", title=BASE["title"]))
    form = page.get_by_role("main").locator("form")
    _field(form, "recipient").fill("not an address")
    form.get_by_role("button", name=lang("Pay and send the gift")).click()
    expect(page.get_by_text(lang("Enter a valid email address."))).to_be_visible()
    _field(form, "recipient").fill(journey.friend)
    _field(form, "message").fill(MESSAGE)
    gift_shots(page, "gift-form")
    form.get_by_role("button", name=lang("Pay and send the gift")).click()
    _approve(page, "Payment complete — your gift is on its way.")
    expect(page.locator("#receipt")).to_contain_text(lang("A gift for %(email)s", email=journey.friend))
    gift_shots(page, "gift-receipt")

    menu = page.get_by_role("banner").locator("details.dropdown")
    menu.locator("summary").click()
    menu.get_by_role("link", name=lang("Gifts"), exact=True).click()
    row = page.locator(".gift-list > li").filter(has_text=journey.friend)
    expect(row.locator(".gift-status")).to_contain_text(lang("Sent"))
    expect(row.get_by_role("button", name=lang("Refund"))).to_be_visible()
    gift_shots(page, "gifts-sent")
    journey.done.add("gifted")


def test_friend_signs_up_from_the_email_and_claims(chromium, live_server, journey, gift_shots, lang):
    journey.need("gifted")
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        body = _mail(page, journey.friend, BASE["title"])
        expect(body).to_contain_text(MESSAGE)
        link = re.search(r"https?://\S+/gifts/claim/\S+", body.inner_text()).group(0)
        gift_shots(page, "gift-email")
        page.goto(link)
        nickname = USERS["customer"]["nickname"]
        expect(page.get_by_role("heading", level=1)).to_have_text(
            lang("%(giver)s sent you %(title)s", giver=nickname, title=BASE["title"]))
        expect(page.locator(".gift-message")).to_have_text(MESSAGE)
        gift_shots(page, "claim-page-visitor")
        page.get_by_role("main").get_by_role("button", name=lang("Create an account")).click()
        form = page.get_by_role("main").locator("form")
        _field(form, "email").fill(journey.friend)
        _field(form, "nickname").fill(f"Friend{lang.code}")
        _field(form, "password").fill(PASSWORD)
        _field(form, "confirm").fill(PASSWORD)
        form.get_by_role("button", name=lang("Sign up")).click()
        expect(page).to_have_url(re.compile(r"/verify\?next="))
        verify_url = page.url
        code = CODE_RE.search(_mail(page, journey.friend, lang("Your Playcation verification code: %(code)s",
                                                              code="").strip()).inner_text()).group(1)
        page.goto(verify_url)
        _field(page.get_by_role("main").locator("form").first, "code").fill(code)
        page.get_by_role("button", name=lang("Verify"), exact=True).click()
        expect(page).to_have_url(re.compile(r"/gifts/claim/"))  # back where the link led
        page.get_by_role("button", name=lang("Claim it into my library")).click()
        expect(page).to_have_url(re.compile(r"/library$"))
        expect(_flashes(page)).to_contain_text(lang("%(title)s is in your library. Enjoy!", title=BASE["title"]))
        expect(page.locator(".library-item").filter(has_text=BASE["title"])).to_have_count(1)
        gift_shots(page, "friend-library")
        page.goto(link)  # the link again: claimed, nothing more to do
        expect(page.get_by_role("main")).to_contain_text(lang("This gift was already claimed."))
    finally:
        context.close()
    journey.done.add("claimed")


def test_giver_sees_claimed(customer, journey, gift_shots, lang):
    journey.need("claimed")
    page = customer
    page.goto("/gifts")
    row = page.locator(".gift-list > li").filter(has_text=journey.friend)
    expect(row.locator(".gift-status")).to_contain_text(lang("Claimed %(when)s", when="").strip())
    expect(row.get_by_role("button", name=lang("Refund"))).to_have_count(0)
    gift_shots(page, "gifts-claimed")


def test_customer_buys_the_dlc_with_its_base_game(customer, journey, gift_shots, lang):
    journey.need("stocked")
    page = customer
    page.goto(f"/games/{journey.slugs[DLC['title']]}")
    expect(page.locator(".dlc-base")).to_contain_text(BASE["title"])
    control = page.locator(".purchase-box .cart-control")
    control.get_by_role("button", name=lang("Add to cart")).click()
    expect(control.locator(".error")).to_have_text(lang(
        "%(dlc)s is DLC for %(base)s: add %(base)s to your cart first, or buy it.",
        dlc=DLC["title"], base=BASE["title"]))
    gift_shots(page, "dlc-refused")
    page.locator(".dlc-base a").click()
    page.locator(".purchase-box .cart-control").get_by_role("button", name=lang("Add to cart")).click()
    expect(page.locator(".purchase-box a.in-cart")).to_be_visible()
    page.goto(f"/games/{journey.slugs[DLC['title']]}")
    page.locator(".purchase-box .cart-control").get_by_role("button", name=lang("Add to cart")).click()
    expect(page.locator(".purchase-box a.in-cart")).to_be_visible()
    page.goto("/checkout")
    expect(page.locator(".order-lines")).to_contain_text(DLC["title"])
    total = BASE["price"] + DLC["price"]
    page.locator("#checkout-form").get_by_role("button", name=lang("Pay %(amount)s", amount=lang.won(total))).click()
    _approve(page, "Payment complete — enjoy your games!")

    page.goto("/library")
    cell = page.locator(".library-cell").filter(has_text=BASE["title"])
    expect(cell.locator(".library-dlc")).to_contain_text(DLC["title"])
    gift_shots(page, "library-dlc")
    page.goto(f"/games/{journey.slugs[BASE['title']]}")
    expect(page.locator(".dlc-list .dlc-owned")).to_have_text(lang("Owned"))
    gift_shots(page, "base-game-owned-dlc")
