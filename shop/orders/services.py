"""Checkout and payment: money is never taken twice, lost, or granted without payment.

Every state change is a compare-and-set UPDATE (`_move`), so concurrent requests
(two tabs, a refresh, the reconciler) cannot both act on one order. Gateway calls
happen outside database transactions and carry a per-order idempotency key.
"""
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..errors import DomainError
from ..extensions import db
from ..timeutil import utcnow
from .gateways import GatewayResult, get_gateway
from .models import Order, OrderLine, PaymentEvent
from .pricing import quote_games

log = logging.getLogger(__name__)

OPEN = ("PENDING",)
IN_FLIGHT = ("CONFIRMING", "AWAITING_CONFIRMATION")


class CheckoutError(DomainError):
    message = "Your cart can't be checked out right now."


class EmptyCart(CheckoutError):
    message = "Your cart is empty."


class OrderNotFound(DomainError):
    message = "No such order."


class AmountMismatch(DomainError):
    message = "The payment amount did not match the order. Nothing was charged."


class PaymentDeclined(DomainError):
    pass


class PaymentPending(DomainError):
    message = ("We are still waiting for the payment service to confirm your payment. "
               "Nothing will be charged twice; this page updates when it is settled.")


class RefundError(DomainError):
    pass


# --- helpers -------------------------------------------------------------------

