"""DLC: bought only by owners of the base game (or with it, in the same cart), listed on
the base game's page, grouped under it in the library; refunding the base game waits
for DLC of other orders that can still be refunded."""
from datetime import timedelta

from sqlalchemy import select, update

from shop.catalog.models import Game
from shop.extensions import db
from shop.timeutil import utcnow

from ..support.catalog import make_game
from ..support.orders import Shopper, grant, library_of, order_snapshot, orders_of, paid_order, set_order
from .helpers import claim_token, gifts, send_gift, text


def _base_and_dlc(app, make_user, price=30000):
    publisher = make_user(role="publisher")
    with app.app_context():
        base = make_game("Hollow Knight", price=price, publisher_id=publisher.id)
        dlc = make_game("Godmaster", price=5000, publisher_id=publisher.id, base_game_id=base)
    return publisher, base, dlc


def test_the_cart_refuses_dlc_without_its_base_game_and_says_why(app, make_user):
    _, base, dlc = _base_and_dlc(app, make_user)
    shopper = Shopper(app, make_user())
    res = shopper.add(dlc)
    assert "Godmaster is DLC for Hollow Knight: add Hollow Knight to your cart first, or buy it." in text(res)
    assert "Add to cart" in text(res)  # the button stays a buy button
    assert shopper.add(base).status_code == 200
    res = shopper.add(dlc)  # with its base game in the cart
    assert "In cart" in text(res) and "DLC for" not in text(res)
    public_id = shopper.checkout()  # base and DLC in one cart: allowed
    assert sorted(line.game_id for line in order_snapshot(app, public_id).lines) == sorted([base, dlc])


def test_checkout_refuses_dlc_whose_base_left_the_cart(app, make_user):
    _, base, dlc = _base_and_dlc(app, make_user)
    shopper = Shopper(app, make_user())
    shopper.add(base)
    shopper.add(dlc)
    shopper.remove(base)
    res = shopper.browser.post("/checkout", follow_redirects=True)
    assert "Godmaster is DLC for Hollow Knight: add Hollow Knight to your cart or remove Godmaster." in text(res)
    assert orders_of(app, shopper.user.id) == []


def test_an_owner_of_the_base_game_buys_the_dlc_and_the_library_groups_it(app, make_user):
    _, base, dlc = _base_and_dlc(app, make_user)
    shopper = Shopper(app, make_user())
    grant(app, shopper.user.id, base)
    shopper.buy(dlc)
    assert library_of(app, shopper.user.id) == sorted([base, dlc])
    page = text(shopper.browser.get("/library"))
    assert page.count('class="library-cell"') == 1  # one card: the base game, its DLC under it
    assert 'aria-label="DLC for Hollow Knight"' in page and "Godmaster" in page


def test_the_base_game_page_lists_its_dlc_owned_or_not(app, make_user):
    _, base, dlc = _base_and_dlc(app, make_user)
    with app.app_context():
        slug, dlc_slug = (db.session.get(Game, i).slug for i in (base, dlc))
    shopper = Shopper(app, make_user())
    page = text(shopper.browser.get(f"/games/{slug}"))
    assert "DLC for this game" in page and "Godmaster" in page and "Not owned" in page
    grant(app, shopper.user.id, dlc)
    page = text(shopper.browser.get(f"/games/{slug}"))
    assert "dlc-owned" in page and "Not owned" not in page
    page = text(shopper.browser.get(f"/games/{dlc_slug}"))
    assert "DLC for Hollow Knight: you need it to buy this." in page
    assert "DLC for this game" not in text(shopper.browser.get(f"/games/{dlc_slug}"))


def test_refunding_the_base_waits_for_refundable_dlc_of_another_order(app, make_user):
    _, base, dlc = _base_and_dlc(app, make_user)
    shopper = Shopper(app, make_user())
    base_order = shopper.buy(base)
    dlc_order = shopper.buy(dlc)
    page = text(shopper.browser.get(f"/orders/{base_order}"))
    assert "You own Godmaster, DLC for a game in this order, from another order." in page
    res = shopper.browser.post(f"/orders/{base_order}/refund", follow_redirects=True)
    assert "You own Godmaster, DLC for a game in this order, from order Godmaster. Refund that order first" in text(res)
    assert order_snapshot(app, base_order).status == "PAID"
    assert library_of(app, shopper.user.id) == sorted([base, dlc])
    # Refund the DLC first, then the base game goes too.
    shopper.browser.post(f"/orders/{dlc_order}/refund")
    shopper.browser.post(f"/orders/{base_order}/refund")
    assert [s for _, s in orders_of(app, shopper.user.id)] == ["REFUNDED", "REFUNDED"]
    assert library_of(app, shopper.user.id) == []


