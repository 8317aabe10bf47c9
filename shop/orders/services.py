"""Checkout and payment: money is never taken twice, lost, or granted without payment.

Every state change is a compare-and-set UPDATE (`move_order`), so concurrent requests
(two tabs, a refresh, the reconciler) cannot both act on one order. Gateway calls
happen outside database transactions and carry a per-order idempotency key.
Refunds live in `refunds.py`.
"""
import logging
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError

from ..catalog import ratings
from ..errors import DomainError
from ..extensions import db
from ..library import services as library
from ..library.services import owned_game_ids
from ..timeutil import utcnow
from . import hooks
from .gateways import GatewayResult, get_gateway
from .models import Order, OrderLine, PaymentEvent
from ..cart.pricing import quote_games

log = logging.getLogger(__name__)

OPEN = ("PENDING",)
IN_FLIGHT = ("CONFIRMING", "AWAITING_CONFIRMATION")


class CheckoutError(DomainError):
    message = _l("Your cart can't be checked out right now.")


class EmptyCart(CheckoutError):
    message = _l("Your cart is empty.")


class OrderNotFound(DomainError):
    message = _l("No such order.")


class AmountMismatch(DomainError):
    message = _l("The payment amount did not match the order. Nothing was charged.")


class PaymentDeclined(DomainError):
    pass


class PaymentPending(DomainError):
    message = _l("We are still waiting for the payment service to confirm your payment. "
                 "Nothing will be charged twice; this page updates when it is settled.")


# --- helpers -------------------------------------------------------------------

def move_order(order_id: int, from_states: tuple[str, ...], to_state: str, **values) -> bool:
    """Compare-and-set the order's status; True if this caller made the move."""
    result = db.session.execute(
        update(Order).where(Order.id == order_id, Order.status.in_(from_states))
        .values(status=to_state, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def record_call(order_id: int, kind: str, result: GatewayResult, key: str | None):
    """Keep what the gateway was asked and what it answered (payment_events, the audit trail)."""
    db.session.add(PaymentEvent(order_id=order_id, kind=kind, idempotency_key=key, outcome=result.outcome,
                                code=result.code, message=(result.message or "")[:300] or None,
                                payload=result.payload or None))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "다", "요")) else f"{text}."


def _nothing_charged(reason: str) -> str:
    """'<reason>. Nothing was charged.' in the buyer's language."""
    return _("%(reason)s Nothing was charged.", reason=_sentence(reason))


def confirm_key(public_id: str) -> str:
    """The confirm's idempotency key: one per order, so every retry is the same request."""
    return f"confirm-{public_id}"


def get_order(public_id: str) -> Order:
    order = db.session.scalar(select(Order).where(Order.public_id == str(public_id)[:36]))
    if order is None:
        raise OrderNotFound()
    return order


# --- checkout ------------------------------------------------------------------

def start_checkout(user, options: dict | None = None, gift: dict | None = None) -> Order:
    """Turn the cart into a PENDING order with a price snapshot; with `gift`
    ({"game", "to", "message"}) the order is that one game for someone else instead
    (the cart stays as it is, and owning the game yourself doesn't matter).

    Older open orders of the user are cancelled first: one open checkout per buyer,
    so two tabs can never pay for the same games twice. An order that comes to ₩0
    (discounts cover it) is paid at once, without a gateway. Raises EmptyCart,
    CheckoutError (and whatever an ON_RESERVED hook raises, with nothing changed).
    """
    from ..accounts.models import User
    from ..cart.services import cart_games

    # Serialise checkouts of one buyer (a row lock on PostgreSQL; SQLite has one writer
    # anyway), so two tabs pressing Pay at once still leave one open order.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    games = [gift["game"]] if gift else cart_games(user)
    if not games:
        raise EmptyCart()
    blocked = [g.title for g in games if not g.is_listed]
    if blocked:
        raise CheckoutError(_("No longer for sale: %(titles)s. Remove it from your cart.", titles=", ".join(blocked)))
    if not gift:
        _check_cart(user, games)
    for game in games:  # coming soon without pre-orders, adults only: the cart refused them when added,
        try:            # but a release date or a rating can change afterwards
            ratings.check_release(game)
            ratings.check_buyer(user, game)
        except DomainError as exc:
            raise CheckoutError(exc.message)
    try:
        for old in db.session.scalars(select(Order.id).where(Order.user_id == user.id,
                                                             Order.status == "PENDING")).all():
            if move_order(old, OPEN, "CANCELLED", failure_code="REPLACED",
                     failure_message="A newer checkout replaced this one."):
                hooks.released(old)
        quote = quote_games(games, user, options)
        order = Order(user_id=user.id, status="PENDING", subtotal=quote.subtotal, discount=quote.discount,
                      total=quote.total, gateway=current_app.config["PAYMENT_GATEWAY"],
                      discounts=[d.stored() for d in quote.discounts],
                      expires_at=utcnow() + timedelta(minutes=current_app.config["ORDER_EXPIRY_MINUTES"]))
        order.lines = [OrderLine(game_id=line.game_id, title=line.title, list_price=line.list_price,
                                 price=line.price, gift_to=gift and gift["to"],
                                 gift_message=gift and gift["message"]) for line in quote.lines]
        db.session.add(order)
        db.session.flush()
        hooks.reserved(order, quote)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    if order.total == 0:
        move_order(order.id, OPEN, "CONFIRMING")
        db.session.commit()
        finalize_paid(order.id)
        db.session.refresh(order)
    return order


