"""A member's own parts of a page are cached under their view generation
(shop/infra/memberview.py, shop/catalog/overlay.member_parts): a repeat visit reads
their user row (shop/accounts/user_row.py) and nothing else from the database, and every
change a member can see reaches their next page."""
import pytest
from sqlalchemy import event, update

from shop.accounts.models import User
from shop.cart.models import CartItem
from shop.extensions import db
from shop.infra import memberview
from shop.library.models import LibraryEntry
from shop.notifications.models import Notification
from shop.notifications.services import notify

from ..support.browser import run_jobs
from ..support.orders import grant
from .test_page_overlay import _card_control, _member, store  # noqa: F401  (fixture)
from .test_storefront import shop  # noqa: F401  (fixture)


def _page(browser, path):
    return browser.get(path).get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/games", "/games?tag=puzzle", "game", "/cart"])
def test_a_members_repeat_visit_reads_only_their_user_row(app, store, path):
    user, browser = _member(app, "Quiet Reader")
    browser.post(f"/cart/{store['harbor'].id}", htmx=True)
    path = f"/games/{store['lantern'].slug}" if path == "game" else path
    browser.get(path)
    seen = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        res = browser.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    body = res.get_data(as_text=True)
    assert res.status_code == 200 and "Quiet Reader" in body and 'aria-label="Cart, 1 item"' in body
    assert "%%csrf" not in body and "<!--overlay" not in body
    # The waiting rooms' snapshot is read once per WAITING_ROOM_CACHE_SECONDS per process (in
    # a savepoint of its own), by whichever request comes first: not this page's.
    seen = [s for s in seen if "waiting_rooms" not in s and "SAVEPOINT" not in s]
    assert len(seen) == 1 and "FROM users WHERE users.id =" in seen[0], seen  # the user loader's read only


def test_the_header_follows_the_cart_the_bell_and_the_profile(app, store):
    user, browser = _member(app, "Bell Ringer")
    lantern = store["lantern"]
    _page(browser, "/")
    assert 'aria-label="Cart, 0 items"' in _page(browser, "/")
    browser.post(f"/cart/{lantern.id}", htmx=True)
    assert 'aria-label="Cart, 1 item"' in _page(browser, "/")
    browser.post(f"/cart/{lantern.id}/remove", htmx=True)
    assert 'aria-label="Cart, 0 items"' in _page(browser, "/games")
    with app.app_context():  # another process (a job) tells the member something
        notify(user.id, "wishlist_sale", {"title": "Amber Lantern", "price": 9000, "percent": 10}, "/")
        db.session.commit()
    assert "Notifications, 1 unread" in _page(browser, "/")
    browser.post("/notifications/read-all")
    assert "Notifications, 0 unread" in _page(browser, "/")
    with app.app_context():
        db.session.get(User, user.id).nickname = "Bell Renamed"
        db.session.commit()
    page = _page(browser, "/")
    assert "Bell Renamed" in page and "Bell Ringer" not in page


def test_a_game_granted_elsewhere_shows_as_owned_on_the_next_list(app, store):
    user, browser = _member(app, "Late Owner")
    harbor = store["harbor"]
    _page(browser, "/games")
    assert "Add to cart" in _card_control(_page(browser, "/games"), harbor.id)
    grant(app, user.id, harbor.id)
    assert "In your library" in _card_control(_page(browser, "/games"), harbor.id)


def test_the_game_pages_own_parts_follow_the_members_wishlist_and_review(app, store):
    user, browser = _member(app, "Page Keeper")
    lantern = store["lantern"]
    path = f"/games/{lantern.slug}"
    _page(browser, path)
    page = _page(browser, path)
    assert "Only players who own this game can review it." in page
    browser.post(f"{path}/wishlist", {"wanted": "1"}, htmx=True)
    assert 'name="wanted" value="0"' in _page(browser, path)  # the button now removes it
    grant(app, user.id, lantern.id)
    page = _page(browser, path)
    assert "Review Amber Lantern" in page and "In your library" in _card_control(page, lantern.id)
    browser.post(f"{path}/reviews", {"rating": "5", "body": "Warm and bright all the way through."})
    run_jobs(app)
    page = _page(browser, path)
    assert "You reviewed this game." in page and "Warm and bright" in page


def test_the_cart_page_follows_the_cart_and_the_catalog(app, shop, store):  # noqa: F811
    _, browser = _member(app, "Cart Watcher")
    lantern, harbor = store["lantern"], store["harbor"]
    browser.post(f"/cart/{lantern.id}", htmx=True)
    browser.get("/cart")
    res = browser.get("/cart")
    assert res.headers["X-Page-Cache"] == "hit" and "₩12,000" in res.get_data(as_text=True)
    shop.update(lantern.id, price=11000)
    run_jobs(app)  # after_game_change bumps the catalog's generation
    assert "₩11,000" in _page(browser, "/cart")
    browser.post(f"/cart/{harbor.id}", htmx=True)
    page = _page(browser, "/cart")
    assert "Quiet Harbor" in page and "₩20,000" in page  # 11,000 + 9,000


def test_one_members_cached_parts_never_reach_another(app, store):
    _, ann = _member(app, "Ann Private")
    _, bob = _member(app, "Bob Private")
    ann.post(f"/cart/{store['pool'].id}", htmx=True)
    for path in ("/", f"/games/{store['pool'].slug}", "/cart"):
        for _ in range(2):
            ann_page, bob_page = _page(ann, path), _page(bob, path)
            assert "Ann Private" in ann_page and "Bob Private" not in ann_page, path
            assert "Bob Private" in bob_page and "Ann Private" not in bob_page, path
            assert 'aria-label="Cart, 0 items"' in bob_page, path


