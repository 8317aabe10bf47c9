"""Product keys through the site: the publisher's upload, the buyer's key, sold out,
refund, and who may see what."""
import io
import logging
import re
from html import unescape

import pytest
from sqlalchemy import select

from shop.extensions import db
from shop.library import keys as key_service
from shop.library.models import ProductKey

from ..support.catalog import make_game
from ..support.orders import ShopBrowser, Shopper, orders_of, session_login


def browser_as(app, user_id) -> ShopBrowser:
    browser = ShopBrowser(app)
    session_login(app, browser, user_id)
    return browser


def upload(browser, game_id, text: str | bytes, csrf=True):
    data = text.encode() if isinstance(text, str) else text
    token = {}
    if csrf:
        page = browser.get(f"/publisher/games/{game_id}/keys").get_data(as_text=True)
        token = {"csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)}
    return browser.client.post(f"/publisher/games/{game_id}/keys",
                               data={**token, "pool": (io.BytesIO(data), "keys.csv")},
                               content_type="multipart/form-data")


def pool(app, game_id) -> dict:
    """{status: count} of the game's pool."""
    with app.app_context():
        counts = key_service.pool_counts(game_id)
    return {"available": counts.available, "reserved": counts.reserved, "assigned": counts.assigned,
            "void": counts.void}


def errors_of(res) -> str:
    return " ".join(unescape(m) for m in re.findall(r'<small class="error" role="alert">(.*?)</small>',
                                                    res.get_data(as_text=True), re.S))


@pytest.fixture
def world(app, make_user):
    publisher = make_user(role="publisher")
    with app.app_context():
        game = make_game("Keyed Quest", price=15000, publisher_id=publisher.id)
    return type("World", (), {"publisher": publisher, "game": game})


def seed(app, game_id, *keys):
    with app.app_context():
        key_service.upload_pool(game_id, "\n".join(keys).encode())


# --- upload ----------------------------------------------------------------------------

def test_publisher_uploads_a_pool_with_a_key_column_and_duplicates_are_ignored(app, world):
    pub = browser_as(app, world.publisher.id)
    seed(app, world.game, "AAAA-0001")
    res = upload(pub, world.game, "platform,key\nsteam,AAAA-0001\nsteam,BBBB-0002\nsteam,BBBB-0002\n\nsteam,CCCC-0003\n")
    assert res.status_code == 302
    flashes = pub.get(res.headers["Location"]).get_data(as_text=True)
    assert "Added 2 keys; 2 duplicates were ignored." in flashes
    assert pool(app, world.game)["available"] == 3
    with app.app_context():
        rows = db.session.scalars(select(ProductKey).where(ProductKey.game_id == world.game)).all()
        # encrypted at rest (a Fernet token), found by a 64-hex-digit keyed hash
        assert all(r.ciphertext.startswith("gAAAA") and "BBBB-0002" not in r.ciphertext for r in rows)
        assert all(re.fullmatch(r"[0-9a-f]{64}", r.key_hash) for r in rows)
        assert sorted(key_service._decrypt(key_service._fernet(), r.ciphertext) for r in rows) == [
            "AAAA-0001", "BBBB-0002", "CCCC-0003"]


@pytest.mark.parametrize("content, message", [
    ("GOOD-1\n" + "X" * 201 + "\nGOOD-2\n", "Row 2: the key is longer than 200 characters."),
    ("GOOD-1\nBAD,TWO\n", "Row 2: 2 columns"),
    ("key\nGOOD-1\n \"\"\n\"bad\x07\"\n", "Row 4: the key contains control characters."),
    ("\n\n", "The file holds no keys."),
    (b"\xff\xfe\x00bad", "The file is not UTF-8 text."),
    ("K\n" * 10_001, "more than 10,000 keys"),
    ("K" * (1024 * 1024 + 1), "larger than 1024 KB"),
])
def test_a_bad_file_is_refused_with_a_clear_message_and_adds_nothing(app, world, content, message):
    pub = browser_as(app, world.publisher.id)
    res = upload(pub, world.game, content)
    assert res.status_code == 400
    assert message in errors_of(res)
    assert pool(app, world.game) == {"available": 0, "reserved": 0, "assigned": 0, "void": 0}


def test_upload_without_csrf_token_is_refused(app, world):
    pub = browser_as(app, world.publisher.id)
    res = upload(pub, world.game, "AAAA-1\n", csrf=False)
    assert res.status_code == 400
    assert pool(app, world.game)["available"] == 0


@pytest.mark.parametrize("who", ["other_publisher", "customer"])
def test_only_the_games_publisher_or_an_admin_may_upload(app, world, make_user, who):
    intruder = make_user(role="publisher" if who == "other_publisher" else "customer")
    browser = browser_as(app, intruder.id)
    assert browser.get(f"/publisher/games/{world.game}/keys").status_code == 403
    res = browser.post(f"/publisher/games/{world.game}/keys",
                       {"pool": (io.BytesIO(b"AAAA-1\n"), "keys.csv")}, content_type="multipart/form-data")
    assert res.status_code == 403
    assert pool(app, world.game)["available"] == 0
    admin = browser_as(app, make_user(role="admin").id)
    assert upload(admin, world.game, "AAAA-1\n").status_code == 302
    assert pool(app, world.game)["available"] == 1


# --- buying ----------------------------------------------------------------------------

def test_a_paid_copy_gets_one_key_shown_only_to_its_owner(app, world, make_user, caplog):
    caplog.set_level(logging.DEBUG)
    seed(app, world.game, "FIRST-KEY-111", "SECOND-KEY-222")
    buyer = Shopper(app, make_user())
    public_id = buyer.buy(world.game)

    assert pool(app, world.game) == {"available": 1, "reserved": 0, "assigned": 1, "void": 0}
    library = buyer.browser.get("/library").get_data(as_text=True)
    receipt = buyer.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert "FIRST-KEY-111" in library and "FIRST-KEY-111" in receipt
    assert "SECOND-KEY-222" not in library

    other = browser_as(app, make_user().id)
    assert "FIRST-KEY-111" not in other.get("/library").get_data(as_text=True)
    assert other.get(f"/orders/{public_id}").status_code == 404
    admin = browser_as(app, make_user(role="admin").id)
    admin_view = admin.get(f"/orders/{public_id}")
    assert admin_view.status_code == 200 and "FIRST-KEY-111" not in admin_view.get_data(as_text=True)
    assert not [r for r in caplog.records if "KEY-111" in r.getMessage() or "KEY-222" in r.getMessage()]


def test_an_empty_pool_is_sold_out_and_checkout_refuses_it(app, world, make_user):
    seed(app, world.game, "ONLY-KEY")
    late = Shopper(app, make_user())
    late.add(world.game)  # in the cart before the last key goes
    Shopper(app, make_user()).buy(world.game)

    page = Shopper(app, make_user()).browser.get(f"/games/{make_slug(app, world.game)}").get_data(as_text=True)
    assert "Sold out" in page and "Add to cart" not in page
    res = late.browser.post("/checkout")
    assert res.status_code == 302 and res.headers["Location"].endswith("/cart")
    assert "Sold out: Keyed Quest. Remove it from your cart." in late.flashes()
    assert orders_of(app, late.user.id) == []  # nothing half-made
    newcomer = Shopper(app, make_user())
    assert "Keyed Quest is sold out." in newcomer.add(world.game).get_data(as_text=True)


def make_slug(app, game_id):
    from shop.catalog.models import Game

    with app.app_context():
        return db.session.get(Game, game_id).slug


def test_a_cancelled_checkout_puts_its_key_back(app, world, make_user):
    seed(app, world.game, "ONLY-KEY")
    buyer = Shopper(app, make_user())
    buyer.add(world.game)
    public_id = buyer.checkout()
    assert pool(app, world.game)["reserved"] == 1
    assert "Sold out" in Shopper(app, make_user()).browser.get(
        f"/games/{make_slug(app, world.game)}").get_data(as_text=True)  # held by the open checkout
    res = buyer.sandbox(public_id, "cancel")
    buyer.browser.get(res.headers["Location"])
    assert pool(app, world.game) == {"available": 1, "reserved": 0, "assigned": 0, "void": 0}
    Shopper(app, make_user()).buy(world.game)
    assert pool(app, world.game)["assigned"] == 1


def test_a_refund_voids_the_key_and_it_is_never_sold_again(app, world, make_user):
    seed(app, world.game, "KEY-ONE", "KEY-TWO")
    buyer = Shopper(app, make_user())
    public_id = buyer.buy(world.game)
    with app.app_context():
        first = key_service.keys_for_user(buyer.user.id)[world.game]
    res = buyer.browser.post(f"/orders/{public_id}/refund")
    assert res.status_code == 302
    assert orders_of(app, buyer.user.id) == [(public_id, "REFUNDED")]
    assert pool(app, world.game) == {"available": 1, "reserved": 0, "assigned": 0, "void": 1}
    assert first not in buyer.browser.get("/library").get_data(as_text=True)
    assert first not in buyer.browser.get(f"/orders/{public_id}").get_data(as_text=True)

    again = Shopper(app, make_user())
    again.buy(world.game)
    with app.app_context():
        second = key_service.keys_for_user(again.user.id)[world.game]
    assert second != first
    assert pool(app, world.game) == {"available": 0, "reserved": 0, "assigned": 1, "void": 1}


def test_a_game_without_a_pool_sells_as_before(app, world, make_user):
    buyer = Shopper(app, make_user())
    public_id = buyer.buy(world.game)
    assert orders_of(app, buyer.user.id) == [(public_id, "PAID")]
    assert "Product key" not in buyer.browser.get("/library").get_data(as_text=True)


def test_pressing_pay_again_moves_the_last_key_to_the_newer_checkout(app, world, make_user):
    seed(app, world.game, "ONLY-KEY")
    buyer = Shopper(app, make_user())
    buyer.add(world.game)
    first = buyer.checkout()
    second = buyer.checkout()  # replaces the first order, whose key goes to this one
    assert dict(orders_of(app, buyer.user.id)) == {first: "CANCELLED", second: "PENDING"}
    assert pool(app, world.game) == {"available": 0, "reserved": 1, "assigned": 0, "void": 0}
    res = buyer.sandbox(second, "decline")
    buyer.browser.get(res.headers["Location"])
    assert pool(app, world.game) == {"available": 1, "reserved": 0, "assigned": 0, "void": 0}


def test_a_pool_uploaded_during_a_checkout_gives_that_order_a_key_if_one_is_free(app, world, make_user):
    buyer = Shopper(app, make_user())
    buyer.add(world.game)
    public_id = buyer.checkout()  # no pool yet: sold as a keyless copy
    seed(app, world.game, "LATE-KEY")
    res = buyer.sandbox(public_id, "approve")
    buyer.browser.get(res.headers["Location"])
    assert orders_of(app, buyer.user.id) == [(public_id, "PAID")]
    assert "LATE-KEY" in buyer.browser.get("/library").get_data(as_text=True)
    assert pool(app, world.game) == {"available": 0, "reserved": 0, "assigned": 1, "void": 0}