def _check_cart(user, games) -> None:
    """The cart's games are not owned, not being paid for already, and every DLC's base
    game is owned or in the same cart. Raises CheckoutError."""
    game_ids = [g.id for g in games]
    owned = owned_game_ids(user.id, game_ids)
    if owned:
        titles = ", ".join(g.title for g in games if g.id in owned)
        raise CheckoutError(_("You already own %(titles)s. Remove it from your cart.", titles=titles))
    orphans = library.missing_base_games(user.id, games, also_buying=game_ids)
    if orphans:
        dlc, base = orphans[0]
        raise CheckoutError(_("%(dlc)s is DLC for %(base)s: add %(base)s to your cart or remove %(dlc)s.",
                              dlc=dlc.title, base=base.title))
    confirming = db.session.scalars(select(OrderLine.title).join(Order, Order.id == OrderLine.order_id).where(
        Order.user_id == user.id, Order.status.in_(IN_FLIGHT), OrderLine.game_id.in_(game_ids),
        OrderLine.gift_to.is_(None))).all()
    if confirming:
        raise CheckoutError(_("A payment for %(titles)s is still being confirmed. "
                              "Check your orders in a minute before paying again.",
                              titles=", ".join(sorted(set(confirming)))))


# --- confirm -------------------------------------------------------------------

def confirm_payment(order: Order, payment_key: str, amount: int) -> Order:
    """Handle the gateway's success redirect. Safe to call any number of times, at once.

    Raises AmountMismatch, PaymentDeclined, PaymentPending.
    """
    payment_key = (payment_key or "")[:200]
    if order.status == "PAID" and order.payment_key == payment_key:
        return order  # a refresh of the success page
    order_id, total, public_id, gateway_name = order.id, order.total, order.public_id, order.gateway
    owned = owned_game_ids(order.user_id, [line.game_id for line in order.lines if not line.gift_to])
    # End the read transaction before writing: on SQLite a transaction that read and
    # then writes fails at once if another request wrote in between.
    db.session.commit()
    refusal = None
    if amount != total:
        log.warning("order %s: redirect amount %s != order total %s", public_id, amount, total)
        refusal = ("AMOUNT_MISMATCH", "The payment amount did not match the order.", AmountMismatch())
    elif owned:  # bought meanwhile through another order: never charge twice
        refusal = ("ALREADY_OWNED", "You already own these games.",
                   PaymentDeclined(_("You already own these games. Nothing was charged.")))
    if refusal:
        code, message, error = refusal
        if move_order(order_id, OPEN, "FAILED", failure_code=code, failure_message=message):
            hooks.released(order_id)
            db.session.commit()
            raise error
        db.session.rollback()  # not PENDING any more (e.g. another tab just paid it): say what it is
        db.session.refresh(order)
        return _explain(order, payment_key)
    try:
        claimed = move_order(order_id, OPEN, "CONFIRMING", payment_key=payment_key)
    except IntegrityError:  # that paymentKey already belongs to another order
        db.session.rollback()
        raise PaymentDeclined(_("That payment belongs to another order. Nothing was charged."))
    if not claimed:
        db.session.rollback()
        db.session.refresh(order)
        return _explain(order, payment_key)
    db.session.commit()  # the claim is durable before money moves

    key = confirm_key(public_id)
    result = get_gateway(gateway_name).confirm(payment_key, public_id, total, key)
    record_call(order_id, "confirm", result, key)
    db.session.commit()
    return _settle(order, result)