def test_base_and_dlc_of_one_order_are_refunded_together(app, make_user):
    _, base, dlc = _base_and_dlc(app, make_user)
    shopper = Shopper(app, make_user())
    public_id = shopper.buy(base, dlc)
    shopper.browser.post(f"/orders/{public_id}/refund")
    assert order_snapshot(app, public_id).status == "REFUNDED"
    assert library_of(app, shopper.user.id) == []


def test_dlc_past_its_window_stays_owned_and_waits_for_the_base_game(app, make_user):
    _, base, dlc = _base_and_dlc(app, make_user)
    shopper = Shopper(app, make_user())
    base_order = shopper.buy(base)
    dlc_order = paid_order(app, shopper.user.id, dlc)
    set_order(app, dlc_order, paid_at=utcnow() - timedelta(days=30))  # no refund any more
    res = shopper.browser.post(f"/orders/{base_order}/refund", follow_redirects=True)
    assert "Refunded." in text(res)
    assert library_of(app, shopper.user.id) == [dlc]
    page = text(shopper.browser.get("/library"))
    assert "DLC: needs Hollow Knight to play." in page
    shopper.buy(base)  # bought again: the DLC is under it again
    page = text(shopper.browser.get("/library"))
    assert "DLC: needs Hollow Knight" not in page and 'aria-label="DLC for Hollow Knight"' in page


def test_a_gifted_dlc_is_claimed_only_by_an_owner_of_the_base_game(app, outbox, make_user):
    _, base, dlc = _base_and_dlc(app, make_user)
    giver = Shopper(app, make_user())
    friend = Shopper(app, make_user(email="f@example.com"))
    send_gift(giver, dlc, friend.user.email)
    token = claim_token(outbox, friend.user.email)
    res = friend.browser.post(f"/gifts/claim/{token}", follow_redirects=True)
    assert "Godmaster is DLC for Hollow Knight: get Hollow Knight first, then claim this gift." in text(res)
    assert [g.status for g in gifts(app)] == ["sent"]
    grant(app, friend.user.id, base)
    assert friend.browser.post(f"/gifts/claim/{token}").headers["Location"] == "/library"
    assert library_of(app, friend.user.id) == sorted([base, dlc])


def test_the_publisher_sets_the_base_game_in_the_game_form(app, make_user):
    publisher, base, dlc = _base_and_dlc(app, make_user)
    other = make_user(role="publisher")
    with app.app_context():
        foreign = make_game("Celeste", price=20000, publisher_id=other.id)
        new = make_game("Hidden Dreams", price=4000, publisher_id=publisher.id)
    seller = Shopper(app, publisher)
    page = text(seller.browser.get(f"/publisher/games/{new}/edit"))
    assert "DLC of" in page and "Hollow Knight" in page and "Celeste" not in page and ">Godmaster<" not in page
    form = {"title": "Hidden Dreams", "price": "4000", "category_id": "", "base_game_id": str(base)}
    res = seller.browser.post(f"/publisher/games/{new}/edit", form)
    assert res.status_code == 302
    with app.app_context():
        assert db.session.get(Game, new).base_game_id == base
    for bad in (str(foreign), str(dlc), str(new), "abc", "99999999999999999999"):
        res = seller.browser.post(f"/publisher/games/{new}/edit", {**form, "base_game_id": bad})
        assert res.status_code == 400, bad
    res = seller.browser.post(f"/publisher/games/{base}/edit", {**form, "title": "Hollow Knight",
                                                                "base_game_id": str(new)})
    assert res.status_code == 400  # a game that must stay a base game (it has DLC)
    with app.app_context():
        assert db.session.get(Game, new).base_game_id == base
        assert db.session.get(Game, base).base_game_id is None
    # Someone else's game can't be edited at all, nor can a customer use the form.
    assert Shopper(app, other).browser.post(f"/publisher/games/{new}/edit", form).status_code == 403
    assert Shopper(app, make_user()).browser.post(f"/publisher/games/{new}/edit", form).status_code == 403


def test_refunding_just_the_base_game_waits_for_refundable_dlc_of_another_order(app, make_user):
    """The per-game refund keeps the same rule as the whole order's."""
    from shop.orders.models import Order, OrderLine

    publisher, base, dlc = _base_and_dlc(app, make_user)
    with app.app_context():
        other = make_game("Silksong", price=20000, publisher_id=publisher.id)
    shopper = Shopper(app, make_user())
    base_order = shopper.buy(base, other)
    shopper.buy(dlc)
    with app.app_context():
        line_id = db.session.scalar(select(OrderLine.id).join(Order, Order.id == OrderLine.order_id).where(
            Order.public_id == base_order, OrderLine.game_id == base))
    res = shopper.browser.post(f"/orders/{base_order}/lines/{line_id}/refund", follow_redirects=True)
    assert "You own Godmaster, DLC for a game in this order, from order" in text(res)
    assert order_snapshot(app, base_order).status == "PAID"
    assert library_of(app, shopper.user.id) == sorted([base, other, dlc])
