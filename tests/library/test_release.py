"""The release job: on release day it unlocks pre-orders (keys show), and tells each
buyer (notification + email) and each wisher (notification) exactly once."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shop.catalog.models import Game
from shop.extensions import db
from shop.infra.jobs import CRON
from shop.infra.mail import EmailLog
from shop.library import keys
from shop.library.models import LibraryEntry
from shop.library.release import release_due_games
from shop.notifications.models import Notification
from shop.timeutil import seoul_today, utcnow

from ..support.orders import Shopper, new_game, paid_order

DAYS = 3


@pytest.fixture
def preordered(app, make_user):
    """A game out in three days, pre-ordered by one buyer (with a key) and wished by another."""
    game_id = new_game(app, "Skyward Isle", price=25000, release_date=seoul_today() + timedelta(days=DAYS),
                       preorder_allowed=True)
    with app.app_context():
        keys.upload_pool(game_id, b"ISLE-0001-KEY\n")
    buyer = Shopper(app, make_user(nickname="Early Bird"))
    buyer.buy(game_id)
    wisher = Shopper(app, make_user(nickname="Dreamer"))
    with app.app_context():
        slug = db.session.get(Game, game_id).slug
    assert wisher.browser.post(f"/games/{slug}/wishlist", {"wanted": "1"}).status_code == 302  # coming soon: wishable
    return game_id, buyer, wisher


def counts(app, game_title="Skyward Isle"):
    with app.app_context():
        notes = dict(db.session.execute(select(Notification.kind, func.count()).group_by(Notification.kind)
                                        .where(Notification.kind.in_(["preorder_released", "wishlist_released"])))
                     .all())
        mails = db.session.scalar(select(func.count()).select_from(EmailLog).where(EmailLog.kind == "preorder_released"))
        return notes, mails


def run(app, days_ahead):
    with app.app_context():
        return release_due_games(utcnow() + timedelta(days=days_ahead))


def test_nothing_happens_before_the_day(app, preordered):
    game_id, buyer, _wisher = preordered
    assert run(app, DAYS - 1)["games"] == 0
    assert counts(app) == ({}, 0)
    with app.app_context():
        assert db.session.scalar(select(LibraryEntry.awaiting_release).where(LibraryEntry.game_id == game_id))


def test_release_day_unlocks_and_tells_everyone_once(app, preordered, outbox):
    game_id, buyer, wisher = preordered
    summary = run(app, DAYS)
    assert summary == {"games": 1, "buyers": 1, "wishers": 1}
    assert counts(app) == ({"preorder_released": 1, "wishlist_released": 1}, 1)
    with app.app_context():
        assert not db.session.scalar(select(LibraryEntry.awaiting_release).where(LibraryEntry.game_id == game_id))
        assert keys.keys_for_user(buyer.user.id) == {game_id: "ISLE-0001-KEY"}
    # Again, and again the next day: nothing more.
    assert run(app, DAYS)["games"] == 0 and run(app, DAYS + 1)["games"] == 0
    assert counts(app) == ({"preorder_released": 1, "wishlist_released": 1}, 1)

    mail = [m for m in outbox.deliver() if buyer.user.email in m["to"] and "receipt" not in m["subject"]]
    assert len(mail) == 1 and "Skyward Isle is out" in mail[0]["subject"]
    assert "product key are in your library" in mail[0]["text"]
    assert not [m for m in outbox.messages() if wisher.user.email in m["to"]]  # wishers: a notification


def test_two_runs_at_once_announce_once(app, preordered):
    """The claim is a compare-and-set: a second scheduler's run finds nothing to do."""
    from shop.library.release import release_game

    game_id, _buyer, _wisher = preordered
    later = utcnow() + timedelta(days=DAYS)
    with app.app_context():
        first = release_game(game_id, later)
        second = release_game(game_id, later)
    assert first == (1, 1) and second is None
    assert counts(app) == ({"preorder_released": 1, "wishlist_released": 1}, 1)


def test_a_refunded_pre_order_is_not_told(app, preordered):
    game_id, buyer, _wisher = preordered
    public = buyer.browser.get("/orders").get_data(as_text=True)
    import re
    public_id = re.search(r"/orders/([0-9a-f-]{36})", public).group(1)
    assert buyer.browser.post(f"/orders/{public_id}/refund").status_code == 302
    assert run(app, DAYS) == {"games": 1, "buyers": 0, "wishers": 1}
    assert counts(app) == ({"wishlist_released": 1}, 0)


def test_a_postponed_game_is_announced_on_its_new_date(app, preordered):
    from shop.accounts.models import User
    from shop.catalog import services

    game_id, _buyer, _wisher = preordered
    with app.app_context():
        game = db.session.get(Game, game_id)
        publisher = db.session.get(User, game.publisher_id)
        services.update_game(publisher, game, services.GameInput(
            title=game.title, price=game.price, release_date=seoul_today() + timedelta(days=DAYS + 5),
            preorder_allowed=True))
    assert run(app, DAYS)["games"] == 0
    assert run(app, DAYS + 5)["buyers"] == 1


def test_games_already_out_are_not_announced_again(app, make_user):
    game_id = new_game(app, "Classic")
    paid_order(app, make_user().id, game_id)
    with app.app_context():
        db.session.execute(update(Game).where(Game.id == game_id).values(release_announced_at=utcnow()))
        db.session.commit()
    assert run(app, 0)["games"] == 0


def test_the_job_is_on_the_schedule():
    assert ("library-release-games", "*/5 * * * *", "shop.library.release.release_due_games") in CRON
