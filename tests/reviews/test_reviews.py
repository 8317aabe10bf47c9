"""Reviews: owners only, one each, escaping, rating totals, likes, replies, notifications."""
import re

import pytest
from sqlalchemy import select

from shop.catalog.models import Game
from shop.extensions import db
from shop.notifications.models import Notification
from shop.orders.models import Order
from shop.library.models import LibraryEntry
from shop.reviews.models import Review
from shop.timeutil import utcnow

from ..support.catalog import make_game

BODY = "A wonderful game.\nSecond line <script>alert(1)</script>"


@pytest.fixture
def world(app, make_user):
    """A publisher's game, an owner, a verified non-owner and an unverified owner."""
    publisher = make_user(role="publisher")
    owner, stranger = make_user(nickname="Owner"), make_user()
    unverified = make_user(verified=False)
    with app.app_context():
        game_id = make_game("Hades", publisher_id=publisher.id)
        order = Order(user_id=owner.id, status="PAID", subtotal=0, total=0, gateway="sandbox", expires_at=utcnow())
        db.session.add(order)
        db.session.flush()
        for user in (owner, unverified):
            db.session.add(LibraryEntry(user_id=user.id, game_id=game_id, order_id=order.id))
        db.session.commit()
        slug = db.session.get(Game, game_id).slug
    return dict(publisher=publisher, owner=owner, stranger=stranger, unverified=unverified, game_id=game_id, slug=slug)


def _game(app, game_id):
    with app.app_context():
        return db.session.get(Game, game_id)


def _post(browser, slug, rating=5, body=BODY):
    return browser.post(f"/games/{slug}/reviews", {"rating": rating, "body": body}, htmx=True)


def test_owner_posts_a_review_and_the_rating_updates_in_the_same_response(app, browser, world):
    browser.login(world["owner"].email)
    res = _post(browser, world["slug"], 4)
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    # The game page's one rating (in its cached summary) is updated out of band.
    oob = re.search(r'<dd id="game-rating-summary" hx-swap-oob="true">.*?</dd>', html, re.S).group(0)
    assert "4.0" in oob and "(1 review)" in oob
    game = _game(app, world["game_id"])
    assert (game.rating_sum, game.rating_count) == (4, 1)


def test_publisher_is_notified_after_commit(app, browser, world):
    browser.login(world["owner"].email)
    _post(browser, world["slug"])
    with app.app_context():
        note = db.session.scalar(select(Notification).where(Notification.user_id == world["publisher"].id))
        assert note.kind == "review" and note.params == {"nickname": "Owner", "title": "Hades", "rating": 5}


@pytest.mark.parametrize("who,status", [("stranger", 400), ("unverified", 302), ("anonymous", 302)])
def test_only_verified_owners_may_review(app, browser, world, who, status):
    if who != "anonymous":
        browser.login(world[who].email)
    res = _post(browser, world["slug"])
    assert res.status_code in (status, 200 if status == 302 else status)
    with app.app_context():
        assert db.session.scalar(select(Review)) is None


def test_one_review_per_game(app, browser, world):
    browser.login(world["owner"].email)
    _post(browser, world["slug"])
    res = _post(browser, world["slug"], 1, "Changed my mind entirely")
    assert res.status_code == 400 and "already reviewed" in res.get_data(as_text=True)
    assert _game(app, world["game_id"]).rating_count == 1


@pytest.mark.parametrize("rating,body", [(0, BODY), (6, BODY), ("x", BODY), (5, "too short"), (5, "x" * 5001)])
def test_bad_reviews_are_refused(app, browser, world, rating, body):
    browser.login(world["owner"].email)
    assert _post(browser, world["slug"], rating, body).status_code == 400
    assert _game(app, world["game_id"]).rating_count == 0


def test_edit_and_delete_keep_totals_right(app, browser, world):
    browser.login(world["owner"].email)
    _post(browser, world["slug"], 5)
    with app.app_context():
        review_id = db.session.scalar(select(Review.id))
    res = browser.post(f"/reviews/{review_id}/edit", {"rating": 2, "body": "Actually it got boring."}, htmx=True)
    assert res.status_code == 200 and "got boring" in res.get_data(as_text=True)
    assert (_game(app, world["game_id"]).rating_sum, _game(app, world["game_id"]).rating_count) == (2, 1)
    browser.logout()
    browser.login(world["stranger"].email)
    assert browser.post(f"/reviews/{review_id}/edit", {"rating": 1, "body": "Hijacked the review"}).status_code == 403
    assert browser.post(f"/reviews/{review_id}/delete", htmx=True).status_code == 403
    browser.logout()
    browser.login(world["owner"].email)
    assert browser.post(f"/reviews/{review_id}/delete", htmx=True).status_code == 200
    assert (_game(app, world["game_id"]).rating_sum, _game(app, world["game_id"]).rating_count) == (0, 0)


