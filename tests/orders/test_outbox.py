"""What a buyer is promised commits with the order's state: the receipt's email row
with PAID, the refund's with REFUNDED. With Redis unreachable at that commit nothing
is lost; once Redis is back the sweeper and the worker deliver each message once."""
from sqlalchemy import select

from shop.extensions import db
from shop.infra.mail import EmailLog
from shop.notifications.models import Notification

from ..support.browser import run_jobs
from ..support.redis_outage import redis_outage, sweep  # noqa: F401  (fixture)
from ..support.orders import Shopper, count, new_game, order_snapshot, paid_order


def _emails(app, user_email) -> list[tuple[str, str]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(select(EmailLog.kind, EmailLog.status).where(
            EmailLog.recipient == user_email).order_by(EmailLog.id))]


def test_the_receipt_row_commits_with_paid_and_is_sent_once(app, outbox, make_user):
    shopper = Shopper(app, make_user(nickname="Zagreus"))
    public_id = shopper.buy(new_game(app, "Hades", price=24000))
    assert _emails(app, shopper.user.email) == [("receipt", "queued")]  # before any job ran
    outbox.deliver()
    [mail] = outbox.messages(to=shopper.user.email)
    assert mail["subject"] == "Your Playcation receipt: Hades" and public_id in mail["text"]
    assert _emails(app, shopper.user.email) == [("receipt", "sent")]
    run_jobs(app)
    assert sweep(app) == 0 and len(outbox.messages()) == 1


def test_a_receipt_survives_redis_down_at_the_paid_commit(app, outbox, make_user, redis_outage):
    shopper = Shopper(app, make_user(nickname="Zagreus"))
    game_id = new_game(app, "Hades", price=24000)
    assert shopper.add(game_id).status_code == 200
    public_id = shopper.checkout()
    location = shopper.sandbox(public_id, "approve").headers["Location"]
    shopper.browser.csrf_token()

    redis_outage.down()
    res = shopper.browser.get(location)  # the success redirect: confirm, then the PAID commit
    assert res.status_code == 302 and res.headers["Location"] == f"/orders/{public_id}"
    assert order_snapshot(app, public_id).status == "PAID"
    assert _emails(app, shopper.user.email) == [("receipt", "queued")]
    assert count(app, Notification, Notification.user_id == shopper.user.id, Notification.kind == "order_paid") == 1

    redis_outage.up()  # empty: no job knows of the receipt
    run_jobs(app)
    assert outbox.messages() == []
    assert sweep(app) == 1
    [mail] = outbox.messages()
    assert shopper.user.email in mail["to"] and mail["subject"] == "Your Playcation receipt: Hades"
    assert "Total paid: ₩24,000" in mail["text"] and public_id in mail["html"]
    assert _emails(app, shopper.user.email) == [("receipt", "sent")]
    assert sweep(app) == 0 and len(outbox.messages()) == 1  # never twice


def test_a_refund_tells_the_buyer_once_even_with_redis_down_at_the_commit(app, outbox, make_user, redis_outage):
    shopper = Shopper(app, make_user(nickname="Zagreus"))
    public_id = paid_order(app, shopper.user.id, new_game(app, "Hades", price=24000))
    shopper.browser.csrf_token()

    redis_outage.down()
    res = shopper.browser.post(f"/orders/{public_id}/refund")
    assert res.status_code == 302
    assert order_snapshot(app, public_id).status == "REFUNDED"
    assert _emails(app, shopper.user.email) == [("refund", "queued")]
    with app.app_context():
        [(params, link)] = db.session.execute(select(Notification.params, Notification.link).where(
            Notification.user_id == shopper.user.id, Notification.kind == "order_refunded")).all()
    assert params == {"title": "Hades", "more": 0, "total": 24000} and link == f"/orders/{public_id}"

    redis_outage.up()
    run_jobs(app)
    assert outbox.messages() == []
    assert sweep(app) == 1
    [mail] = outbox.messages()
    assert shopper.user.email in mail["to"] and mail["subject"] == "Your Playcation refund: Hades"
    assert "₩24,000" in mail["text"] and public_id in mail["text"] and "Zagreus" in mail["html"]
    assert _emails(app, shopper.user.email) == [("refund", "sent")]
    assert sweep(app) == 0 and len(outbox.messages()) == 1