def _move(order_id: int, from_states: tuple[str, ...], to_state: str, **values) -> bool:
    """Compare-and-set the order's status; True if this caller made the move."""
    result = db.session.execute(
        update(Order).where(Order.id == order_id, Order.status.in_(from_states))
        .values(status=to_state, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _record(order_id: int, kind: str, result: GatewayResult, key: str | None):
    db.session.add(PaymentEvent(order_id=order_id, kind=kind, idempotency_key=key, outcome=result.outcome,
                                code=result.code, message=(result.message or "")[:300] or None,
                                payload=result.payload or None))


def confirm_key(order: Order) -> str:
    return f"confirm-{order.public_id}"


def get_order(public_id: str) -> Order:
    order = db.session.scalar(select(Order).where(Order.public_id == str(public_id)[:36]))
    if order is None:
        raise OrderNotFound()
    return order


# --- checkout ------------------------------------------------------------------

def start_checkout(user, options: dict | None = None) -> Order:
    """Turn the cart into a PENDING order with a price snapshot.

    Older open orders of the user are cancelled first: one open checkout per buyer,
    so two tabs can never pay for the same games twice. Raises EmptyCart, CheckoutError.
    """
    from ..cart.services import cart_games

    games = cart_games(user)
    if not games:
        raise EmptyCart()
    blocked = [g.title for g in games if not g.is_listed]
    if blocked:
        raise CheckoutError(f"No longer for sale: {', '.join(blocked)}. Remove it from your cart.")
    owned = owned_game_ids(user.id, [g.id for g in games])
    if owned:
        titles = ", ".join(g.title for g in games if g.id in owned)
        raise CheckoutError(f"You already own {titles}. Remove it from your cart.")
    for old in db.session.scalars(select(Order.id).where(Order.user_id == user.id, Order.status == "PENDING")):
        _move(old, OPEN, "CANCELLED", failure_code="REPLACED", failure_message="A newer checkout replaced this one.")
        from . import hooks

        hooks.released(old)
    quote = quote_games(games, user, options)
    order = Order(user_id=user.id, status="PENDING", subtotal=quote.subtotal, discount=quote.discount,
                  total=quote.total, gateway=current_app.config["PAYMENT_GATEWAY"],
                  discounts=[d.__dict__ for d in quote.discounts],
                  expires_at=utcnow() + timedelta(minutes=current_app.config["ORDER_EXPIRY_MINUTES"]))
    order.lines = [OrderLine(game_id=l.game_id, title=l.title, list_price=l.list_price, price=l.price)
                   for l in quote.lines]
    db.session.add(order)
    db.session.flush()
    from . import hooks

    hooks.reserved(order, quote)
    db.session.commit()
    return order


def owned_game_ids(user_id: int, game_ids: list[int]) -> set[int]:
    from .models import LibraryEntry

    if not game_ids:
        return set()
    return set(db.session.scalars(select(LibraryEntry.game_id).where(
        LibraryEntry.user_id == user_id, LibraryEntry.game_id.in_(game_ids), LibraryEntry.revoked_at.is_(None))))


# --- confirm -------------------------------------------------------------------

def confirm_payment(order: Order, payment_key: str, amount: int) -> Order:
    """Handle the gateway's success redirect. Safe to call any number of times, at once.

    Raises AmountMismatch, PaymentDeclined, PaymentPending.
    """
    payment_key = (payment_key or "")[:200]
    if order.status == "PAID" and order.payment_key == payment_key:
        return order  # a refresh of the success page
    if amount != order.total:
        if _move(order.id, OPEN, "FAILED", failure_code="AMOUNT_MISMATCH",
                 failure_message=f"Redirect amount {amount} != order total {order.total}"):
            from . import hooks

            hooks.released(order.id)
        db.session.commit()
        raise AmountMismatch()
    try:
        claimed = _move(order.id, OPEN, "CONFIRMING", payment_key=payment_key)
    except IntegrityError:  # that paymentKey already belongs to another order
        db.session.rollback()
        raise PaymentDeclined("That payment belongs to another order.")
    if not claimed:
        db.session.rollback()
        db.session.refresh(order)
        return _explain(order, payment_key)
    db.session.commit()  # the claim is durable before money moves

    result = get_gateway(order.gateway).confirm(payment_key, order.public_id, order.total, confirm_key(order))
    _record(order.id, "confirm", result, confirm_key(order))
    db.session.commit()
    return _settle(order, result)


def _settle(order: Order, result: GatewayResult) -> Order:
    """Apply a confirm result to an in-flight order."""
    if result.outcome == "already":
        result = get_gateway(order.gateway).status(order.public_id)
        _record(order.id, "status", result, None)
        db.session.commit()
        if result.ok and result.status != "DONE":
            result = GatewayResult("error", code="UNSETTLED", message=f"Gateway says {result.status}")
    if result.ok and result.status in (None, "DONE"):
        if result.amount is not None and result.amount != order.total:
            log.error("order %s: gateway charged %s, order total %s", order.public_id, result.amount, order.total)
        finalize_paid(order.id)
        db.session.refresh(order)
        return order
    if result.unknown or (result.ok and result.status not in ("ABORTED", "EXPIRED", "CANCELED")):
        _move(order.id, IN_FLIGHT, "AWAITING_CONFIRMATION")
        db.session.commit()
        raise PaymentPending()
    if _move(order.id, IN_FLIGHT, "FAILED", failure_code=result.code, failure_message=result.message):
        from . import hooks

        hooks.released(order.id)
    db.session.commit()
    raise PaymentDeclined(result.message or "The payment was declined.")


def _explain(order: Order, payment_key: str) -> Order:
    if order.status == "PAID":
        if order.payment_key == payment_key:
            return order
        raise PaymentDeclined("This order was already paid with another payment.")
    if order.status in IN_FLIGHT:
        raise PaymentPending()
    raise PaymentDeclined(order.failure_message or f"This order is {order.status.lower()}.")


def finalize_paid(order_id: int) -> bool:
    """In one transaction: PAID, library grants, sales counters, cart cleanup, hooks.
    After commit: receipt email, rankings, buyer notification. Returns False if the
    order was already settled by someone else."""
    from ..cart.models import CartItem
    from ..catalog.models import Game
    from ..notifications.services import notify
    from ..jobs import enqueue_after_commit
    from . import hooks
    from .models import LibraryEntry
    from .tasks import after_order_paid

    now = utcnow()
    if not _move(order_id, IN_FLIGHT, "PAID", paid_at=now):
        db.session.rollback()
        return False
    order = db.session.get(Order, order_id)
    db.session.refresh(order)
    game_ids = [line.game_id for line in order.lines]
    existing = {e.game_id: e for e in db.session.scalars(select(LibraryEntry).where(
        LibraryEntry.user_id == order.user_id, LibraryEntry.game_id.in_(game_ids)))}
    for game_id in game_ids:
        entry = existing.get(game_id)
        if entry is None:
            db.session.add(LibraryEntry(user_id=order.user_id, game_id=game_id, order_id=order.id, granted_at=now))
        elif entry.revoked_at is not None:
            entry.revoked_at, entry.order_id, entry.granted_at = None, order.id, now
    db.session.execute(update(Game).where(Game.id.in_(game_ids)).values(sales_count=Game.sales_count + 1)
                       .execution_options(synchronize_session=False))
    db.session.execute(CartItem.__table__.delete().where(CartItem.user_id == order.user_id,
                                                         CartItem.game_id.in_(game_ids)))
    hooks.paid(order)
    notify(order.user_id, "order_paid", f"Payment received: {order.order_name} (₩{order.total:,})",
           f"/orders/{order.public_id}")
    enqueue_after_commit(after_order_paid, order.id)
    db.session.commit()
    return True


def fail_payment(order: Order, code: str, message: str) -> Order:
    """The gateway's fail redirect (declined card, closed window) for a PENDING order."""
    to_state = "CANCELLED" if code == "PAY_PROCESS_CANCELED" else "FAILED"
    if _move(order.id, OPEN, to_state, failure_code=(code or "UNKNOWN")[:80], failure_message=(message or "")[:300]):
        from . import hooks

        hooks.released(order.id)
    db.session.commit()
    db.session.refresh(order)
    return order


# --- reconciliation and expiry --------------------------------------------------

def reconcile_in_flight(stale_after_seconds: int = 60) -> dict:
    """Cron: settle orders whose confirm timed out (or whose process died mid-confirm)
    by asking the gateway; re-confirming with the same idempotency key is safe."""
    cutoff = utcnow() - timedelta(seconds=stale_after_seconds)
    ids = db.session.scalars(select(Order.id).where(
        (Order.status == "AWAITING_CONFIRMATION") | ((Order.status == "CONFIRMING") & (Order.updated_at < cutoff))
    ).order_by(Order.id)).all()
    summary = {"paid": 0, "failed": 0, "waiting": 0}
    for order_id in ids:
        order = db.session.get(Order, order_id)
        gateway = get_gateway(order.gateway)
        status = gateway.status(order.public_id)
        _record(order.id, "status", status, None)
        db.session.commit()
        if status.ok and status.status in ("READY", "IN_PROGRESS") and order.payment_key:
            status = gateway.confirm(order.payment_key, order.public_id, order.total, confirm_key(order))
            _record(order.id, "confirm", status, confirm_key(order))
            db.session.commit()
        elif not status.ok and status.outcome == "declined" and status.code in ("NOT_FOUND_PAYMENT",):
            status = GatewayResult("declined", code=status.code, message="The payment never reached the gateway.")
        try:
            _settle(order, status)
            summary["paid"] += 1
        except PaymentPending:
            summary["waiting"] += 1
        except PaymentDeclined:
            summary["failed"] += 1
    return summary


def expire_pending() -> int:
    """Cron: cancel PENDING orders past their expiry, releasing what they held."""
    from . import hooks

    ids = db.session.scalars(select(Order.id).where(Order.status == "PENDING", Order.expires_at < utcnow())).all()
    count = 0
    for order_id in ids:
        if _move(order_id, OPEN, "CANCELLED", failure_code="EXPIRED", failure_message="Checkout expired."):
            hooks.released(order_id)
            count += 1
        db.session.commit()
    return count


# --- refunds -------------------------------------------------------------------

def refundable(order: Order) -> bool:
    window = timedelta(days=current_app.config["REFUND_WINDOW_DAYS"])
    return order.status == "PAID" and order.paid_at is not None and utcnow() - order.paid_at <= window


def request_refund(order: Order, reason: str = "Customer request") -> Order:
    """Cancel at the gateway, then revoke grants in one transaction. Raises RefundError;
    a failed gateway cancel leaves the order unchanged."""
    from ..catalog.models import Game
    from . import hooks
    from .models import LibraryEntry

    if not refundable(order):
        raise RefundError("This order can no longer be refunded (refunds are possible for 14 days after purchase).")
    key = f"refund-{order.public_id}"
    result = get_gateway(order.gateway).cancel(order.payment_key, reason[:200], key)
    _record(order.id, "cancel", result, key)
    db.session.commit()
    if not (result.ok or result.code == "ALREADY_CANCELED_PAYMENT"):
        raise RefundError(f"The refund could not be processed: {result.message or result.code}. Nothing changed; "
                          "please try again later.")
    if not _move(order.id, ("PAID",), "REFUNDED", refunded_at=utcnow()):
        db.session.rollback()
        db.session.refresh(order)
        return order
    game_ids = [line.game_id for line in order.lines]
    db.session.execute(update(LibraryEntry).where(
        LibraryEntry.order_id == order.id, LibraryEntry.revoked_at.is_(None)).values(revoked_at=utcnow()))
    db.session.execute(update(Game).where(Game.id.in_(game_ids), Game.sales_count > 0)
                       .values(sales_count=Game.sales_count - 1).execution_options(synchronize_session=False))
    hooks.refunded(order)
    db.session.commit()
    db.session.refresh(order)
    return order
