"""Gifts: buy a game for someone by email; they claim it into their library.

A gift is an order line with a recipient (orders.models.OrderLine.gift_to). Paying the
order runs `on_paid` in the payment's transaction: the claimable Gift row and the
recipient's email (an outbox row) commit with PAID. Claiming and refunding move the
gift by compare-and-set (models.py), so a gift claimed twice at once is claimed once,
and a claimed gift is never refunded.
"""
from flask import current_app, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..catalog import ratings
from ..errors import DomainError
from ..extensions import db
from ..infra.mail import queue_email
from ..library import keys
from ..library import services as library
from ..notifications.services import notify
from ..orders import refunds
from ..orders.services import start_checkout
from ..timeutil import utcnow
from .models import MAX_MESSAGE, Gift

MAX_TOKEN = 200
SALT = "gift-claim"


class GiftError(DomainError):
    pass


class GiftNotFound(GiftError):
    pass


class AlreadyOwned(GiftError):
    pass


# --- links ----------------------------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def claim_token(gift: Gift) -> str:
    """The claim link's token: the gift's public id, signed with the app's secret."""
    return _serializer().dumps(gift.public_id)


def gift_from_token(token: str) -> Gift | None:
    """The gift a claim token names, or None for anything forged, cut or unknown."""
    if not token or len(token) > MAX_TOKEN:
        return None
    try:
        public_id = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(public_id, str) or len(public_id) > 36:
        return None
    return db.session.scalar(select(Gift).where(Gift.public_id == public_id))


def _link(endpoint: str, **values) -> str:
    """An absolute link for an email; a path when there is no request to take the host
    from (the reconciler paying an order in a job)."""
    try:
        return url_for(endpoint, _external=True, **values)
    except RuntimeError:
        return current_app.url_map.bind("").build(endpoint, values)


# --- buying -----------------------------------------------------------------------

def buy_gift(user, game, recipient: str, message: str):
    """A PENDING order for `game` as a gift to `recipient` (paid at once when it comes
    to ₩0). Raises GiftError, orders' CheckoutError."""
    recipient = (recipient or "").strip().lower()
    message = (message or "").replace("\r\n", "\n").strip()
    if not recipient or len(recipient) > 254 or "@" not in recipient:
        raise GiftError(_("Enter the recipient's email address."))
    if len(message) > MAX_MESSAGE:
        raise GiftError(_("The message is at most %(count)s characters.", count=MAX_MESSAGE))
    if recipient == user.email.lower():
        raise GiftError(_("That is your own address: to buy %(title)s for yourself, add it to your cart.",
                          title=game.title))
    return start_checkout(user, gift={"game": game, "to": recipient, "message": message})


def on_paid(order) -> None:
    """Checkout hook, in the payment's transaction: each gift line becomes a claimable
    gift, and its recipient's email is written to the outbox."""
    for line in order.lines:
        if not line.gift_to:
            continue
        gift = Gift(order_id=order.id, order_line_id=line.id, giver_id=order.user_id, game_id=line.game_id,
                    recipient_email=line.gift_to, message=line.gift_message or "", status="sent")
        db.session.add(gift)
        db.session.flush()
        queue_email(line.gift_to, "gift_received", giver=order.user.nickname, title=line.title,
                    message=gift.message, link=_link("gifts.claim_page", token=claim_token(gift)))


def on_refunded(order) -> None:
    """Checkout hook, in the refund's transaction."""
    db.session.execute(update(Gift).where(Gift.order_id == order.id, Gift.status.in_(("sent", "refunding")))
                       .values(status="refunded", refunded_at=order.refunded_at)
                       .execution_options(synchronize_session=False))


# --- claiming ---------------------------------------------------------------------

def _write_first() -> None:
    """Start the next transaction holding the write lock (BEGIN IMMEDIATE on SQLite; on
    PostgreSQL the row lock of the UPDATE does it), so racing claims queue, not fail."""
    db.session.connection(execution_options={"sqlite_immediate": True})