def test_signing_out_everywhere_ends_a_login_whose_user_is_cached(app, store):
    from ..support.browser import Browser

    user, first = _member(app, "Two Devices")
    second = Browser(app)
    second.login(user.email)
    assert "Two Devices" in _page(first, "/") and "Two Devices" in _page(first, "/")
    second.post("/account/sessions/revoke")
    assert "Two Devices" not in _page(first, "/")


def test_statements_name_their_members_or_bump_everyone(app, make_user, redis):
    ann, bob = make_user(nickname="Ann Gen"), make_user(nickname="Bob Gen")

    def generations():
        return [int(redis.get(k) or 0) for k in (memberview.generation_key(ann.id),
                                                  memberview.generation_key(bob.id), memberview.ALL)]

    with app.app_context():
        before = generations()
        db.session.execute(update(Notification).where(Notification.user_id == ann.id).values(read_at=None))
        db.session.commit()
        assert generations() == [before[0] + 1, before[1], before[2]]
        db.session.execute(CartItem.__table__.delete().where(CartItem.user_id.in_([ann.id, bob.id])))
        db.session.commit()
        assert generations() == [before[0] + 2, before[1] + 1, before[2]]
        db.session.execute(update(LibraryEntry).where(LibraryEntry.order_id == 1).values(revoked_at=None))
        db.session.commit()
        assert generations() == [before[0] + 2, before[1] + 1, before[2] + 1]  # no member named: everyone
        db.session.execute(update(Notification).where(Notification.user_id == bob.id).values(read_at=None))
        db.session.rollback()
        db.session.commit()
        assert generations() == [before[0] + 2, before[1] + 1, before[2] + 1]  # rolled back: nothing


def test_a_head_this_process_remembers_is_checked_against_redis(app, store, redis):
    from time import monotonic

    from shop.catalog import pagehead

    _, browser = _member(app, "Head Check")
    lantern, harbor = store["lantern"], store["harbor"]
    path = f"/games/{lantern.slug}"
    _page(browser, path)
    # Redis lost the head (it restarted empty) while this process still knows one that
    # names another game under the same generation
    redis.delete(pagehead.PREFIX + path)
    app.extensions["playcation.pagehead"][path] = (f"{harbor.id}:0:buy", monotonic() + 600)
    page = _page(browser, path)
    assert "<h1>Amber Lantern</h1>" in page or "Amber Lantern</h1>" in page
    assert "Quiet Harbor</h1>" not in page


def test_a_refund_takes_the_game_off_the_members_cached_marks(app, store, redis):
    from shop.library.services import revoke
    from shop.timeutil import utcnow

    user, browser = _member(app, "Refunded Owner")
    harbor = store["harbor"]
    grant(app, user.id, harbor.id)
    _page(browser, "/games")
    assert "In your library" in _card_control(_page(browser, "/games"), harbor.id)
    everyone = redis.get(memberview.ALL)
    with app.app_context():
        order_id = db.session.scalar(db.select(LibraryEntry.order_id).where(LibraryEntry.user_id == user.id))
        revoke(order_id, utcnow())
        db.session.commit()
    assert redis.get(memberview.ALL) == everyone  # the refund named its owner: no one else's parts go
    assert "Add to cart" in _card_control(_page(browser, "/games"), harbor.id)


def test_a_members_cached_buy_box_follows_the_calendar(app, store, redis):
    from shop.catalog import pagehead
    from shop.catalog.models import Game
    from shop.timeutil import seoul_today

    _, browser = _member(app, "Calendar Watcher")
    soon = store["soon"]
    path = f"/games/{soon.slug}"
    _page(browser, path)
    assert "Pre-order" in _card_control(_page(browser, path), soon.id)
    with app.app_context():  # its release day comes: the calendar, not an edit (no generation bump)
        db.session.execute(update(Game).where(Game.id == soon.id).values(release_date=seoul_today()))
        db.session.commit()
    redis.delete(pagehead.PREFIX + path)  # a coming-soon game's head ends when its release day starts
    app.extensions["playcation.pagehead"].pop(path, None)
    control = _card_control(_page(browser, path), soon.id)
    assert "Add to cart" in control and "Pre-order" not in control


def test_a_publishers_reply_reaches_a_members_cached_reviews(app, shop, store, make_user):  # noqa: F811
    from shop.accounts.models import User as Account
    from shop.catalog.models import Game
    from shop.reviews import services as reviews
    from shop.reviews.models import Review

    writer = make_user(nickname="Review Writer")
    grant(app, writer.id, store["lantern"].id)
    with app.app_context():
        game = db.session.get(Game, store["lantern"].id)
        review = reviews.post_review(db.session.get(Account, writer.id), game, 4, "Bright lanterns and a calm harbour.")
        review_id = review.id
    run_jobs(app)
    _, browser = _member(app, "Review Reader")
    path = f"/games/{store['lantern'].slug}"
    _page(browser, path)
    assert "Bright lanterns" in _page(browser, path)
    with app.app_context():
        row = db.session.get(Review, review_id)
        reviews.reply(db.session.get(Account, db.session.get(Game, row.game_id).publisher_id), row,
                      "Thank you for playing!")
    run_jobs(app)
    assert "Thank you for playing!" in _page(browser, path)
