"""Who may refund which game: a registry of eligibility rules (docs/refunds.md).

A rule is `check(order, line) -> str | None`: None when the rule lets the game (one
order line) be refunded, else the reason, in the reader's language, that the order
page shows beside the game and a refused request flashes. Every rule must let a game
go for it to be refundable, on its own or with the rest of its order.

Orders registers the refund window itself (`within_window`, from `orders.register`).
A layer below orders that counts something about a copy (downloads) cannot import this
module; whoever wires it in registers, for instance
`register(download_limit(downloads.download_count))` from `orders.register`.
"""
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from ..timeutil import utcnow

RULES: list = []


def register(check) -> None:
    """Add an eligibility rule; registering the same function again changes nothing."""
    if check not in RULES:
        RULES.append(check)


def unregister(check) -> None:
    if check in RULES:
        RULES.remove(check)


def refusal(order, line) -> str | None:
    """The first reason a registered rule gives against refunding `line`, or None."""
    for check in RULES:
        reason = check(order, line)
        if reason:
            return str(reason)
    return None


def window_open(order) -> bool:
    """Paid less than REFUND_WINDOW_DAYS ago."""
    from datetime import timedelta

    days = current_app.config["REFUND_WINDOW_DAYS"]
    return order.paid_at is not None and utcnow() - order.paid_at <= timedelta(days=days)


def within_window(order, line) -> str | None:
    """The refund window: REFUND_WINDOW_DAYS (14) from payment; a pre-ordered game not
    released yet may be refunded any time before its release."""
    if window_open(order) or _awaiting_release(order, line):
        return None
    return _("The %(days)s-day refund window has passed.", days=current_app.config["REFUND_WINDOW_DAYS"])


def _awaiting_release(order, line) -> bool:
    from sqlalchemy import select

    from ..extensions import db
    from ..library.models import LibraryEntry

    return bool(db.session.scalar(select(LibraryEntry.awaiting_release).where(
        LibraryEntry.order_id == order.id, LibraryEntry.game_id == line.game_id,
        LibraryEntry.revoked_at.is_(None))))


def download_limit(download_count):
    """A rule refusing a copy downloaded more than REFUND_MAX_DOWNLOADS times;
    `download_count(user_id, game_id, since)` counts a buyer's downloads of a game since
    the order was paid (downloads of an earlier, refunded copy don't count)."""
    def at_most_n_downloads(order, line) -> str | None:
        limit = current_app.config["REFUND_MAX_DOWNLOADS"]
        done = download_count(order.user_id, line.game_id, order.paid_at)
        if done <= limit:
            return None
        return ngettext("Downloaded %(num)d time, more than the refund policy allows (%(limit)d).",
                        "Downloaded %(num)d times, more than the refund policy allows (%(limit)d).",
                        done, limit=limit)
    return at_most_n_downloads


def policy() -> list[str]:
    """The refund policy in sentences, as checkout states it before payment and the
    order page repeats it."""
    cfg = current_app.config
    return [
        ngettext("Each game of an order can be refunded on its own within %(days)s days of payment, if it was "
                 "downloaded no more than %(num)d time.",
                 "Each game of an order can be refunded on its own within %(days)s days of payment, if it was "
                 "downloaded no more than %(num)d times.",
                 cfg["REFUND_MAX_DOWNLOADS"], days=cfg["REFUND_WINDOW_DAYS"]),
        _("A refunded game gives back its price less its share of the order's discounts (shared out in "
          "proportion to the prices): the money to the way you paid, points to your balance. A coupon comes "
          "back when every game of the order is refunded, if it is still valid."),
    ]
