"""Many buyers at once against a small key pool: each key goes to exactly one paid
order, and everyone else is told the game sold out and is charged nothing.

Each buyer is a thread with its own test client (its own app context and database
connection), so the checkouts really race on PostgreSQL (the key pick is FOR UPDATE
SKIP LOCKED). On SQLite the smaller run goes one buyer after another: checkout reads
before it writes in a deferred transaction, and SQLite answers such a write with
"database is locked" (the 503 page) when another writer got in between, whatever this
feature does. The rows are committed for real (`no_db_isolation`) and deleted at the end."""
import threading

import pytest
from sqlalchemy import delete, select

from shop.accounts.models import User
from shop.cart.models import CartItem
from shop.catalog.models import Game
from shop.extensions import db
from shop.infra.mail import EmailLog
from shop.library import keys as key_service
from shop.library.models import LibraryEntry, ProductKey
from shop.notifications.models import Notification
from shop.orders.models import Order, OrderLine, PaymentEvent, SandboxPayment

from tests.support.env import DATABASE_URL
from ..support.catalog import make_game
from ..support.orders import Shopper

pytestmark = pytest.mark.no_db_isolation

POSTGRES = DATABASE_URL.startswith("postgresql")


@pytest.fixture
def made(app):
    made = {"users": [], "emails": [], "games": []}
    yield made
    with app.app_context():
        users = made["users"]
        orders = select(Order.id).where(Order.user_id.in_(users))
        public_ids = select(Order.public_id).where(Order.user_id.in_(users))
        db.session.execute(delete(ProductKey).where(ProductKey.game_id.in_(made["games"])))
        db.session.execute(delete(LibraryEntry).where(LibraryEntry.user_id.in_(users)))
        db.session.execute(delete(SandboxPayment).where(SandboxPayment.order_public_id.in_(public_ids)))
        db.session.execute(delete(PaymentEvent).where(PaymentEvent.order_id.in_(orders)))
        db.session.execute(delete(OrderLine).where(OrderLine.order_id.in_(orders)))
        db.session.execute(delete(Order).where(Order.user_id.in_(users)))
        db.session.execute(delete(CartItem).where(CartItem.user_id.in_(users)))
        db.session.execute(delete(Notification).where(Notification.user_id.in_(users)))
        db.session.execute(delete(EmailLog).where(EmailLog.recipient.in_(made["emails"])))
        db.session.execute(delete(Game).where(Game.id.in_(made["games"])))
        db.session.execute(delete(User).where(User.id.in_(users)))
        db.session.commit()


def purchase(shopper: Shopper, game_id: int) -> str:
    """Checkout and pay in the sandbox; returns "paid" or the refusal shown."""
    res = shopper.browser.post("/checkout")
    if res.status_code == 302 and res.headers["Location"].endswith("/cart"):
        return shopper.flashes()
    assert res.status_code == 302 and "/sandbox/pay/" in res.headers["Location"], (res.status_code, res.headers)
    public_id = res.headers["Location"].rsplit("/", 1)[1]
    res = shopper.sandbox(public_id, "approve")
    assert res.status_code == 302 and "paymentKey=" in res.headers["Location"], res.headers.get("Location")
    res = shopper.browser.get(res.headers["Location"])
    assert res.status_code == 302 and res.headers["Location"] == f"/orders/{public_id}", res.headers.get("Location")
    return "paid"


@pytest.mark.parametrize("buyers, pool", [(50, 20)] if POSTGRES else [(8, 3)])
def test_concurrent_purchases_against_a_small_pool(app, make_user, made, buyers, pool):
    publisher = make_user(role="publisher")
    made["users"].append(publisher.id)
    with app.app_context():
        game_id = make_game("Race Keys", price=9000, publisher_id=publisher.id)
        made["games"].append(game_id)
        pool_keys = [f"RACE-{n:04d}-KEY" for n in range(pool)]
        key_service.upload_pool(game_id, "\n".join(pool_keys).encode())
    shoppers = []
    for _ in range(buyers):
        user = make_user()
        made["users"].append(user.id)
        made["emails"].append(user.email)
        shopper = Shopper(app, user)
        assert shopper.add(game_id).status_code == 200
        shopper.browser.csrf_token()  # read once, before the race
        shoppers.append(shopper)

    barrier = threading.Barrier(buyers if POSTGRES else 1)
    outcomes, errors = {}, []

    def buy(shopper):
        try:
            barrier.wait(timeout=30)
            outcomes[shopper.user.id] = purchase(shopper, game_id)
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(repr(exc))

    if POSTGRES:
        threads = [threading.Thread(target=buy, args=(s,)) for s in shoppers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    else:
        for shopper in shoppers:
            buy(shopper)
    assert not errors, errors[:3]
    assert len(outcomes) == buyers

    paid = [uid for uid, outcome in outcomes.items() if outcome == "paid"]
    refused = [outcome for outcome in outcomes.values() if outcome != "paid"]
    assert len(paid) == pool
    assert refused == ["Sold out: Race Keys. Remove it from your cart."] * (buyers - pool)
    with app.app_context():
        statuses = db.session.execute(select(Order.user_id, Order.status).where(
            Order.user_id.in_([s.user.id for s in shoppers]))).all()
        assert sorted(uid for uid, status in statuses if status == "PAID") == sorted(paid)
        assert all(status == "PAID" for _, status in statuses)  # a refused checkout leaves no order
        handed_out = {uid: key_service.keys_for_user(uid).get(game_id) for uid in paid}
        assert sorted(handed_out.values()) == sorted(pool_keys)  # 20 distinct keys, one per paid order
        rows = db.session.execute(select(ProductKey.status, ProductKey.order_id).where(
            ProductKey.game_id == game_id)).all()
        assert {status for status, _ in rows} == {"assigned"}
        assert len({order_id for _, order_id in rows}) == pool
        assert key_service.sold_out_ids([game_id]) == {game_id}
        assert db.session.scalar(select(Game.sales_count).where(Game.id == game_id)) == pool
