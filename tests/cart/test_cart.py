"""The cart: htmx add/remove with out-of-band badge updates, refusals, persistence,
the way back for anonymous visitors, CSRF, and the verified-email rule for checkout."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from shop.cart import services as cart_services
from shop.cart.models import CartItem
from shop.catalog.models import Game
from shop.extensions import db
from shop.orders.models import Order

from ..support.orders import ShopBrowser, Shopper, count, grant, new_game


def badge_count(html: str) -> int:
    """The number in the header cart badge (0 when the badge shows none)."""
    badge = re.search(r'<a [^>]*id="cart-badge".*?</a>', html, re.S)
    assert badge, "no cart badge"
    number = re.search(r'<span class="count">(\d+)</span>', badge.group(0))
    return int(number.group(1)) if number else 0


def oob(html: str, element_id: str) -> str:
    """The out-of-band element with `element_id` in an htmx response."""
    match = re.search(rf'<(\w+)[^>]*id="{element_id}"[^>]*hx-swap-oob="true".*?</\1>', html, re.S)
    assert match, f"no out-of-band #{element_id}"
    return match.group(0)


def cart_ids(app, user_id) -> list[int]:
    with app.app_context():
        return sorted(db.session.scalars(select(CartItem.game_id).where(CartItem.user_id == user_id)))


def delist(app, game_id):
    with app.app_context():
        db.session.execute(update(Game).where(Game.id == game_id).values(status="delisted"))
        db.session.commit()


@pytest.fixture
def shopper(app, make_user):
    return Shopper(app, make_user())


# --- adding -------------------------------------------------------------------------

def test_htmx_add_turns_the_button_into_in_cart_and_updates_the_badge_in_one_response(app, shopper):
    game_id = new_game(app, "Celeste")
    res = shopper.add(game_id)
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "<html" not in html  # a fragment, not a page
    control = re.search(rf'<div class="cart-control" id="cart-control-{game_id}">.*?</div>', html, re.S).group(0)
    assert "In cart" in control and 'href="/cart"' in control and "Add to cart" not in control
    assert badge_count(oob(html, "cart-badge")) == 1
    assert "HX-Request" in res.headers.get("Vary", "")
    assert cart_ids(app, shopper.user.id) == [game_id]
    # the next full page shows the same count in the header
    assert badge_count(shopper.browser.get("/cart").get_data(as_text=True)) == 1


def test_plain_form_add_redirects_back_to_the_page_with_a_message(app, shopper):
    game_id = new_game(app, "Celeste")
    res = shopper.add(game_id, htmx=False, data={"next": "/games/celeste"})
    assert res.status_code == 302 and res.headers["Location"] == "/games/celeste"
    assert "Celeste is in your cart." in shopper.browser.get("/cart").get_data(as_text=True)
    res = shopper.add(game_id, htmx=False, data={"next": "https://evil.example/phish"})
    assert res.headers["Location"] == "/cart"  # never an open redirect
    assert "Celeste is already in your cart." in shopper.browser.get("/cart").get_data(as_text=True)


def _owned(app, user, game_id):
    grant(app, user.id, game_id)


def _delisted(app, user, game_id):
    delist(app, game_id)


def _carted(app, user, game_id):
    with app.app_context():
        db.session.add(CartItem(user_id=user.id, game_id=game_id))
        db.session.commit()


@pytest.mark.parametrize("title,setup,message,button,in_cart_after", [
    ("Hades", _owned, "You already own Hades.", "In your library", []),
    ("Hades", _delisted, "Hades is not for sale.", "Not for sale", []),
    # a title containing "own" must not turn a delisted game into "In your library"
    ("Downwell", _delisted, "Downwell is not for sale.", "Not for sale", []),
    ("Hades", _carted, "Hades is already in your cart.", "In cart", ["game"]),
])
def test_refusals_say_why_and_show_the_right_button(app, shopper, title, setup, message, button, in_cart_after):
    game_id = new_game(app, title)
    setup(app, shopper.user, game_id)
    before = len(cart_ids(app, shopper.user.id))
    res = shopper.add(game_id)
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    alert = re.search(r'<small class="error" role="alert">([^<]*)</small>', html)
    assert alert and alert.group(1) == message
    control = re.search(rf'id="cart-control-{game_id}">(.*?)<small', html, re.S).group(1)
    assert button in control and "Add to cart" not in control
    assert badge_count(oob(html, "cart-badge")) == before
    assert cart_ids(app, shopper.user.id) == ([game_id] if in_cart_after else [])


def test_a_full_cart_refuses_more(app, shopper, monkeypatch):
    monkeypatch.setattr(cart_services, "MAX_ITEMS", 1)
    first, second = new_game(app, "Celeste"), new_game(app, "Hades")
    shopper.add(first)
    html = shopper.add(second).get_data(as_text=True)
    assert "Your cart is full (1 games)." in html and "Add to cart" in html
    assert cart_ids(app, shopper.user.id) == [first]


def test_unknown_game_is_404(shopper):
    assert shopper.add(999999).status_code == 404


# --- removing -------------------------------------------------------------------------

def test_remove_in_place_updates_badge_and_summary_out_of_band(app, shopper):
    celeste, hades = new_game(app, "Celeste", price=22000), new_game(app, "Hades", price=24000)
    shopper.add(celeste)
    shopper.add(hades)
    page = shopper.browser.get("/cart").get_data(as_text=True)
    assert f'id="cart-line-{celeste}"' in page and 'hx-swap="delete"' in page and "₩46,000" in page

    res = shopper.remove(celeste)
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "<html" not in html
    assert badge_count(oob(html, "cart-badge")) == 1
    summary = oob(html, "cart-summary")
    assert "Games (1)" in summary and "₩24,000" in summary and "₩46,000" not in summary
    assert "Continue to checkout" in summary
    assert 'id="cart-empty"' not in html  # still something in the cart
    assert cart_ids(app, shopper.user.id) == [hades]

    html = shopper.remove(hades).get_data(as_text=True)
    assert badge_count(oob(html, "cart-badge")) == 0
    assert "Your cart is empty" in oob(html, "cart-empty")
    assert "Continue to checkout" not in oob(html, "cart-summary")
    assert cart_ids(app, shopper.user.id) == []


def test_plain_form_remove_redirects_to_the_cart(app, shopper):
    game_id = new_game(app)
    shopper.add(game_id)
    res = shopper.remove(game_id, htmx=False)
    assert res.status_code == 302 and res.headers["Location"] == "/cart"
    assert "Removed from your cart." in shopper.browser.get("/cart").get_data(as_text=True)


# --- persistence ------------------------------------------------------------------------

def test_the_cart_lives_in_the_database_and_follows_the_user(app, make_user):
    user = make_user()
    game_id = new_game(app, "Celeste")
    Shopper(app, user).add(game_id)
    assert count(app, CartItem, CartItem.user_id == user.id) == 1
    elsewhere = Shopper(app, user, ShopBrowser(app), via_form=True)  # another device, another session
    page = elsewhere.browser.get("/cart").get_data(as_text=True)
    assert "Celeste" in page and badge_count(page) == 1


def test_logging_out_keeps_the_cart(app, shopper):
    game_id = new_game(app, "Celeste")
    shopper.add(game_id)
    shopper.browser.logout()
    assert shopper.browser.get("/cart").status_code == 302  # logged out now
    Shopper(app, shopper.user, shopper.browser, via_form=True)
    assert "Celeste" in shopper.browser.get("/cart").get_data(as_text=True)


# --- anonymous visitors ---------------------------------------------------------------------

def _next_of(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/login"
    return parse_qs(parts.query)["next"][0]


def test_anonymous_plain_add_goes_to_login_and_back_to_the_page(app, browser, make_user):
    game_id = new_game(app, "Celeste")
    res = browser.post(f"/cart/{game_id}", headers={"Referer": "http://localhost/games/celeste?tab=about"})
    assert res.status_code == 302
    assert _next_of(res.headers["Location"]) == "/games/celeste?tab=about"
    user = make_user()
    res = browser.login(user.email, next=_next_of(res.headers["Location"]))
    assert res.headers["Location"] == "/games/celeste?tab=about"
    assert cart_ids(app, user.id) == []  # nothing was added behind their back


def test_anonymous_htmx_add_gets_an_hx_redirect_to_login(app, browser):
    game_id = new_game(app, "Celeste")
    res = browser.post(f"/cart/{game_id}", htmx=True,
                       headers={"HX-Current-URL": "http://localhost/games?page=2"})
    assert res.status_code == 200 and "Location" not in res.headers
    assert _next_of(res.headers["HX-Redirect"]) == "/games?page=2"
    assert "Please log in to continue." in browser.get("/login").get_data(as_text=True)


def test_anonymous_add_from_another_site_returns_home(app, browser):
    game_id = new_game(app)
    res = browser.post(f"/cart/{game_id}", headers={"Referer": "https://evil.example/games"})
    assert _next_of(res.headers["Location"]) == "/"


@pytest.mark.parametrize("method,url", [("GET", "/cart"), ("POST", "/cart/1"), ("POST", "/cart/1/remove"),
                                        ("GET", "/checkout"), ("POST", "/checkout")])
def test_cart_routes_need_login(browser, method, url):
    res = browser.get(url) if method == "GET" else browser.post(url)
    assert res.status_code == 302 and urlsplit(res.headers["Location"]).path == "/login"


# --- CSRF and verification ----------------------------------------------------------------------

def test_adding_and_removing_need_the_csrf_token(app, shopper):
    game_id = new_game(app)
    assert shopper.browser.post(f"/cart/{game_id}", csrf=False, htmx=True).status_code == 400
    assert cart_ids(app, shopper.user.id) == []
    shopper.add(game_id)
    assert shopper.browser.post(f"/cart/{game_id}/remove", csrf=False).status_code == 400
    assert cart_ids(app, shopper.user.id) == [game_id]


def test_checkout_needs_a_verified_email(app, make_user):
    user = make_user(verified=False)
    game_id = new_game(app)
    browser = Shopper(app, user).browser
    assert browser.post(f"/cart/{game_id}", htmx=True).status_code == 200  # carting is fine
    res = browser.get("/checkout")
    assert res.status_code == 302 and res.headers["Location"].startswith("/verify?next=/checkout")
    res = browser.post("/checkout")
    assert res.status_code == 302 and res.headers["Location"].startswith("/verify")
    assert count(app, Order, Order.user_id == user.id) == 0


# --- the button state helper for game pages and lists ----------------------------------------------

def test_cart_states_for_a_page_of_games(app, make_user):
    user = make_user()
    buy, carted, owned, delisted = (new_game(app, t) for t in ("Buy", "Carted", "Owned", "Gone"))
    _carted(app, user, carted)
    grant(app, user.id, owned)
    delist(app, delisted)
    with app.app_context():
        from shop.accounts.models import User

        games = [db.session.get(Game, i) for i in (buy, carted, owned, delisted)]
        states = cart_services.cart_states(db.session.get(User, user.id), games)
        assert states == {buy: "buy", carted: "in_cart", owned: "owned", delisted: "unavailable"}
        assert cart_services.cart_states(None, games)[carted] == "buy"
