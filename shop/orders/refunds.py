"""Refunds: the gateway cancel first (with an idempotency key), then, in one
transaction, REFUNDED, library grants revoked, sales counters, hooks, and the buyer's
notification and refund email row (delivered after commit, swept up if Redis was
down). A failed cancel leaves the order exactly as it was."""
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from ..catalog.models import Game
from ..errors import DomainError
from ..extensions import db
from ..timeutil import utcnow
from . import hooks
from .gateways import get_gateway
from ..library import services as library
from .models import Order, PaymentEvent
from .services import move_order, record_call


class RefundError(DomainError):
    pass


def refund_key(order: Order) -> str:
    """The cancel's idempotency key: the same for retries of an unknown outcome (a
    timeout must not cancel twice), a new one after the gateway definitely refused,
    since Toss would otherwise replay that refusal for 15 days."""
    refused = db.session.scalar(select(func.count()).select_from(PaymentEvent).where(
        PaymentEvent.order_id == order.id, PaymentEvent.kind == "cancel", PaymentEvent.outcome == "declined"))
    return f"refund-{order.public_id}" + (f"-{refused + 1}" if refused else "")


def refundable(order: Order) -> bool:
    """PAID, and inside the refund window, or holding a pre-order not released yet (a
    pre-order can be refunded any time before release)."""
    if order.status != "PAID" or order.paid_at is None:
        return False
    window = timedelta(days=current_app.config["REFUND_WINDOW_DAYS"])
    return utcnow() - order.paid_at <= window or library.awaiting_release(order.id)


def request_refund(order: Order, reason: str = "Customer request") -> Order:
    """Cancel at the gateway, then revoke grants in one transaction. Raises RefundError;
    a failed gateway cancel leaves the order unchanged."""
    if order.status == "REFUNDED":
        raise RefundError(_("This order was already refunded."))
    if not refundable(order):
        days = current_app.config["REFUND_WINDOW_DAYS"]
        raise RefundError(_("This order can no longer be refunded (refunds are possible for %(days)s days "
                            "after purchase).", days=days))
    order_id, gateway_name, payment_key = order.id, order.gateway, order.payment_key
    needs_gateway, game_ids = order.total > 0 and payment_key, [line.game_id for line in order.lines]
    if needs_gateway:  # a ₩0 order never reached a gateway
        key = refund_key(order)
        db.session.commit()  # no transaction stays open while the gateway works
        result = get_gateway(gateway_name).cancel(payment_key, reason[:200], key)
        record_call(order_id, "cancel", result, key)
        db.session.commit()
        if not (result.ok or result.code == "ALREADY_CANCELED_PAYMENT"):
            db.session.refresh(order)
            if order.status == "REFUNDED":  # a second click lost the race to the first one
                return order
            raise RefundError(_("The refund could not be processed: %(reason)s. Nothing changed; please try "
                                "again later.", reason=(result.message or result.code).rstrip(".")))
    else:
        db.session.commit()  # end the read transaction before the writes (see confirm_payment)
    refunded_at = utcnow()
    if not move_order(order_id, ("PAID",), "REFUNDED", refunded_at=refunded_at):
        db.session.rollback()
        db.session.refresh(order)
        return order
    library.revoke(order_id, refunded_at)
    db.session.execute(update(Game).where(Game.id.in_(game_ids), Game.sales_count > 0)
                       .values(sales_count=Game.sales_count - 1).execution_options(synchronize_session=False))
    db.session.refresh(order)  # hooks see the order as REFUNDED
    hooks.refunded(order)
    _tell_the_buyer(order, refunded_at)
    db.session.commit()
    db.session.refresh(order)
    return order


def _tell_the_buyer(order: Order, refunded_at) -> None:
    """The refund's notification and email rows, in the refund's transaction."""
    from ..infra.mail import queue_email
    from ..notifications.services import notify

    # Names and integer won: each is written out in the buyer's language when read or sent.
    named = {"title": order.lines[0].title if order.lines else "", "more": max(len(order.lines) - 1, 0)}
    notify(order.user_id, "order_refunded", {**named, "total": order.total}, f"/orders/{order.public_id}")
    queue_email(order.user.email, "refund", nickname=order.user.nickname, order_id=order.public_id,
                first_title=named["title"], more=named["more"], total=order.total,
                refunded_at=refunded_at.isoformat())
