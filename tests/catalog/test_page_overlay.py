"""Logged-in visitors share one cached copy of a store-front page (pagecache.py) with their
own parts filled in per request (overlay.py): nothing of one visitor reaches another."""
import re
from datetime import date, timedelta

import pytest

from shop.extensions import db
from shop.timeutil import seoul_today

from ..support.accounts import make_user
from ..support.browser import Browser
from ..support.orders import grant
from .test_storefront import shop  # noqa: F401  (fixture)

LISTS = ("/", "/games", "/games?tag=puzzle")


def _card_control(body: str, game_id: int) -> str:
    """The cart control of one game card or buy box."""
    match = re.search(rf'<div class="cart-control" id="cart-control-{game_id}">(.*?)</div>', body, re.S)
    assert match, f"no cart control for game {game_id}"
    return match.group(1)


def _member(app, nickname, **kw):
    with app.app_context():
        user = make_user(nickname=nickname, **kw)
    browser = Browser(app)
    browser.login(user.email)
    browser.get("/")  # the welcome flash is shown once, on a page rendered for it alone
    return user, browser


@pytest.fixture
def store(shop):  # noqa: F811
    tag = shop.tag("Puzzle")
    return {
        "lantern": shop.game("Amber Lantern", featured=True, price=12000, tag_ids=[tag]),
        "harbor": shop.game("Quiet Harbor", price=9000, tag_ids=[tag]),
        "night": shop.game("Night Ward", price=30000, tag_ids=[tag], age_rating="19"),
        "soon": shop.game("Later Lights", price=15000, tag_ids=[tag], preorder_allowed=True,
                          release_date=seoul_today() + timedelta(days=30)),
        "pool": shop.game("Empty Pool", price=8000, tag_ids=[tag]),
    }


def test_two_members_share_the_copy_and_see_only_their_own_state(app, store):
    ann, ann_browser = _member(app, "Ann Secret")
    bob, bob_browser = _member(app, "Bob Secret")
    lantern = store["lantern"]
    ann_browser.post(f"/cart/{lantern.id}", htmx=True)
    grant(app, bob.id, lantern.id)
    first = ann_browser.get("/games")
    second = bob_browser.get("/games")
    assert (first.headers["X-Page-Cache"], second.headers["X-Page-Cache"]) == ("miss", "hit")
    ann_page, bob_page = first.get_data(as_text=True), second.get_data(as_text=True)
    assert "In cart" in _card_control(ann_page, lantern.id)
    assert "In your library" in _card_control(bob_page, lantern.id)
    assert "Add to cart" in _card_control(ann_page, store["harbor"].id)
    assert "Ann Secret" in ann_page and "Bob Secret" not in ann_page
    assert "Bob Secret" in bob_page and "Ann Secret" not in bob_page
    # the cart badge is each one's own
    assert 'aria-label="Cart, 1 item"' in ann_page and 'aria-label="Cart, 0 items"' in bob_page
    anonymous = Browser(app).get("/games").get_data(as_text=True)
    assert "Add to cart" in _card_control(anonymous, lantern.id) and "Secret" not in anonymous


def test_no_marker_or_placeholder_reaches_a_member(app, store):
    _, browser = _member(app, "Marker Check")
    for path in LISTS + (f"/games/{store['lantern'].slug}",):
        for _ in range(2):  # the render and the cached copy
            body = browser.get(path).get_data(as_text=True)
            assert "<!--overlay" not in body and "<!--/overlay" not in body and "%%csrf" not in body, path
            assert "Marker Check" in body and 'id="toasts"' in body, path


def test_each_member_gets_their_own_csrf_token_on_the_shared_copy(app, store):
    _, a = _member(app, "Token A")
    _, b = _member(app, "Token B")
    a.get("/games")
    assert b.get("/games").headers["X-Page-Cache"] == "hit"
    for browser in (a, b):
        page = browser.get("/games").get_data(as_text=True)
        tokens = {t.split(".")[0] for t in re.findall(r'name="csrf_token" value="([^"]+)"', page)}
        assert tokens == {browser.csrf_token().split(".")[0]}
    # and the shared copy's buttons work for the one who got them
    assert b.post(f"/cart/{store['harbor'].id}", htmx=True).status_code in (200, 302)
    assert "In cart" in _card_control(b.get("/games").get_data(as_text=True), store["harbor"].id)
    assert "Add to cart" in _card_control(a.get("/games").get_data(as_text=True), store["harbor"].id)


