"""Real concurrency on PostgreSQL: several threads, each with its own test client and
therefore its own database connection, hit the same order at the same moment.

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
from shop.infra.mail import EmailLog
from shop.notifications.models import Notification
from shop.orders.models import Order, OrderLine, PaymentEvent
from shop.library.models import LibraryEntry

from tests.support.env import DATABASE_URL
from ..support.catalog import make_game
from ..support.orders import ShopBrowser, Shopper, count, library_of, orders_of, scalar, session_login, success_url
from .toss_server import toss  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.no_db_isolation,
    pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"),
                       reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to test"),
]

TABS = 4


@pytest.fixture
def committed(app, make_user):
    """Make users and games for real (committed), and delete everything they led to afterwards."""
    made = SimpleNamespace(users=[], emails=[], games=[])

    def user(**kwargs):
        u = make_user(**kwargs)
        made.users.append(u.id)
        made.emails.append(u.email)
        return u

    def game(title, price):
        publisher = user(role="publisher")
        with app.app_context():
            game_id = make_game(title, price=price, publisher_id=publisher.id)
        made.games.append(game_id)
        return game_id

    yield SimpleNamespace(user=user, game=game)

    with app.app_context():
        orders = select(Order.id).where(Order.user_id.in_(made.users))
        db.session.execute(delete(LibraryEntry).where(LibraryEntry.user_id.in_(made.users)))
        db.session.execute(delete(PaymentEvent).where(PaymentEvent.order_id.in_(orders)))
        db.session.execute(delete(OrderLine).where(OrderLine.order_id.in_(orders)))
        db.session.execute(delete(Order).where(Order.user_id.in_(made.users)))
        db.session.execute(delete(CartItem).where(CartItem.user_id.in_(made.users)))
        db.session.execute(delete(Notification).where(Notification.user_id.in_(made.users)))
        db.session.execute(delete(EmailLog).where(EmailLog.recipient.in_(made.emails)))
        db.session.execute(delete(Game).where(Game.id.in_(made.games)))
        db.session.execute(delete(User).where(User.id.in_(made.users)))
        db.session.commit()
    assert count(app, User, User.id.in_(made.users)) == 0


def at_once(app, user_id, request, n=TABS) -> list[tuple]:
    """`request(browser)` from n threads released together; each thread is a logged-in tab
    with its own client (its own app context, session and database connection).
    Returns (status code, browser) per tab."""
    browsers = [ShopBrowser(app) for _ in range(n)]
    for browser in browsers:
        session_login(app, browser, user_id)
    barrier = threading.Barrier(n)
    statuses, errors = [], []

    def tab(browser):
        try:
            barrier.wait(timeout=10)
            statuses.append((request(browser).status_code, browser))
        except Exception as exc:  # surfaced below: a thread's assertion must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=tab, args=(b,)) for b in browsers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(statuses) == n
    return statuses


@pytest.mark.parametrize("toss_delay", [True, False], ids=["toss-slow", "toss-fast"])
def test_success_url_hit_by_several_tabs_at_once_charges_and_grants_once(app, toss, committed, toss_delay):
    buyer = committed.user()
    game_id = committed.game("Hollow Knight", 16500)
    shopper = Shopper(app, buyer)
    shopper.add(game_id)
    public_id = shopper.checkout()
    payment_key = toss.authorize(public_id, 16500)
    if toss_delay:
        toss.scenario("delay")  # the first confirm is still inside Toss while the others arrive

    tabs = at_once(app, buyer.id, lambda b: b.get(success_url(payment_key, public_id, 16500)))

    statuses = [status for status, _ in tabs]
    assert set(statuses) <= {302, 202} and 302 in statuses  # paid, or "still confirming" for the losers
    for status, browser in tabs:
        page = browser.get(f"/orders/{public_id}").get_data(as_text=True)
        assert "Nothing was charged" not in page and "did not go through" not in page
    assert toss.confirm_effects() == 1
    assert len(toss.calls_to("POST", "/v1/payments/confirm")) == 1
    assert orders_of(app, buyer.id) == [(public_id, "PAID")]
    assert library_of(app, buyer.id) == [game_id]
    assert count(app, LibraryEntry, LibraryEntry.user_id == buyer.id) == 1
    assert scalar(app, select(Game.sales_count).where(Game.id == game_id)) == 1
    assert count(app, Notification, Notification.user_id == buyer.id, Notification.kind == "order_paid") == 1
    assert count(app, PaymentEvent, PaymentEvent.kind == "confirm",
                 PaymentEvent.order_id == select(Order.id).where(Order.public_id == public_id).scalar_subquery()) == 1


def test_pay_pressed_in_several_tabs_at_once_leaves_one_open_order(app, toss, committed):
    buyer = committed.user()
    game_id = committed.game("Celeste", 22000)
    Shopper(app, buyer).add(game_id)

    tabs = at_once(app, buyer.id, lambda b: b.post("/checkout"))

    assert [status for status, _ in tabs] == [200] * TABS  # every tab got a payment window...
    states = [status for _, status in orders_of(app, buyer.id)]
    assert states.count("PENDING") == 1  # ...but only the newest order can still be paid
    assert set(states) == {"PENDING", "CANCELLED"}


def test_refund_pressed_in_several_tabs_at_once_cancels_once(app, toss, committed):
    buyer = committed.user()
    game_id = committed.game("Hades", 24000)
    shopper = Shopper(app, buyer)
    shopper.add(game_id)
    public_id = shopper.checkout()
    payment_key = toss.authorize(public_id, 24000)
    assert shopper.return_from_toss(payment_key, public_id, 24000).status_code == 302

    tabs = at_once(app, buyer.id, lambda b: b.post(f"/orders/{public_id}/refund"))

    assert [status for status, _ in tabs] == [302] * TABS
    assert toss.cancel_effects() == 1
    assert orders_of(app, buyer.id) == [(public_id, "REFUNDED")]
    assert library_of(app, buyer.id) == []
    assert scalar(app, select(Game.sales_count).where(Game.id == game_id)) == 0
