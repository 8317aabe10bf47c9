"""Pre-orders and age ratings in a real browser against the launched store, in each
language (`lang`):

1. a buyer pre-orders a coming-soon game from its page (the button says Pre-order),
   pays in the sandbox, and finds it in the library as "available on <date>" without
   its key; the day comes (the date moved to today, as time would) and the operator
   runs the release job from the command line (`flask jobs run library-release-games`,
   what the scheduler runs every five minutes): the library shows the key and the
   buyer has the notification;
2. a minor (verified birth date, under 19 by year) sees the 19 placeholder instead of
   the cover in the list, no cart button on the adults-only game's page, and after
   checking their age in the sandbox identity page is still refused.
Screenshots: artifacts/screenshots/<lang>/preorder/NN-*-{1280,390}.png.
"""
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, _new_page, log_in, shots_in

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

PASSWORD = "a long passphrase 1"
UPCOMING, ADULT_GAME, KEY = "Aurora Drift", "Velvet Casino", "AURORA-KEY-0001"
BUYER = {"email": "early@example.com", "nickname": "EarlyBird"}
MINOR = {"email": "teen@example.com", "nickname": "Teen"}


@pytest.fixture(scope="module")
def shots(lang):
    return shots_in("preorder", lang)


@pytest.fixture(scope="module")
def stocked(live_cli, lang):
    """A publisher's coming-soon game (pre-orders on, a key pool) and an adults-only game;
    a buyer with no birth date and a minor whose birth date was verified."""
    live_cli.python(f"""
        from datetime import date, timedelta
        from shop.accounts.models import User
        from shop.catalog import services
        from shop.extensions import db
        from shop.library import keys
        from shop.timeutil import seoul_today
        from tests.support.accounts import make_user
        publisher = db.session.get(User, make_user(email="studio@example.com", role="publisher").id)
        game = services.create_game(publisher, services.GameInput(
            title={UPCOMING!r}, price=30000, release_date=seoul_today() + timedelta(days=7), preorder_allowed=True))
        keys.upload_pool(game.id, {KEY!r}.encode() + b"\\n")
        services.create_game(publisher, services.GameInput(title={ADULT_GAME!r}, price=15000, age_rating="19"))
        make_user(email={BUYER['email']!r}, nickname={BUYER['nickname']!r}, locale={lang.code!r})
        make_user(email={MINOR['email']!r}, nickname={MINOR['nickname']!r}, locale={lang.code!r},
                  birth_date=date(seoul_today().year - 17, 6, 1))
    """)


def _open(chromium, live_server, lang, user):
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    context.set_default_timeout(15_000)
    log_in(page, user["email"], PASSWORD, user["nickname"])
    return context, page


