"""Wishlist: the button on the game page, the /wishlist page, and who may use them."""
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from shop.catalog import services
from shop.catalog.models import WishlistItem
from shop.extensions import db

from ..support.accounts import make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def make_game(app):
    with app.app_context():
        publisher_id = make_user(role="publisher").id

    def make(title="Celeste", price=20000, listed=True, **kw):
        from shop.accounts.models import User

        with app.app_context():
            publisher = db.session.get(User, publisher_id)
            game = services.create_game(publisher, services.GameInput(title=title, price=price, **kw))
            if not listed:
                services.set_listed(publisher, game, False)
            return SimpleNamespace(id=game.id, slug=game.slug, title=game.title)

    return make


@pytest.fixture
def shopper(browser, make_user):
    user = make_user(email="fan@example.com")
    browser.login(user.email)
    browser.user = user
    return browser


def wished(app, user_id) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(WishlistItem.game_id).where(WishlistItem.user_id == user_id)))


def test_toggle_with_htmx_returns_the_new_button(app, shopper, make_game):
    game = make_game()
    res = shopper.post(f"/games/{game.slug}/wishlist", htmx=True)
    body = res.get_data(as_text=True)
    assert res.status_code == 200 and "<html" not in body
    assert "On your wishlist" in body and 'aria-pressed="true"' in body and 'name="wanted" value="0"' in body
    assert wished(app, shopper.user.id) == {game.id}
    res = shopper.post(f"/games/{game.slug}/wishlist", htmx=True)
    assert "Add to your wishlist" in res.get_data(as_text=True)
    assert wished(app, shopper.user.id) == set()


def test_asking_for_a_state_twice_does_not_flip_it(app, shopper, make_game):
    game = make_game()
    for _ in range(2):
        shopper.post(f"/games/{game.slug}/wishlist", {"wanted": "1"}, htmx=True)
    assert wished(app, shopper.user.id) == {game.id}
    for _ in range(2):
        shopper.post(f"/games/{game.slug}/wishlist", {"wanted": "0"}, htmx=True)
    assert wished(app, shopper.user.id) == set()


def test_without_htmx_it_redirects_back_to_the_game(app, shopper, make_game):
    game = make_game()
    res = shopper.post(f"/games/{game.slug}/wishlist")
    assert res.status_code == 302 and res.headers["Location"] == f"/games/{game.slug}"
    page = shopper.get(f"/games/{game.slug}").get_data(as_text=True)
    assert "is on your wishlist" in page and "On your wishlist" in page


def test_the_game_page_shows_each_viewer_their_own_state(app, browser, shopper, make_game, make_user):
    game = make_game()
    shopper.post(f"/games/{game.slug}/wishlist", htmx=True)
    assert "On your wishlist" in shopper.get(f"/games/{game.slug}").get_data(as_text=True)
    other = type(shopper)(app)
    other.login(make_user().email)
    page = other.get(f"/games/{game.slug}").get_data(as_text=True)  # the detail fragment is cached
    assert "Add to your wishlist" in page and "On your wishlist" not in page


def test_anonymous_is_sent_to_login_and_back_to_the_game(browser, make_game):
    game = make_game()
    res = browser.post(f"/games/{game.slug}/wishlist")
    assert res.status_code == 302
    assert res.headers["Location"] == f"/login?next=/games/{game.slug}"
    res = browser.post(f"/games/{game.slug}/wishlist", htmx=True)
    assert res.headers["HX-Redirect"] == f"/login?next=/games/{game.slug}"
    page = browser.get(f"/games/{game.slug}").get_data(as_text=True)
    assert f'href="/login?next=/games/{game.slug}" class="wishlist-button"' in page


def test_after_login_the_shopper_lands_on_the_game(browser, make_game, make_user):
    game = make_game()
    user = make_user()
    res = browser.login(user.email, next=f"/games/{game.slug}")
    assert res.headers["Location"] == f"/games/{game.slug}"


@pytest.mark.parametrize("method,url", [
    ("get", "/wishlist"),
    ("post", "/wishlist/1/remove"),
])
def test_wishlist_pages_need_login(browser, method, url):
    res = getattr(browser, method)(url)
    assert res.status_code == 302 and res.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("url", ["/games/{slug}/wishlist", "/wishlist/{id}/remove"])
def test_posts_without_csrf_are_refused(app, shopper, make_game, url):
    game = make_game()
    res = shopper.post(url.format(slug=game.slug, id=game.id), csrf=False, htmx=True)
    assert res.status_code == 400
    assert wished(app, shopper.user.id) == set()


def test_delisted_or_unknown_games_cannot_be_wishlisted(app, shopper, make_game):
    hidden = make_game("Hidden", listed=False)
    assert shopper.post(f"/games/{hidden.slug}/wishlist", htmx=True).status_code == 404
    assert shopper.post("/games/no-such-game/wishlist", htmx=True).status_code == 404
    assert wished(app, shopper.user.id) == set()


def test_an_old_slug_still_works_for_the_button(app, shopper, make_game):
    game = make_game("Hollow Knight")
    with app.app_context():
        from shop.accounts.models import User
        from shop.catalog.models import Game

        row = db.session.get(Game, game.id)
        services.update_game(db.session.get(User, row.publisher_id), row,
                             services.GameInput(title="Hollow Knight Silksong", price=row.price))
    assert shopper.post("/games/hollow-knight/wishlist", htmx=True).status_code == 200
    assert wished(app, shopper.user.id) == {game.id}


def test_wishlist_page_lists_and_removes_in_place(app, shopper, make_game):
    first, second, hidden = make_game("First"), make_game("Second"), make_game("Later Hidden")
    for game in (first, second, hidden):
        shopper.post(f"/games/{game.slug}/wishlist", htmx=True)
    with app.app_context():
        from shop.accounts.models import User
        from shop.catalog.models import Game

        row = db.session.get(Game, hidden.id)
        services.set_listed(db.session.get(User, row.publisher_id), row, False)
    page = shopper.get("/wishlist").get_data(as_text=True)
    assert "First" in page and "Second" in page and "Later Hidden" not in page
    assert re.search(r'id="wishlist-count"[^>]*>2<', page)
    assert f'hx-post="/wishlist/{first.id}/remove"' in page and 'hx-target="closest li"' in page

    res = shopper.post(f"/wishlist/{first.id}/remove", htmx=True)
    body = res.get_data(as_text=True)
    assert res.status_code == 200 and "<html" not in body and "<li" not in body  # the row is swapped away
    assert re.search(r'id="wishlist-count"[^>]*hx-swap-oob="true"[^>]*>1<', body)
    assert wished(app, shopper.user.id) == {second.id, hidden.id}

    res = shopper.post(f"/wishlist/{second.id}/remove")
    assert res.status_code == 302 and res.headers["Location"] == "/wishlist"
    page = shopper.get("/wishlist").get_data(as_text=True)
    assert "Your wishlist is empty" in page and 'class="wishlist-row"' not in page


def test_removing_twice_or_an_unknown_game_is_harmless(app, shopper):
    assert shopper.post("/wishlist/999999/remove", htmx=True).status_code == 200
