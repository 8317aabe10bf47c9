"""What each kind of notification says. A row stores its kind and parameters; its text
is written when it is read, in the reader's language (the page's, or the stream's for
a toast), so a user who switches language reads even old notifications in the new one.
Money is kept as integer won and formatted then (12,000원 / ₩12,000), months likewise.
Rows written before kinds had parameters keep their rendered English `message`."""
import logging

from flask_babel import lazy_gettext as _l

from ..infra.wording import month_label, order_label, platform_name
from ..web.i18n import won

log = logging.getLogger(__name__)


def _order(p: dict) -> dict:
    return {"order_name": order_label(p["title"], p.get("more") or 0), "total": won(p["total"])}


# kind -> (msgid, what the parameters become before they fill it in)
NOTICES = {
    "review": (_l("%(nickname)s reviewed %(title)s: %(stars)s"),
               lambda p: {"stars": "★" * int(p["rating"])}),
    "review_reply": (_l("%(title)s's publisher replied to your review"), None),
    "wishlist_sale": (_l("%(title)s is on sale: %(price)s (-%(percent)s%%)"),
                      lambda p: {"price": won(p["price"])}),
    "preorder_released": (_l("%(title)s is out: your pre-order is unlocked in your library."), None),
    "wishlist_released": (_l("%(title)s from your wishlist is out now."), None),
    "order_paid": (_l("Payment received: %(order_name)s (%(total)s)"), _order),
    "order_refunded": (_l("Refunded: %(order_name)s (%(total)s)"), _order),
    "order_line_refunded": (_l("Refunded: %(title)s (%(amount)s)"), lambda p: {"amount": won(p["amount"])}),
    "vip_grade": (_l("You reached %(grade)s for %(month)s! Enjoy your bonus points."),
                  lambda p: {"month": month_label(p["month"])}),
    "vip_downgrade": (_l("Your grade for %(month)s is %(grade)s, after %(previous)s. Thank you for playing "
                         "with us: %(regain_at)s of purchases in a month bring %(previous)s back."),
                      lambda p: {"month": month_label(p["month"]), "regain_at": won(p["regain_at"])}),
    "game_delisted": (_l("An admin delisted “%(title)s”: %(reason)s"), None),
    "game_relisted": (_l("An admin listed “%(title)s” in the store again."), None),
    "gift_claimed": (_l("%(email)s claimed your gift: %(title)s"), None),
    "gift_owned": (_l("%(email)s already owns %(title)s, so your gift can't be claimed. You can refund it on "
                      "your Gifts page."), None),
    "build_published": (_l("%(title)s %(version)s is out for %(platform_name)s. Download it from your library."),
                        lambda p: {"platform_name": platform_name(p["platform"])}),
}
KINDS = tuple(NOTICES)


class UnknownNotice(ValueError):
    """A kind with no text, or parameters its text can't be written from."""


def _write(kind: str, params: dict) -> str:
    template, prepare = NOTICES[kind]
    return str(template) % {**params, **(prepare(params) if prepare else {})}


def check(kind: str, params) -> dict:
    """The parameters of a new notification, once it is known they can be written out.
    Raises UnknownNotice."""
    if kind not in NOTICES:
        raise UnknownNotice(f"unknown notification kind {kind!r}")
    if not isinstance(params, dict):
        raise UnknownNotice(f"the parameters of a notification are a dict, not {type(params).__name__}")
    try:
        _write(kind, params)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnknownNotice(f"{kind} can't be written from {sorted(params)}: {exc!r}") from exc
    return params


def render(kind: str, params: dict | None, fallback: str | None = None) -> str:
    """The text of a notification in the language in force; rows from before parameters
    (and any that can't be written) show their stored text."""
    if params is None or kind not in NOTICES:
        return fallback or ""
    try:
        return _write(kind, params)
    except (KeyError, TypeError, ValueError):
        log.warning("notification of kind %s can't be written from %r", kind, params, exc_info=True)
        return fallback or ""


def text_of(row) -> str:
    """A notification row's text (an ORM row or a selected one with kind, params, message).
    The `notice` template filter."""
    return render(row.kind, row.params, row.message)
