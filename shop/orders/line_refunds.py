"""Per-game refunds: one line of a paid order (docs/refunds.md).

Like the whole-order refund (refunds.py): the eligibility rules first (refund_rules),
then the gateway's partial cancel of the line's share (`cancelAmount`), outside any
transaction, with an idempotency key of its own per line, so two clicks cancel once;
then, in one transaction, the line REFUNDED by a compare-and-set, its game revoked from
the library, its product key voided, the sales counter, the plug-ins' `line_refunded`
(points back, cashback reversed), and the buyer's notification and email rows. A failed
cancel changes nothing. The refund of the last game left moves the order to REFUNDED
and runs the plug-ins' `refunded` instead, which settles what is left (the coupon).
"""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from ..catalog.models import Game
from ..errors import DomainError
from ..extensions import db
from ..library import services as library
from ..timeutil import utcnow
from . import hooks, proration, refund_rules
from .gateways import get_gateway
from .models import Order, OrderLine, PaymentEvent
from .refunds import RefundError, cancel_failed, dlc_blocking_refund
from .services import record_call


class LineNotFound(DomainError):
    message = _l("No such game in this order.")


def line_refund_key(order: Order, line: OrderLine) -> str:
    """The line's cancel idempotency key: the same for retries of an unknown outcome, a
    new one after the gateway definitely refused (see refunds.refund_key)."""
    base = f"refund-{order.public_id}-line-{line.id}"
    refused = db.session.scalar(select(func.count()).select_from(PaymentEvent).where(
        PaymentEvent.order_id == order.id, PaymentEvent.kind == "cancel", PaymentEvent.outcome == "declined",
        (PaymentEvent.idempotency_key == base) | PaymentEvent.idempotency_key.like(f"{base}-%")))
    return base + (f"-{refused + 1}" if refused else "")


def refusal(order: Order, line: OrderLine) -> str | None:
    """Why `line` can't be refunded now, in the reader's language, or None."""
    if line.refunded:
        return _("This game was already refunded.")
    if order.status != "PAID":
        return _("Only paid orders can be refunded.")
    if line.gift_to:
        return _("A gift is refunded from your Gifts page, while it is unclaimed.")
    return refund_rules.refusal(order, line)


def find_line(order: Order, line_id: int) -> OrderLine:
    for line in order.lines:
        if line.id == line_id:
            return line
    raise LineNotFound()


def refund_line(order: Order, line_id: int, reason: str = "Customer request") -> OrderLine:
    """Refund one game of `order`. Raises LineNotFound, RefundError (nothing changed)."""
    line = find_line(order, line_id)
    why = refusal(order, line)
    if why:
        raise RefundError(why)
    blocking = dlc_blocking_refund(order, [line.game_id])  # the order page says so beside the button
    if blocking:
        title, other = blocking[0]
        raise RefundError(_("You own %(dlc)s, DLC for a game in this order, from order %(order)s. Refund that "
                            "order first; nothing changed.", dlc=title, order=other.order_name))
    share = proration.shares(order)[line.id]
    order_id, game_id, payment_key, gateway_name = order.id, line.game_id, order.payment_key, order.gateway
    if share.cash > 0 and payment_key:
        key = line_refund_key(order, line)
        db.session.commit()  # no transaction stays open while the gateway works
        result = get_gateway(gateway_name).cancel(payment_key, reason[:200], key, share.cash)
        record_call(order_id, "cancel", result, key)
        db.session.commit()
        if not result.ok:
            db.session.refresh(line)
            if line.refunded:  # a second click lost the race to the first one
                return line
            if result.code == "IDEMPOTENT_REQUEST_PROCESSING":  # the first click's cancel is still at Toss
                raise RefundError(_("This refund is already under way in another tab. Reload the page in a "
                                    "moment."))
            raise cancel_failed(result)
    else:
        db.session.commit()  # end the read transaction before the writes (see confirm_payment)
    now = utcnow()
    moved = db.session.execute(update(OrderLine).where(OrderLine.id == line_id, OrderLine.status == "ACTIVE")
                               .values(status="REFUNDED", refunded_at=now, refund_amount=share.cash)
                               .execution_options(synchronize_session=False)).rowcount
    # Also the order's row lock: concurrent refunds of its other games wait here, so the
    # count below sees them and exactly one of them is the last.
    touched = moved and db.session.execute(update(Order).where(Order.id == order_id, Order.status == "PAID")
                                           .values(updated_at=now).execution_options(synchronize_session=False)
                                           ).rowcount
    if not touched:
        db.session.rollback()
        db.session.refresh(line)
        return line
    last = not db.session.scalar(select(func.count()).select_from(OrderLine).where(
        OrderLine.order_id == order_id, OrderLine.status == "ACTIVE"))
    library.revoke_game(order_id, game_id, now)
    db.session.execute(update(Game).where(Game.id == game_id, Game.sales_count > 0)
                       .values(sales_count=Game.sales_count - 1).execution_options(synchronize_session=False))
    if last:
        db.session.execute(update(Order).where(Order.id == order_id).values(status="REFUNDED", refunded_at=now)
                           .execution_options(synchronize_session=False))
    db.session.refresh(order)
    db.session.refresh(line)
    if last:
        hooks.refunded(order)  # settles what is left: this game's share, the coupon
    else:
        hooks.line_refunded(order, line, share)
    _tell_the_buyer(order, line, share)
    db.session.commit()
    db.session.refresh(line)
    return line


def _tell_the_buyer(order: Order, line: OrderLine, share: proration.LineShare) -> None:
    """The notification and email rows, in the refund's transaction (kinds and numbers,
    written out in the buyer's language when read or sent)."""
    from ..infra.mail import queue_email
    from ..notifications.services import notify

    points = share.discounts.get("points", 0)
    notify(order.user_id, "order_line_refunded", {"title": line.title, "amount": share.cash},
           f"/orders/{order.public_id}")
    queue_email(order.user.email, "line_refund", nickname=order.user.nickname, order_id=order.public_id,
                title=line.title, amount=share.cash, points=points, order_refunded=order.status == "REFUNDED")
