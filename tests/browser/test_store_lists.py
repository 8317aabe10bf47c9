"""Add to cart from a list page, in a real browser: every card's button works, the
first one included (its form once sat inside the filter form, where the HTML parser
dropped it and the click submitted the filters instead).

Runs after test_store_journey.py (file order) and adds its own publisher, tag and
games, so the journey's catalog is the one it expects.
In each language (`lang`). Screenshots: artifacts/screenshots/<lang>/lists/NN-*.png.
"""
import re

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, _new_page, shots_in

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

TIMEOUT_MS = 15_000
EMAIL, NICKNAME, PASSWORD = "lister@example.com", "Lister", "a long passphrase 1"
TAG_SLUG = "shelf-test"
GAMES = 30  # more than a page (24 cards), so page 1 is full


@pytest.fixture(scope="module")
def shelf(live_cli, lang):
    """A verified customer, a publisher with GAMES listed games and a tag on some of them."""
    live_cli.python(f"""
        from shop.accounts.models import User
        from shop.accounts.services import hash_password
        from shop.catalog import services
        from shop.catalog.models import Tag
        from shop.extensions import db
        from shop.timeutil import utcnow
        publisher = User(email="shelf-studio@example.com", nickname="Shelf Studio", role="publisher",
                         password_hash=None, email_verified_at=utcnow())
        buyer = User(email={EMAIL!r}, nickname={NICKNAME!r}, role="customer", locale={lang.code!r},
                     password_hash=hash_password({PASSWORD!r}), email_verified_at=utcnow())
        tag = Tag(name="Shelf Test", slug={TAG_SLUG!r})
        db.session.add_all([publisher, buyer, tag])
        db.session.commit()
        for i in range({GAMES}):
            services.create_game(publisher, services.GameInput(
                title=f"Shelf Game {{i:02d}}", price=1100 + 100 * i, tag_ids=[tag.id] if i % 3 == 0 else []))
        db.session.commit()
    """)


@pytest.fixture(scope="module")
def buyer(chromium, live_server, shelf, lang):
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    context.set_default_timeout(TIMEOUT_MS)
    page.goto("/login")
    form = page.get_by_role("main").locator("form").first
    form.locator("[name=email]").fill(EMAIL)
    form.locator("[name=password]").fill(PASSWORD)
    form.get_by_role("button", name=lang("Log in")).click()
    expect(page.get_by_role("banner").locator("summary.user-chip")).to_contain_text(NICKNAME, timeout=TIMEOUT_MS)
    yield page
    context.close()


def _badge_count(page):
    return page.get_by_role("banner").locator("#cart-badge")


def _items_in_cart(page) -> int:
    return int(re.search(r"\d+", _badge_count(page).get_attribute("aria-label")).group(0))


def _add(page, card_index: int, expected_count: int):
    """Click "Add to cart" on the card at `card_index` of the list on screen; the card
    turns to "In cart" and the header badge counts it, with the page staying put."""
    lang = page.lang
    url = page.url
    card = page.locator("#game-list li.card-with-cart").nth(card_index)
    title = card.locator(".card-title").inner_text()
    card.get_by_role("button", name=lang("Add to cart")).click()
    expect(card.locator("a.in-cart[href='/cart']")).to_be_visible(timeout=TIMEOUT_MS)
    expect(_badge_count(page)).to_have_attribute(
        "aria-label", lang.n("Cart, %(num)d item", "Cart, %(num)d items", expected_count), timeout=TIMEOUT_MS)
    assert page.url == url and "csrf_token" not in page.url, f"adding {title} navigated to {page.url}"
    return title


def test_add_to_cart_from_the_first_a_middle_and_the_last_card_of_games(buyer, lang):
    shots = shots_in("lists", lang)
    buyer.goto("/games")
    cards = buyer.locator("#game-list li.card-with-cart")
    expect(cards).to_have_count(24)
    added = [_add(buyer, 0, 1), _add(buyer, 11, 2), _add(buyer, 23, 3)]
    shots(buyer, "games-three-added")
    buyer.goto("/games")  # the cart kept them: a reload shows the three as in the cart
    for title in added:
        card = cards.filter(has=buyer.locator(".card-title", has_text=title))
        expect(card.locator("a.in-cart[href='/cart']")).to_be_visible()
    expect(_badge_count(buyer)).to_contain_text("3")


def test_add_to_cart_from_the_first_card_of_a_tag_page(buyer, lang):
    shots = shots_in("lists-tag", lang)
    # Dearest first: those are on the second page of /games, so none is in the cart yet.
    buyer.goto(f"/games?tag={TAG_SLUG}&sort=price_desc")
    cards = buyer.locator("#game-list li.card-with-cart")
    expect(cards).to_have_count(GAMES // 3)
    count = _items_in_cart(buyer)
    _add(buyer, 0, count + 1)
    _add(buyer, 4, count + 2)
    shots(buyer, "tag-added")
