"""A gift claimed from several tabs at once, on the real database (SQLite and
PostgreSQL): threads, each with its own test client and database connection, press
"Claim" together. One library entry, one claim, one notification for the giver.

The usual per-test rollback shares one connection, which would serialise everything,
so these tests commit real rows (`no_db_isolation`) and delete them at the end.
"""
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, select

from shop.accounts.models import User
from shop.cart.models import CartItem
from shop.catalog.models import Game
from shop.extensions import db
from shop.gifts.models import Gift
from shop.infra.mail import EmailLog
from shop.library.models import LibraryEntry
from shop.notifications.models import Notification
from shop.orders.models import Order, OrderLine, PaymentEvent, SandboxPayment

from ..support.catalog import make_game
from ..support.orders import ShopBrowser, Shopper, count, library_of, session_login
from .helpers import claim_token, gifts, send_gift

pytestmark = pytest.mark.no_db_isolation

TABS = 4


@pytest.fixture
def committed(app, make_user):
    made = SimpleNamespace(users=[], emails=[], games=[])

    def user(**kwargs):
        u = make_user(**kwargs)
        made.users.append(u.id)
        made.emails.append(u.email)
        return u

    def game(title):
        publisher = user(role="publisher")
        with app.app_context():
            game_id = make_game(title, price=15000, publisher_id=publisher.id)
        made.games.append(game_id)
        return game_id

    yield SimpleNamespace(user=user, game=game, emails=made.emails)

    with app.app_context():
        orders = select(Order.id).where(Order.user_id.in_(made.users))
        db.session.execute(delete(Gift).where(Gift.giver_id.in_(made.users)))
        db.session.execute(delete(LibraryEntry).where(LibraryEntry.user_id.in_(made.users)))
        db.session.execute(delete(PaymentEvent).where(PaymentEvent.order_id.in_(orders)))
        db.session.execute(delete(SandboxPayment).where(SandboxPayment.order_public_id.in_(
            select(Order.public_id).where(Order.user_id.in_(made.users)))))
        db.session.execute(delete(OrderLine).where(OrderLine.order_id.in_(orders)))
        db.session.execute(delete(Order).where(Order.user_id.in_(made.users)))
        db.session.execute(delete(CartItem).where(CartItem.user_id.in_(made.users)))
        db.session.execute(delete(Notification).where(Notification.user_id.in_(made.users)))
        db.session.execute(delete(EmailLog).where(EmailLog.recipient.in_(made.emails + ["race@example.com"])))
        db.session.execute(delete(Game).where(Game.id.in_(made.games)))
        db.session.execute(delete(User).where(User.id.in_(made.users)))
        db.session.commit()
    assert count(app, User, User.id.in_(made.users)) == 0


def at_once(app, tabs) -> list[int]:
    """Each (user id, request(browser)) from its own thread (a logged-in tab with its own
    client and database connection), released together; returns the status codes."""
    browsers = []
    for user_id, request in tabs:
        browser = ShopBrowser(app)
        session_login(app, browser, user_id)
        browser.csrf_token()  # read before the race, as an open page would have it
        browsers.append((browser, request))
    barrier = threading.Barrier(len(browsers))
    statuses, errors = [], []

    def tab(browser, request):
        try:
            barrier.wait(timeout=10)
            statuses.append(request(browser).status_code)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=tab, args=pair) for pair in browsers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(statuses) == len(browsers)
    return statuses


def told_something(app, statuses) -> bool:
    """Every tab got an answer, none an error. On SQLite, whose one writer at a time can
    keep a racing tab waiting past its busy timeout, that answer may be the "busy, try
    again" page (503) instead; PostgreSQL must answer every tab."""
    allowed = {302} if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else {302, 503}
    return set(statuses) <= allowed and 302 in statuses


def _gift(app, outbox, committed, to):
    giver = Shopper(app, committed.user(nickname="Santa"))
    game_id = committed.game("Hollow Knight")
    send_gift(giver, game_id, to)
    return giver, game_id, claim_token(outbox, to)


def test_one_recipient_claiming_in_several_tabs_at_once_gets_one_copy(app, outbox, committed):
    friend = committed.user(email="race@example.com")
    giver, game_id, token = _gift(app, outbox, committed, friend.email)

    statuses = at_once(app, [(friend.id, lambda b: b.post(f"/gifts/claim/{token}"))] * TABS)

    assert told_something(app, statuses), statuses  # each tab is told something; none fails
    assert library_of(app, friend.id) == [game_id]
    assert count(app, LibraryEntry, LibraryEntry.user_id == friend.id) == 1
    [gift] = gifts(app, giver_id=giver.user.id)
    assert gift.status == "claimed" and gift.claimed_by == friend.id
    assert count(app, Notification, Notification.user_id == giver.user.id, Notification.kind == "gift_claimed") == 1


def test_several_people_claiming_one_gift_at_once_one_gets_it(app, outbox, committed):
    giver, game_id, token = _gift(app, outbox, committed, "race@example.com")
    claimers = [committed.user().id for _ in range(TABS)]

    statuses = at_once(app, [(user_id, lambda b: b.post(f"/gifts/claim/{token}")) for user_id in claimers])

    assert told_something(app, statuses), statuses
    owners = [user_id for user_id in claimers if library_of(app, user_id) == [game_id]]
    assert len(owners) == 1
    assert count(app, LibraryEntry, LibraryEntry.game_id == game_id) == 1
    [gift] = gifts(app, giver_id=giver.user.id)
    assert gift.status == "claimed" and gift.claimed_by == owners[0]


def test_claim_and_refund_at_once_never_both(app, outbox, committed):
    friend = committed.user(email="race@example.com")
    giver, game_id, token = _gift(app, outbox, committed, friend.email)
    [gift] = gifts(app, giver_id=giver.user.id)

    refund = (giver.user.id, lambda b: b.post(f"/gifts/{gift.public_id}/refund"))
    claim = (friend.id, lambda b: b.post(f"/gifts/claim/{token}"))

    statuses = at_once(app, [refund] + [claim] * (TABS - 1))

    assert told_something(app, statuses), statuses
    [after] = gifts(app, giver_id=giver.user.id)
    order_status = db_order_status(app, after.order_id)
    if after.status == "claimed":
        assert library_of(app, friend.id) == [game_id] and order_status == "PAID"
    else:
        assert after.status == "refunded" and library_of(app, friend.id) == [] and order_status == "REFUNDED"


def db_order_status(app, order_id):
    with app.app_context():
        return db.session.get(Order, order_id).status
