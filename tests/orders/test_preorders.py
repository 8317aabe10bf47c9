"""Coming-soon games and pre-orders, adults-only games at the cart and checkout: who may
buy, what the library shows before release, hidden keys, refunds before release."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from shop.accounts.models import User
from shop.catalog.models import Game
from shop.extensions import db
from shop.library import keys, services as library
from shop.library.models import LibraryEntry, ProductKey
from shop.orders import refunds
from shop.orders.models import Order
from shop.timeutil import seoul_today, utcnow

from ..support.orders import ShopBrowser, Shopper, new_game, order_snapshot, paid_order, set_order

ADULT = date(1990, 1, 1)


def minor_birth() -> date:
    return date(seoul_today().year - 18, 1, 1)  # turns 19 next year: still a youth this year


@pytest.fixture
def upcoming(app):
    """A game out in ten days that the publisher sells as a pre-order, with a key pool."""
    game_id = new_game(app, "Hollow Song", price=30000, release_date=seoul_today() + timedelta(days=10),
                       preorder_allowed=True)
    with app.app_context():
        keys.upload_pool(game_id, b"AAAA-BBBB-CCCC\nDDDD-EEEE-FFFF\n")
    return game_id


def entry(app, user_id, game_id):
    with app.app_context():
        row = db.session.scalar(select(LibraryEntry).where(LibraryEntry.user_id == user_id,
                                                           LibraryEntry.game_id == game_id))
        return None if row is None else (row.awaiting_release, row.revoked_at)


# --- coming soon ---------------------------------------------------------------------------

def test_a_coming_soon_game_without_pre_orders_is_refused_at_the_cart(app, make_user):
    game_id = new_game(app, "Later Game", release_date=seoul_today() + timedelta(days=3))
    shopper = Shopper(app, make_user())
    res = shopper.add(game_id)
    page = res.get_data(as_text=True)
    assert "can&#39;t be pre-ordered" in page and "Coming soon" in page
    assert shopper.browser.get("/cart").get_data(as_text=True).count("Later Game") == 0


def test_checkout_refuses_a_game_whose_pre_orders_were_turned_off_after_it_was_carted(app, make_user, upcoming):
    shopper = Shopper(app, make_user())
    assert shopper.add(upcoming).status_code == 200
    with app.app_context():
        db.session.execute(update(Game).where(Game.id == upcoming).values(preorder_allowed=False))
        db.session.commit()
    res = shopper.browser.post("/checkout")
    assert res.status_code == 302 and res.headers["Location"].endswith("/cart")
    assert "can't be pre-ordered" in shopper.flashes()
    assert order_snapshot(app, user_id=shopper.user.id) is None


def test_a_pre_order_waits_in_the_library_with_its_key_hidden(app, make_user, upcoming):
    shopper = Shopper(app, make_user())
    add = shopper.add(upcoming).get_data(as_text=True)
    assert "In cart" in add
    public_id = shopper.buy(upcoming)
    assert entry(app, shopper.user.id, upcoming) == (True, None)
    page = shopper.browser.get("/library").get_data(as_text=True)
    release = seoul_today() + timedelta(days=10)
    assert "Pre-order · available on" in page and release.strftime("%b") in page
    assert "AAAA-BBBB" not in page and "DDDD-EEEE" not in page and "Product key" not in page
    receipt = shopper.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert "AAAA-BBBB" not in receipt and "DDDD-EEEE" not in receipt
    with app.app_context():
        assigned = db.session.scalars(select(ProductKey.status).where(ProductKey.user_id == shopper.user.id)).all()
        assert assigned == ["assigned"]  # held for the buyer since payment…
        assert keys.keys_for_user(shopper.user.id) == {}  # …but not shown before release
        assert library.owns(shopper.user.id, upcoming)  # owned: it can't be bought twice
        row = db.session.scalar(select(LibraryEntry).where(LibraryEntry.user_id == shopper.user.id))
        assert not library.playable(row) and not library.released(row.game)


def test_the_game_page_sells_it_as_a_pre_order(app, make_user, upcoming):
    shopper = Shopper(app, make_user())
    with app.app_context():
        slug = db.session.get(Game, upcoming).slug
    page = shopper.browser.get(f"/games/{slug}").get_data(as_text=True)
    assert ">Pre-order</button>" in page and "Pre-order now" in page


def test_a_pre_order_is_refundable_until_release_even_after_the_refund_window(app, make_user, upcoming):
    shopper = Shopper(app, make_user())
    public_id = shopper.buy(upcoming)
    days = app.config["REFUND_WINDOW_DAYS"]
    set_order(app, public_id, paid_at=utcnow() - timedelta(days=days + 5))
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.public_id == public_id))
        assert refunds.refundable(order)
    res = shopper.browser.post(f"/orders/{public_id}/refund")
    assert res.status_code == 302
    assert order_snapshot(app, public_id).status == "REFUNDED"
    assert entry(app, shopper.user.id, upcoming)[1] is not None


def test_after_release_the_usual_window_applies_again(app, make_user):
    shopper = Shopper(app, make_user())
    game_id = new_game(app, "Old Game")
    public_id = paid_order(app, shopper.user.id, game_id)
    set_order(app, public_id, paid_at=utcnow() - timedelta(days=app.config["REFUND_WINDOW_DAYS"] + 1))
    with app.app_context():
        assert not refunds.refundable(db.session.scalar(select(Order).where(Order.public_id == public_id)))


def test_a_released_game_is_granted_unlocked(app, make_user):
    shopper = Shopper(app, make_user())
    game_id = new_game(app, "Out Today", release_date=seoul_today())
    shopper.buy(game_id)
    assert entry(app, shopper.user.id, game_id) == (False, None)


# --- adults only ----------------------------------------------------------------------------

@pytest.fixture
def adult_game(app):
    return new_game(app, "Casino Nights", price=15000, age_rating="19")


@pytest.mark.parametrize("birth", [None, "minor"])
def test_an_adults_only_game_is_refused_to_minors_and_the_unverified(app, make_user, adult_game, birth):
    shopper = Shopper(app, make_user(birth_date=minor_birth() if birth == "minor" else None))
    page = shopper.add(adult_game).get_data(as_text=True)
    assert "rated Adults only (19+)" in page and "Verify your age to buy" in page
    assert "Casino Nights" not in shopper.browser.get("/cart").get_data(as_text=True)


def test_the_game_page_asks_minors_to_verify(app, make_user, adult_game):
    shopper = Shopper(app, make_user(birth_date=minor_birth()))
    with app.app_context():
        slug = db.session.get(Game, adult_game).slug
    page = shopper.browser.get(f"/games/{slug}").get_data(as_text=True)
    assert "Verify your age to buy" in page and "add-to-cart" not in page


def test_anonymous_visitors_are_sent_to_log_in(app, adult_game):
    res = ShopBrowser(app).post(f"/cart/{adult_game}")
    assert res.status_code == 302 and "/login" in res.headers["Location"]


def test_an_adult_buys_it(app, make_user, adult_game):
    shopper = Shopper(app, make_user(birth_date=ADULT))
    shopper.buy(adult_game)
    with app.app_context():
        row = db.session.scalar(select(LibraryEntry).where(LibraryEntry.user_id == shopper.user.id))
        assert library.playable(row)


def test_checkout_refuses_it_when_the_birth_date_was_withdrawn(app, make_user, adult_game):
    shopper = Shopper(app, make_user(birth_date=ADULT))
    assert "In cart" in shopper.add(adult_game).get_data(as_text=True)
    assert shopper.browser.post("/account/age/forget").status_code == 302
    res = shopper.browser.post("/checkout")
    assert res.status_code == 302 and res.headers["Location"].endswith("/cart")
    assert "rated Adults only (19+)" in shopper.flashes()
    assert order_snapshot(app, user_id=shopper.user.id) is None


def test_downloads_stay_closed_to_a_minor_who_holds_a_copy(app, make_user, adult_game):
    """E.g. the publisher re-rated the game after the purchase: `playable` is what downloads ask."""
    minor = make_user(birth_date=minor_birth())
    paid_order(app, minor.id, adult_game)
    with app.app_context():
        row = db.session.scalar(select(LibraryEntry).where(LibraryEntry.user_id == minor.id))
        assert not library.playable(row)
        assert library.playable(row, today=date(minor_birth().year + 19, 1, 1))  # the year they turn 19
