"""Refunds of a whole order: the gateway cancel first (with an idempotency key), then,
in one transaction, REFUNDED, library grants revoked, sales counters, hooks, and the
buyer's notification and refund email row (delivered after commit, swept up if Redis
was down). A failed cancel leaves the order exactly as it was. After per-game refunds
(line_refunds.py) it refunds only the games left, with a partial cancel of what is
left to give back (docs/refunds.md)."""
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from ..catalog.models import Game
from ..errors import DomainError
from ..extensions import db
from ..timeutil import utcnow
from . import hooks
from . import proration, refund_rules
from .gateways import get_gateway
from ..library import services as library
from .models import Order, OrderLine, PaymentEvent
from .services import move_order, record_call


class RefundError(DomainError):
    pass


def refund_key(order: Order) -> str:
    """The cancel's idempotency key: the same for retries of an unknown outcome (a
    timeout must not cancel twice), a new one after the gateway definitely refused,
    since Toss would otherwise replay that refusal for 15 days."""
    base = f"refund-{order.public_id}"
    refused = db.session.scalar(select(func.count()).select_from(PaymentEvent).where(
        PaymentEvent.order_id == order.id, PaymentEvent.kind == "cancel", PaymentEvent.outcome == "declined",
        PaymentEvent.idempotency_key.notlike(f"{base}-line-%")))  # a game's own refunds have their keys
    return base + (f"-{refused + 1}" if refused else "")


def refundable(order: Order) -> bool:
    """PAID, and inside the refund window, or holding a pre-order not released yet (a
    pre-order can be refunded any time before release)."""
    if order.status != "PAID" or order.paid_at is None:
        return False
    window = timedelta(days=current_app.config["REFUND_WINDOW_DAYS"])
    return utcnow() - order.paid_at <= window or library.awaiting_release(order.id)


def cancel_failed(result) -> RefundError:
    return RefundError(_("The refund could not be processed: %(reason)s. Nothing changed; please try "
                         "again later.", reason=(result.message or result.code).rstrip(".")))


def is_gift(order: Order) -> bool:
    return any(line.gift_to for line in order.lines)


def dlc_blocking_refund(order: Order, base_ids: list[int] | None = None) -> list[tuple[str, Order]]:
    """(DLC title, its order) for each DLC of a base game in `order` that the buyer got
    through another order that can still be refunded. The rule (docs/gifts-and-dlc.md, DLC):
    such DLC is refunded first, so a base game's refund never leaves DLC paid for and
    unusable while its money could still come back. DLC bought in the same order goes
    with it; DLC past its own window stays in the library, usable again if the base
    game is bought again."""
    from ..library.models import LibraryEntry

    if base_ids is None:  # the whole order (else just these games of it)
        base_ids = [line.game_id for line in order.lines if not line.gift_to]
    if not base_ids:
        return []
    rows = db.session.execute(select(Game.title, LibraryEntry.order_id).join(
        LibraryEntry, LibraryEntry.game_id == Game.id).where(
        Game.base_game_id.in_(base_ids), LibraryEntry.user_id == order.user_id,
        LibraryEntry.revoked_at.is_(None), LibraryEntry.order_id != order.id)).all()
    blocking = []
    for title, other_id in rows:
        other = db.session.get(Order, other_id)
        if other is not None and refundable(other) and not is_gift(other):
            blocking.append((title, other))
    return blocking


def request_refund(order: Order, reason: str = "Customer request", gift_held: bool = False) -> Order:
    """Cancel at the gateway, then revoke grants in one transaction. Raises RefundError;
    a failed gateway cancel leaves the order unchanged. A gift's order is refunded only
    by the gift plug-in, which holds the unclaimed gift first (`gift_held`)."""
    if order.status == "REFUNDED":
        raise RefundError(_("This order was already refunded."))
    if not refundable(order):
        days = current_app.config["REFUND_WINDOW_DAYS"]
        raise RefundError(_("This order can no longer be refunded (refunds are possible for %(days)s days "
                            "after purchase).", days=days))
    if is_gift(order) and not gift_held:
        raise RefundError(_("A gift is refunded from your Gifts page, while it is unclaimed."))
    blocking = dlc_blocking_refund(order)
    if blocking:
        title, other = blocking[0]
        raise RefundError(_("You own %(dlc)s, DLC for a game in this order, from order %(order)s. Refund that "
                            "order first; nothing changed.", dlc=title, order=other.order_name))
    left = [line for line in order.lines if not line.refunded]
    for line in left:
        why = refund_rules.refusal(order, line)
        if why:
            raise RefundError(_("%(title)s can't be refunded: %(reason)s", title=line.title, reason=why))
    order_id, gateway_name, payment_key = order.id, order.gateway, order.payment_key
    every = proration.shares(order)
    left = [(line.id, line.game_id, every[line.id].cash) for line in left]
    partly = len(left) < len(order.lines)  # some games were refunded on their own: cancel only the rest
    amount = sum(cash for _id, _game, cash in left) if partly else order.total
    if amount > 0 and payment_key:  # a ₩0 order never reached a gateway
        key = refund_key(order)
        db.session.commit()  # no transaction stays open while the gateway works
        result = get_gateway(gateway_name).cancel(payment_key, reason[:200], key, amount if partly else None)
        record_call(order_id, "cancel", result, key)
        db.session.commit()
        if not (result.ok or result.code == "ALREADY_CANCELED_PAYMENT"):
            db.session.refresh(order)
            if order.status == "REFUNDED":  # a second click lost the race to the first one
                return order
            raise cancel_failed(result)
    else:
        db.session.commit()  # end the read transaction before the writes (see confirm_payment)
    refunded_at = utcnow()
    if not move_order(order_id, ("PAID",), "REFUNDED", refunded_at=refunded_at):
        db.session.rollback()
        db.session.refresh(order)
        return order
    for line_id, _game, cash in left:
        db.session.execute(update(OrderLine).where(OrderLine.id == line_id, OrderLine.status == "ACTIVE")
                           .values(status="REFUNDED", refunded_at=refunded_at, refund_amount=cash))
    library.revoke(order_id, refunded_at)
    game_ids = [game_id for _id, game_id, _cash in left]
    db.session.execute(update(Game).where(Game.id.in_(game_ids), Game.sales_count > 0)
                       .values(sales_count=Game.sales_count - 1).execution_options(synchronize_session=False))
    db.session.refresh(order)  # hooks see the order as REFUNDED
    hooks.refunded(order)
    _tell_the_buyer(order, refunded_at, amount)
    db.session.commit()
    db.session.refresh(order)
    return order


def _tell_the_buyer(order: Order, refunded_at, amount: int) -> None:
    """The refund's notification and email rows, in the refund's transaction."""
    from ..infra.mail import queue_email
    from ..notifications.services import notify

    # Names and integer won: each is written out in the buyer's language when read or sent.
    named = {"title": order.lines[0].title if order.lines else "", "more": max(len(order.lines) - 1, 0)}
    notify(order.user_id, "order_refunded", {**named, "total": amount}, f"/orders/{order.public_id}")
    queue_email(order.user.email, "refund", nickname=order.user.nickname, order_id=order.public_id,
                first_title=named["title"], more=named["more"], total=amount,
                refunded_at=refunded_at.isoformat())