def test_a_cart_change_shows_at_once_on_the_cached_copy(app, store):
    _, browser = _member(app, "Quick Cart")
    harbor = store["harbor"]
    assert "Add to cart" in _card_control(browser.get("/games").get_data(as_text=True), harbor.id)
    browser.post(f"/cart/{harbor.id}", htmx=True)
    res = browser.get("/games")
    assert res.headers["X-Page-Cache"] == "hit" and "In cart" in _card_control(res.get_data(as_text=True), harbor.id)
    browser.post(f"/cart/{harbor.id}/remove", htmx=True)
    assert "Add to cart" in _card_control(browser.get("/games").get_data(as_text=True), harbor.id)


def test_korean_and_english_members_get_their_own_language(app, store):
    _, ko = _member(app, "Korean Member", locale="ko")
    _, en = _member(app, "English Member", locale="en")
    ko_page, en_page = ko.get("/games").get_data(as_text=True), en.get("/games").get_data(as_text=True)
    assert '<html lang="ko"' in ko_page and '<html lang="en"' in en_page
    assert "장바구니에 담기" in ko_page and "Add to cart" not in ko_page
    assert "Add to cart" in en_page and "장바구니에 담기" not in en_page
    assert "English Member" not in ko_page and "Korean Member" not in en_page


def test_an_adults_only_game_for_an_adult_a_minor_and_an_anonymous_visitor(app, store):
    night = store["night"]
    _, adult = _member(app, "Grown Up", birth_date=date(1990, 1, 1))
    _, minor = _member(app, "Not Verified")  # no verified birth date: not an adult
    minor_page = minor.get("/games").get_data(as_text=True)
    adult_page = adult.get("/games").get_data(as_text=True)
    anonymous = Browser(app).get("/games").get_data(as_text=True)
    assert "Verify your age to buy" in _card_control(minor_page, night.id)
    assert "Add to cart" in _card_control(adult_page, night.id)
    assert "Add to cart" in _card_control(anonymous, night.id)  # asks to log in when pressed
    # the 19 placeholder instead of the cover for all but the verified adult
    assert minor_page.count("grac-19") == anonymous.count("grac-19") == 1 and "grac-19" not in adult_page
    game_page = minor.get(f"/games/{night.slug}").get_data(as_text=True)
    assert "Verify your age to buy" in _card_control(game_page, night.id)
    assert "Add to cart" in _card_control(adult.get(f"/games/{night.slug}").get_data(as_text=True), night.id)


def test_pre_order_and_sold_out_states_stay_under_the_members_own(app, store):
    from shop.library.models import ProductKey

    soon, pool = store["soon"], store["pool"]
    with app.app_context():
        db.session.add(ProductKey(game_id=pool.id, key_hash="h" * 64, ciphertext="x", status="assigned"))
        db.session.commit()
    owner, owner_browser = _member(app, "Pool Owner")
    grant(app, owner.id, pool.id)
    _, other = _member(app, "Pool Other")
    other.post(f"/cart/{soon.id}", htmx=True)
    other_page = other.get("/games").get_data(as_text=True)
    owner_page = owner_browser.get("/games").get_data(as_text=True)
    assert "Sold out" in _card_control(other_page, pool.id)
    assert "In your library" in _card_control(owner_page, pool.id)
    assert "In cart" in _card_control(other_page, soon.id)
    assert "Pre-order" in _card_control(owner_page, soon.id)
    assert "In your library" in _card_control(owner_browser.get(f"/games/{pool.slug}").get_data(as_text=True), pool.id)
    assert "Sold out" in _card_control(other.get(f"/games/{pool.slug}").get_data(as_text=True), pool.id)


def test_the_game_page_buy_box_wishlist_dlc_and_reviews_are_the_members(app, shop, store):  # noqa: F811
    base = store["lantern"]
    dlc = shop.game("Lantern Expansion", price=5000, base_game_id=base.id)
    owner, owner_browser = _member(app, "DLC Owner")
    grant(app, owner.id, base.id)
    grant(app, owner.id, dlc.id)
    _, other = _member(app, "DLC Other")
    other.post(f"/games/{base.slug}/wishlist", {"wanted": "1"}, htmx=True)
    first = owner_browser.get(f"/games/{base.slug}")
    second = other.get(f"/games/{base.slug}")
    assert (first.headers["X-Page-Cache"], second.headers["X-Page-Cache"]) == ("miss", "hit")
    owner_page, other_page = first.get_data(as_text=True), second.get_data(as_text=True)
    assert "In your library" in _card_control(owner_page, base.id)
    assert "Add to cart" in _card_control(other_page, base.id)
    assert "dlc-owned" in owner_page and "dlc-not-owned" not in owner_page
    assert "dlc-not-owned" in other_page and "dlc-owned" not in other_page
    assert "On your wishlist" in other_page and "On your wishlist" not in owner_page
    # the owner may review the game; the other may not
    assert "Only players who own this game can review it." in other_page
    assert "Only players who own this game can review it." not in owner_page
