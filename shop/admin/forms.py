"""Admin forms: lengths and choices are checked here, rules in the actions.

Search forms are GET forms without CSRF (they change nothing); every POST form has it."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..accounts.models import ROLES
from ..orders.models import STATUSES as ORDER_STATUSES
from .labels import choices

REASON_MIN, REASON_MAX = 5, 300
USER_STATUSES = ("active", "suspended", "withdrawn", "purged")
ORDER_STATUS_LABELS = {
    "PENDING": _l("Awaiting payment"), "CONFIRMING": _l("Confirming"), "AWAITING_CONFIRMATION": _l("Awaiting confirmation"),
    "PAID": _l("Paid"), "FAILED": _l("Failed"), "CANCELLED": _l("Cancelled"), "REFUNDED": _l("Refunded"),
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class SearchForm(FlaskForm):
    """Base of the list filters: read from the query string, no CSRF."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), filters=[_strip], validators=[Optional(), Length(max=100)])


class UserSearchForm(SearchForm):
    role = SelectField(_l("Role"), choices=[("", _l("Any role"))] + choices("role", ROLES),
                       validators=[Optional()])
    status = SelectField(_l("Status"), choices=[("", _l("Any status"))] + choices("user_status", USER_STATUSES),
                         validators=[Optional()])


class GameSearchForm(SearchForm):
    status = SelectField(_l("Status"), choices=[("", _l("Any status")), ("listed", _l("Listed")),
                                                ("delisted", _l("Delisted")),
                                                ("moderated", _l("Delisted by an admin"))], validators=[Optional()])
    publisher = StringField(_l("Publisher"), filters=[_strip], validators=[Optional(), Length(max=254)])


class OrderSearchForm(SearchForm):
    status = SelectField(_l("Status"), choices=[("", _l("Any status"))] + [(s, ORDER_STATUS_LABELS.get(s, s))
                                                                          for s in ORDER_STATUSES],
                         validators=[Optional()])


class AuditSearchForm(FlaskForm):
    class Meta:
        csrf = False

    actor = StringField(_l("Actor email"), filters=[_strip], validators=[Optional(), Length(max=254)])
    action = StringField(_l("Action"), filters=[_strip], validators=[Optional(), Length(max=60)],
                         description=_l("A prefix: “user.” finds every user action."))
    target_type = StringField(_l("Target type"), filters=[_strip], validators=[Optional(), Length(max=40)])
    target_id = StringField(_l("Target id"), filters=[_strip], validators=[Optional(), Length(max=64)])
    date_from = DateField(_l("From (KST)"), validators=[Optional()])
    date_to = DateField(_l("To (KST)"), validators=[Optional()])


def reason_field(label=_l("Reason")):
    return TextAreaField(label, filters=[_strip], render_kw={"maxlength": REASON_MAX, "minlength": REASON_MIN,
                                                             "rows": 2},
                         validators=[DataRequired(_l("Give a reason.")),
                                     Length(min=REASON_MIN, max=REASON_MAX,
                                            message=_l("A reason is %(min)d–%(max)d characters."))])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=choices("role", ROLES),
                       validators=[DataRequired(_l("Choose a role."))])


class ReasonForm(FlaskForm):
    """Suspend a user, delist a game, refund an order: the reason is recorded and shown."""
    reason = reason_field()


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token (restore, relist)."""