def _settle(order: Order, result: GatewayResult) -> Order:
    """Apply a confirm (or status) result to an in-flight order. Raises PaymentPending
    while the outcome is unknown, PaymentDeclined when the gateway refused."""
    order_id = inspect(order).identity[0]  # without a SELECT: each move below starts its transaction
    if result.outcome == "already":
        gateway_name, public_id = order.gateway, order.public_id
        db.session.commit()  # no transaction stays open while the gateway works
        result = get_gateway(gateway_name).status(public_id)
        record_call(order_id, "status", result, None)
        db.session.commit()
        if not (result.ok and result.status == "DONE"):
            # "Already processed" means the gateway acted: until it says how, keep waiting.
            result = GatewayResult("error", code="UNSETTLED", message=f"Gateway says {result.status or result.code}")
    if result.ok and result.status in (None, "DONE"):
        finalize_paid(order_id)
        db.session.refresh(order)
        if order.status not in ("PAID", "REFUNDED"):
            log.error("order %s: the gateway took the payment but the order is %s", order.public_id, order.status)
        if result.amount is not None and result.amount != order.total:
            log.error("order %s: gateway charged %s, order total %s", order.public_id, result.amount, order.total)
        return order
    if result.unknown or (result.ok and result.status not in ("ABORTED", "EXPIRED", "CANCELED")):
        move_order(order_id, IN_FLIGHT, "AWAITING_CONFIRMATION")
        db.session.commit()
        raise PaymentPending()
    if move_order(order_id, IN_FLIGHT, "FAILED", failure_code=(result.code or result.status or "DECLINED")[:80],
             failure_message=(result.message or "The payment was declined.")[:300]):
        hooks.released(order_id)
    db.session.commit()
    raise PaymentDeclined(_nothing_charged(result.message or _("The payment was declined.")))


def _explain(order: Order, payment_key: str) -> Order:
    """Why a confirm found the order already claimed or settled."""
    if order.status == "PAID":
        if order.payment_key == payment_key:
            return order
        raise PaymentDeclined(_("This order was already paid with another payment."))
    if order.status in IN_FLIGHT:
        raise PaymentPending()
    if order.status == "REFUNDED":
        raise PaymentDeclined(_("This order was refunded."))
    from .messages import failure_text

    raise PaymentDeclined(_nothing_charged(failure_text(order)))


def finalize_paid(order_id: int) -> bool:
    """In one transaction: PAID, library grants, sales counters, cart cleanup, hooks,
    the buyer's notification and the receipt's email row (the outbox: what the buyer
    is promised commits with the payment, whatever Redis is doing). After commit: the
    receipt's delivery, the live notification, rankings. Returns False if the order
    was already settled by someone else."""
    from ..cart.models import CartItem
    from ..catalog.models import Game
    from ..infra.jobs import enqueue_after_commit
    from ..infra.mail import queue_email
    from ..notifications.services import notify

    now = utcnow()
    if not move_order(order_id, IN_FLIGHT, "PAID", paid_at=now):
        db.session.rollback()
        return False
    order = db.session.get(Order, order_id)
    db.session.refresh(order)
    game_ids = [line.game_id for line in order.lines]
    own_ids = [line.game_id for line in order.lines if not line.gift_to]  # gifts: the gift plug-in's
    library.grant(order.user_id, order.id, own_ids, now)
    db.session.execute(update(Game).where(Game.id.in_(game_ids)).values(sales_count=Game.sales_count + 1)
                       .execution_options(synchronize_session=False))
    db.session.execute(CartItem.__table__.delete().where(CartItem.user_id == order.user_id,
                                                         CartItem.game_id.in_(own_ids)))
    hooks.paid(order)
    # Names and integer won: each is written out in the buyer's language when read or sent.
    named = {"title": order.lines[0].title if order.lines else "", "more": max(len(order.lines) - 1, 0)}
    notify(order.user_id, "order_paid", {**named, "total": order.total}, f"/orders/{order.public_id}")
    queue_email(order.user.email, "receipt", nickname=order.user.nickname, order_id=order.public_id,
                first_title=named["title"], more=named["more"], total=order.total, subtotal=order.subtotal,
                discount=order.discount, paid_at=now.isoformat(),
                lines=[{"title": l.title, "price": l.price, "list_price": l.list_price,
                        **({"gift_to": l.gift_to} if l.gift_to else {})} for l in order.lines])
    # By name: tasks.py imports this module for its cron jobs.
    enqueue_after_commit("shop.orders.tasks.after_order_paid", order.id)
    db.session.commit()
    return True