def _move(gift_id: int, from_status: str, **values) -> bool:
    result = db.session.execute(update(Gift).where(Gift.id == gift_id, Gift.status == from_status)
                                .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def _why_not(gift: Gift, user) -> GiftError:
    """Why a gift that is not `sent` can't be claimed (or refunded)."""
    if gift.status == "claimed":
        if user is not None and gift.claimed_by == user.id:
            return GiftError(_("You already claimed this gift: %(title)s is in your library.", title=gift.game.title))
        return GiftError(_("This gift was already claimed."))
    return GiftError(_("This gift was refunded to its sender, so it can't be claimed any more."))


def claim(user, gift: Gift) -> Gift:
    """Put the gift's game in `user`'s library, once. Raises GiftError, AlreadyOwned
    (and tells the giver, once, so they can refund it)."""
    if gift.status != "sent":
        raise _why_not(gift, user)
    game = gift.game
    ratings.check_buyer(user, game)  # adults only: the claimer must be a verified adult
    if library.owns(user.id, game.id):
        _tell_giver_owned(gift)
        raise AlreadyOwned(_("You already own %(title)s, so this gift can't be claimed. We told %(giver)s, who "
                             "can refund it.", title=game.title, giver=gift.giver.nickname))
    orphans = library.missing_base_games(user.id, [game])
    if orphans:
        raise GiftError(_("%(dlc)s is DLC for %(base)s: get %(base)s first, then claim this gift.",
                          dlc=game.title, base=orphans[0][1].title))
    gift_id, order_id, game_id, giver_id, title = gift.id, gift.order_id, game.id, gift.giver_id, game.title
    db.session.commit()  # end the read transaction before the write (SQLite: see orders.confirm_payment)
    _write_first()
    now = utcnow()
    try:
        if not _move(gift_id, "sent", status="claimed", claimed_by=user.id, claimed_at=now):
            db.session.rollback()
            db.session.refresh(gift)
            raise _why_not(gift, user)
        library.grant(user.id, order_id, [game_id], now)
        keys.hand_over(order_id, game_id, user.id)
        notify(giver_id, "gift_claimed", {"title": title, "email": gift.recipient_email}, "/gifts")
        db.session.commit()
    except IntegrityError:  # the same game reached the library meanwhile (another gift, a purchase)
        db.session.rollback()
        raise AlreadyOwned(_("You already own %(title)s, so this gift can't be claimed.", title=title))
    db.session.refresh(gift)
    return gift


def _tell_giver_owned(gift: Gift) -> None:
    """The giver's notification and email, the first time an owner tries to claim."""
    gift_id = gift.id
    db.session.commit()
    _write_first()
    if not db.session.execute(update(Gift).where(Gift.id == gift_id, Gift.owned_at.is_(None), Gift.status == "sent")
                              .values(owned_at=utcnow()).execution_options(synchronize_session=False)).rowcount:
        db.session.rollback()
        return
    params = {"title": gift.game.title, "email": gift.recipient_email}
    notify(gift.giver_id, "gift_owned", params, "/gifts")
    queue_email(gift.giver.email, "gift_owned", nickname=gift.giver.nickname, link=_link("gifts.gifts_page"),
                **params)
    db.session.commit()


# --- the giver's side ---------------------------------------------------------------

def gifts_of(user_id: int) -> list[Gift]:
    return db.session.scalars(select(Gift).where(Gift.giver_id == user_id)
                              .order_by(Gift.created_at.desc(), Gift.id.desc()).limit(200)).all()


def own_gift(user, public_id: str) -> Gift:
    """The user's gift by public id. Raises GiftNotFound (also for someone else's)."""
    gift = db.session.scalar(select(Gift).where(Gift.public_id == str(public_id)[:36]))
    if gift is None or gift.giver_id != user.id:
        raise GiftNotFound(_("No such gift."))
    return gift


def can_refund(gift: Gift) -> bool:
    return gift.status == "sent" and refunds.refundable(gift.order)


def refund(user, gift: Gift) -> Gift:
    """Refund an unclaimed gift: held (sent -> refunding) while the gateway works, so it
    can't be claimed meanwhile; back to sent if the refund fails. Raises GiftError,
    RefundError."""
    if gift.giver_id != user.id:
        raise GiftNotFound(_("No such gift."))
    if gift.status != "sent":
        if gift.status == "claimed":
            raise GiftError(_("This gift was claimed, so it can't be refunded."))
        raise GiftError(_("This gift was already refunded."))
    gift_id = gift.id
    db.session.commit()
    _write_first()
    if not _move(gift_id, "sent", status="refunding"):
        db.session.rollback()
        db.session.refresh(gift)
        return refund(user, gift)  # says why, from the status it has now
    db.session.commit()
    try:
        refunds.request_refund(gift.order, "Gift refund", gift_held=True)
    except DomainError:
        db.session.rollback()
        _write_first()
        _move(gift_id, "refunding", status="sent")
        db.session.commit()
        raise
    db.session.refresh(gift)
    return gift