def _game_page(page, title):
    page.goto(f"/games?q={quote(title)}")  # narrowed: other journeys stock the same store
    page.locator(".game-card").filter(has_text=title).locator("a.card-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def test_a_pre_order_through_release(chromium, live_server, live_cli, stocked, shots, lang):
    context, page = _open(chromium, live_server, lang, BUYER)
    try:
        _game_page(page, UPCOMING)
        expect(page.locator(".purchase-box")).to_contain_text(lang("Coming soon"))
        shots(page, "coming-soon")
        page.locator(".purchase-box").get_by_role("button", name=lang("Pre-order")).click()
        expect(page.locator(".purchase-box .in-cart")).to_be_visible()
        page.goto("/checkout")
        page.locator("#checkout-form").get_by_role(
            "button", name=lang("Pay %(amount)s", amount=lang.won(30000))).click()
        expect(page).to_have_url(re.compile(r"/sandbox/pay/[^/]+$"))
        page.get_by_role("button", name=lang("Approve payment")).click()
        expect(page).to_have_url(re.compile(r"/orders/[^/]+$"))
        expect(page.locator("#receipt")).to_contain_text(UPCOMING)
        expect(page.locator("#receipt")).not_to_contain_text(KEY)

        page.goto("/library")
        cell = page.locator(".library-cell").filter(has_text=UPCOMING)
        expect(cell.locator(".preorder-note")).to_be_visible()
        expect(cell).not_to_contain_text(KEY)
        shots(page, "library-pre-order")

        # Release day: the date comes (moved to today), the job runs as the scheduler would.
        live_cli.python(f"""
            from sqlalchemy import update
            from shop.catalog.models import Game
            from shop.extensions import db
            from shop.timeutil import seoul_today
            db.session.execute(update(Game).where(Game.title == {UPCOMING!r}).values(release_date=seoul_today()))
            db.session.commit()
        """)
        out = live_cli.flask("jobs", "run", "library-release-games")
        assert "'games': 1, 'buyers': 1" in out, out
        assert "'games': 0" in live_cli.flask("jobs", "run", "library-release-games")  # once only

        page.reload()
        cell = page.locator(".library-cell").filter(has_text=UPCOMING)
        expect(cell.locator(".product-key")).to_contain_text(KEY)
        expect(cell.locator(".preorder-note")).to_have_count(0)
        shots(page, "library-released")
        page.goto("/notifications")
        expect(page.get_by_role("main")).to_contain_text(
            lang("%(title)s is out: your pre-order is unlocked in your library.", title=UPCOMING))
        shots(page, "notification")
        assert not [p for p in page.problems.items if "ERR_ABORTED" not in p], page.problems.items
    finally:
        context.close()


def test_an_adults_only_game_is_refused_to_a_minor(chromium, live_server, stocked, shots, lang):
    context, page = _open(chromium, live_server, lang, MINOR)
    try:
        page.goto(f"/games?q={quote(ADULT_GAME)}")  # the list, narrowed: other journeys stock the store too
        card = page.locator(".game-card").filter(has_text=ADULT_GAME)
        expect(card.locator(".grac-19")).to_be_visible()
        expect(card.locator(".age-badge")).to_have_text(lang("Adults only (19+)"))
        shots(page, "list-placeholder")
        _game_page(page, ADULT_GAME)
        box = page.locator(".purchase-box")
        expect(box.locator(".add-to-cart")).to_have_count(0)
        verify = box.locator("a.verify-age")
        expect(verify).to_have_text(lang("Verify your age to buy"))
        shots(page, "game-page-minor")
        verify.click()
        expect(page).to_have_url(re.compile(r"/account/age"))
        expect(page.locator(".age-status")).to_have_text(
            lang("Verified: adults-only games stay closed until the year you turn 19."))
        # Withdrawing consent deletes the birth date; checking again through the sandbox
        # provider does not change the answer.
        page.get_by_role("button", name=lang("Withdraw consent and delete my birth date")).click()
        expect(page.locator("#flashes")).to_contain_text(lang("Your birth date was deleted."))
        page.locator("[name=consent]").check()
        page.get_by_role("button", name=lang("Verify my age")).click()
        expect(page).to_have_url(re.compile(r"/identity/sandbox$"))
        page.locator("[name=name]").fill("Kim Teen")
        page.locator("[name=birth_date]").fill("not a date")
        page.get_by_role("button", name=lang("Confirm")).click()
        expect(page.locator("small.error")).to_contain_text(lang("Enter your birth date as YYYY-MM-DD, e.g. 1990-05-17."))
        shots(page, "sandbox-identity-error")
        year = int(page.evaluate("new Date().getFullYear()")) - 17
        page.locator("[name=birth_date]").fill(f"{year}-06-01")
        page.get_by_role("button", name=lang("Confirm")).click()
        expect(page.locator("#flashes")).to_contain_text(
            lang("Your birth date is verified. Adults-only games stay closed until the year you turn 19."))
        shots(page, "age-verified-minor")
        _game_page(page, ADULT_GAME)
        expect(page.locator(".purchase-box .add-to-cart")).to_have_count(0)
        expect(page.locator(".gallery .grac-19")).to_be_visible()
        assert not [p for p in page.problems.items if "ERR_ABORTED" not in p], page.problems.items
    finally:
        context.close()
