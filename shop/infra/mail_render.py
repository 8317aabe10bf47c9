"""What an email says: its subject and bodies, rendered when it is SENT, in its
recipient's language. Nothing here is stored rendered: a resend, or a recipient who
switched language in between, gets the text in the language of the moment.

The language: the account's setting when the address belongs to an account (Korean
when it never chose), else the locale stored on the outbox row when it was queued
(the language of whoever asked: a sign-up, or a new address not yet on any
account), else Korean."""
from flask import has_request_context, render_template
from flask_babel import force_locale, get_locale, lazy_gettext as _l
from sqlalchemy import text

from ..extensions import db
from .locales import DEFAULT, normalize
from .wording import month_label, order_label, platform_name

SUBJECTS = {
    "verify_email": _l("Your Playcation verification code: %(code)s"),
    "email_change": _l("Confirm your new Playcation email: %(code)s"),
    "password_reset": _l("Reset your Playcation password"),
    "password_changed": _l("Your Playcation password was changed"),
    "account_withdrawn": _l("Your Playcation account was closed"),
    "receipt": _l("Your Playcation receipt: %(order_name)s"),
    "vip_upgrade": _l("You reached %(grade)s on Playcation"),
    "vip_downgrade": _l("Your Playcation grade for %(month)s: %(grade)s"),
    "refund": _l("Your Playcation refund: %(order_name)s"),
    "line_refund": _l("Your Playcation refund: %(title)s"),
    "preorder_released": _l("%(title)s is out: your pre-order is ready"),
    "game_delisted": _l("“%(title)s” was removed from the Playcation store"),
    "gift_received": _l("%(giver)s sent you a gift on Playcation: %(title)s"),
    "gift_owned": _l("Your gift of %(title)s can't be claimed"),
    "build_published": _l("%(title)s %(version)s is ready to download"),
}


def queued_locale(explicit: str | None = None) -> str | None:
    """What an outbox row keeps of its language when queued: the caller's choice, else
    the language of the request that queued it (None outside a request)."""
    if explicit:
        return normalize(explicit)
    return normalize(str(get_locale())) if has_request_context() else None


def recipient_locale(recipient: str, stored: str | None = None) -> str:
    """The language to write to `recipient` in, now (see the module docstring)."""
    # users is a table of a higher layer: read by name, as the outbox's own SQL does.
    found = db.session.execute(text("SELECT locale FROM users WHERE email = :email"),
                               {"email": (recipient or "").lower()}).first()
    if found is not None:
        return normalize(found[0]) or DEFAULT
    return normalize(stored) or DEFAULT


def template_values(context: dict) -> dict:
    """The stored context as the templates read it, in the language in force: an
    order's name from its first title and count (rows queued before that kept an
    English `order_name`), a month in words."""
    values = dict(context)
    if "first_title" in values:
        values["order_name"] = order_label(values["first_title"], values.get("more") or 0)
    if "month" in values:
        values["month"] = month_label(values["month"])
    if "platform" in values:
        values["platform_name"] = platform_name(values["platform"])
    return values


def subject_of(kind: str, context: dict, locale: str) -> str:
    """The subject line of `kind` in `locale`. Raises KeyError for a context that lacks
    what the subject names."""
    with force_locale(locale):
        return (str(SUBJECTS[kind]) % template_values(context))[:200]


def render_email(kind: str, context: dict, locale: str) -> tuple[str, str, str]:
    """(subject, text body, HTML body) of `kind` in `locale`."""
    with force_locale(locale):
        values = template_values(context)
        subject = (str(SUBJECTS[kind]) % values)[:200]
        return (subject, render_template(f"email/{kind}.txt", **values),
                render_template(f"email/{kind}.html", **values))