def fail_payment(order: Order, code: str, message: str) -> Order:
    """The gateway's fail redirect (declined card, closed window) for a PENDING order."""
    to_state = "CANCELLED" if code == "PAY_PROCESS_CANCELED" else "FAILED"
    order_id = order.id
    db.session.commit()  # end the read transaction before the write (see confirm_payment)
    if move_order(order_id, OPEN, to_state, failure_code=(code or "UNKNOWN")[:80], failure_message=(message or "")[:300]):
        hooks.released(order_id)
    db.session.commit()
    db.session.refresh(order)
    return order


# --- reconciliation and expiry --------------------------------------------------

def reconcile_in_flight(stale_after_seconds: int = 60) -> dict:
    """Cron: settle orders whose confirm timed out (or whose process died mid-confirm)
    by asking the gateway; re-confirming with the same idempotency key is safe.
    Returns counts: paid, failed, waiting."""
    cutoff = utcnow() - timedelta(seconds=stale_after_seconds)
    ids = db.session.scalars(select(Order.id).where(
        (Order.status == "AWAITING_CONFIRMATION") | ((Order.status == "CONFIRMING") & (Order.updated_at < cutoff))
    ).order_by(Order.id)).all()
    db.session.commit()
    summary = {"paid": 0, "failed": 0, "waiting": 0}
    for order_id in ids:
        try:
            summary[_reconcile(order_id)] += 1
        except Exception:  # one broken order must not keep the others unsettled
            log.exception("reconciling order %s failed", order_id)
            db.session.rollback()
            summary["waiting"] += 1
    return summary


def _reconcile(order_id: int) -> str:
    order = db.session.get(Order, order_id)
    public_id, payment_key, total = order.public_id, order.payment_key, order.total
    gateway = get_gateway(order.gateway)
    db.session.commit()  # no transaction stays open while the gateway works
    result = gateway.status(public_id)
    record_call(order_id, "status", result, None)
    db.session.commit()
    if result.ok and result.status in ("READY", "IN_PROGRESS") and payment_key:
        key = confirm_key(public_id)
        result = gateway.confirm(payment_key, public_id, total, key)
        record_call(order_id, "confirm", result, key)
        db.session.commit()
    elif not result.ok and result.outcome == "declined":
        if result.code != "NOT_FOUND_PAYMENT":
            # Refused to answer (a bad key, a bad request): that says nothing about the money.
            result = GatewayResult("error", code=result.code, message=result.message)
        else:
            result = GatewayResult("declined", code=result.code, message="The payment never reached the gateway.")
    try:
        _settle(order, result)
    except PaymentPending:
        return "waiting"
    except PaymentDeclined:
        return "failed"
    return "paid"


def expire_pending() -> int:
    """Cron: cancel PENDING orders past their expiry, releasing what they held."""
    ids = db.session.scalars(select(Order.id).where(Order.status == "PENDING", Order.expires_at < utcnow())).all()
    db.session.commit()
    count = 0
    for order_id in ids:
        if move_order(order_id, OPEN, "CANCELLED", failure_code="EXPIRED", failure_message="Checkout expired."):
            hooks.released(order_id)
            count += 1
        db.session.commit()
    return count
