"""A per-game refund in a real browser against the live server (see conftest.py): a
customer of its own buys two games in one order through the sandbox gateway, reading the
refund policy on the checkout page before paying; on the receipt, refunds one of them
with its "Refund this game" button (accepting the confirm dialog); the receipt shows that
game refunded and the other still refundable, and the library no longer shows it.
In each language (`lang`). Screenshots: artifacts/screenshots/<lang>/refunds/.
"""
import re

import pytest
from playwright.sync_api import expect

from .conftest import shots_in
from .test_store_journey import _approve, _assert_no_problems, _flashes, _log_in, _open

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

BUYER = {"email": "refunds@playcation.example", "nickname": "Refunder", "password": "refund-pass-1234"}
KEEP, RETURN = ("Ember Trail", 18000), ("Frost Signal", 12000)
# Its own publisher, buyer and two games: the live server is shared with the other
# journeys. The games are delisted again afterwards (the store journey counts the listed ones).
SEED = """
from shop.accounts.models import User
from shop.accounts.services import hash_password
from shop.catalog import services as catalog
from shop.extensions import db
from shop.timeutil import utcnow
now = utcnow()
pub = User(email="refund-studio@playcation.example", nickname="Refund Studio", role="publisher",
           password_hash=hash_password("studio-pass-1234"), email_verified_at=now)
buyer = User(email=BUYER["email"], nickname=BUYER["nickname"], role="customer",
             password_hash=hash_password(BUYER["password"]), email_verified_at=now, locale=LANG)
db.session.add_all([pub, buyer])
db.session.flush()
for title, price in GAMES:
    print("slug", catalog.create_game(pub, catalog.GameInput(title=title, price=price)).slug)
db.session.commit()
"""
DELIST = """
from sqlalchemy import select
from shop.catalog import cache
from shop.catalog.models import Game
from shop.extensions import db
for game in db.session.scalars(select(Game).where(Game.title.in_(TITLES))):
    game.status = "delisted"
    db.session.commit()
    cache.invalidate_game(game.id)
"""


@pytest.fixture(scope="module")
def slugs(live_cli, demo_users, lang):
    out = live_cli.python(f"LANG = {lang.code!r}\nBUYER = {BUYER!r}\nGAMES = {[KEEP, RETURN]!r}\n" + SEED)
    found = re.findall(r"^slug (\S+)$", out, re.M)
    assert len(found) == 2, out
    yield dict(zip((KEEP[0], RETURN[0]), found))
    live_cli.python(f"TITLES = {[KEEP[0], RETURN[0]]!r}\n" + DELIST)


@pytest.fixture(scope="module")
def buyer(chromium, live_server, slugs, lang):
    context, page = _open(chromium, live_server, lang)
    _log_in(page, None, BUYER)
    page.on("dialog", lambda dialog: dialog.accept())  # "Refund Frost Signal? ..."
    yield page
    context.close()


def test_customer_buys_two_games_and_refunds_one(buyer, slugs, lang):
    page, say, shots = buyer, lang, shots_in("refunds", lang)
    for count, (title, _price) in enumerate((KEEP, RETURN), start=1):
        page.goto(f"/games/{slugs[title]}")
        expect(page.locator("h1.game-title")).to_have_text(title)
        page.locator(".purchase-box .cart-control").get_by_role("button", name=say("Add to cart")).click()
        expect(page.get_by_role("banner").locator("#cart-badge .count")).to_have_text(str(count))
    total = KEEP[1] + RETURN[1]

    # The policy stands beside the Pay button, before any money moves.
    page.goto("/checkout")
    policy = page.locator("#checkout-summary .refund-policy")
    expect(policy).to_contain_text(say.n(
        "Each game of an order can be refunded on its own within %(days)s days of payment, if it was downloaded "
        "no more than %(num)d time.",
        "Each game of an order can be refunded on its own within %(days)s days of payment, if it was downloaded "
        "no more than %(num)d times.", 2, days=14))
    shots(page, "checkout-policy")
    page.locator("#checkout-form").get_by_role("button", name=say("Pay %(amount)s", amount=say.won(total))).click()
    expect(page).to_have_url(re.compile(r"/sandbox/pay/[^/]+$"))
    _approve(page)
    receipt = page.locator("#receipt")
    expect(receipt.get_by_role("button", name=say("Refund this game"))).to_have_count(2)
    expect(receipt.locator(".refund-policy")).to_be_visible()
    shots(page, "receipt-two-games")

    # Refund one game from its own row.
    row = receipt.locator(".order-lines tr").filter(has_text=RETURN[0])
    expect(row).to_contain_text(say("%(amount)s back", amount=say.won(RETURN[1])))
    row.get_by_role("button", name=say("Refund this game")).click()
    expect(page).to_have_url(re.compile(r"/orders/[^/]+$"))
    expect(_flashes(page)).to_contain_text(say(
        "Refunded %(title)s: %(amount)s goes back to the way you paid. It was removed from your library.",
        title=RETURN[0], amount=say.won(RETURN[1])))
    row = receipt.locator(".order-lines tr").filter(has_text=RETURN[0])
    expect(row.locator(".status.status-refunded")).to_have_text(say("Refunded"))
    expect(row.get_by_role("button")).to_have_count(0)
    kept = receipt.locator(".order-lines tr").filter(has_text=KEEP[0])
    expect(kept.get_by_role("button", name=say("Refund this game"))).to_have_count(1)
    expect(receipt.locator(".status.status-paid").first).to_have_text(say("Paid"))  # the order goes on
    shots(page, "receipt-one-refunded")

    # The library: the kept game only.
    page.goto("/library")
    expect(page.locator(".library-item").filter(has_text=KEEP[0])).to_have_count(1)
    expect(page.locator(".library-item").filter(has_text=RETURN[0])).to_have_count(0)
    shots(page, "library-after-refund")
    _assert_no_problems(page)