def test_likes_toggle_once_per_user_and_not_on_own_review(app, browser, world):
    browser.login(world["owner"].email)
    _post(browser, world["slug"])
    with app.app_context():
        review_id = db.session.scalar(select(Review.id))
    res = browser.post(f"/reviews/{review_id}/like", htmx=True)
    assert res.status_code == 400 and "own review" in res.get_data(as_text=True)
    browser.logout()
    browser.login(world["stranger"].email)
    res = browser.post(f"/reviews/{review_id}/like", htmx=True)
    assert res.status_code == 200 and '<span class="count">1</span>' in res.get_data(as_text=True)
    res = browser.post(f"/reviews/{review_id}/like", htmx=True)
    assert '<span class="count">0</span>' in res.get_data(as_text=True)
    assert browser.post(f"/reviews/{review_id}/like", csrf=False).status_code == 400


def test_publisher_replies_once_and_the_reviewer_is_notified(app, browser, world, make_user):
    browser.login(world["owner"].email)
    _post(browser, world["slug"])
    with app.app_context():
        review_id = db.session.scalar(select(Review.id))
    browser.logout()
    browser.login(world["stranger"].email)
    assert browser.post(f"/reviews/{review_id}/reply", {"body": "Thanks!"}).status_code == 403
    browser.logout()
    browser.login(world["publisher"].email)
    res = browser.post(f"/reviews/{review_id}/reply", {"body": "Thanks <b>a lot</b>!"}, htmx=True)
    assert res.status_code == 200 and "Thanks &lt;b&gt;a lot&lt;/b&gt;!" in res.get_data(as_text=True)
    browser.post(f"/reviews/{review_id}/reply", {"body": "Edited reply"}, htmx=True)
    with app.app_context():
        assert db.session.get(Review, review_id).reply_body == "Edited reply"
        notes = db.session.scalars(select(Notification).where(Notification.user_id == world["owner"].id,
                                                              Notification.kind == "review_reply")).all()
        assert len(notes) == 1


def test_refunded_purchase_review_stays_and_is_marked(app, browser, world):
    browser.login(world["owner"].email)
    _post(browser, world["slug"])
    with app.app_context():
        entry = db.session.scalar(select(LibraryEntry).where(LibraryEntry.user_id == world["owner"].id))
        entry.revoked_at = utcnow()
        db.session.commit()
    page = browser.get(f"/games/{world['slug']}/reviews").get_data(as_text=True)
    assert "Refunded purchase" in page


def test_sorting_and_load_more(app, browser, world, make_user):
    with app.app_context():
        order = db.session.scalar(select(Order))
        for i in range(12):
            u = make_user()
            db.session.add(LibraryEntry(user_id=u.id, game_id=world["game_id"], order_id=order.id))
            db.session.add(Review(user_id=u.id, game_id=world["game_id"], rating=(i % 5) + 1, body=f"Review number {i:02d}",
                                  likes_count=i))
        db.session.commit()
    page = browser.get(f"/games/{world['slug']}/reviews?sort=helpful").get_data(as_text=True)
    assert page.index("Review number 11") < page.index("Review number 10")
    assert "Load more reviews" in page and "Review number 01" not in page
    more = browser.get(f"/games/{world['slug']}/reviews?sort=helpful&page=2", headers={"HX-Request": "true"})
    assert "Review number 01" in more.get_data(as_text=True) and "<html" not in more.get_data(as_text=True)
    low = browser.get(f"/games/{world['slug']}/reviews?sort=rating_low").get_data(as_text=True)
    assert low.index("★☆☆☆☆") < low.index("★★☆☆☆") and "★★★★★" not in low
    assert browser.get(f"/games/{world['slug']}/reviews?sort=evil&page=-3").status_code == 200


def test_rolled_back_review_publishes_nothing(app, world):
    import redis as redis_lib

    from shop.accounts.models import User

    from tests.support.env import REDIS_URL

    listener = redis_lib.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(f"notify:user:{world['publisher'].id}")
    listener.get_message(timeout=1)
    with app.app_context():
        owner = db.session.get(User, world["owner"].id)
        game = db.session.get(Game, world["game_id"])
        db.session.begin_nested()
        review = Review(game_id=game.id, user_id=owner.id, rating=5, body="never committed review")
        db.session.add(review)
        from shop.notifications.services import notify

        notify(game.publisher_id, "review", {"nickname": "Owner", "title": game.title, "rating": 5}, "/should-vanish")
        db.session.rollback()
        assert db.session.scalar(select(Notification).where(Notification.link == "/should-vanish")) is None
    assert listener.get_message(timeout=1) is None
