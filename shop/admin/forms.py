"""Admin forms: lengths and choices are checked here, rules in the actions.

Search forms are GET forms without CSRF (they change nothing); every POST form has it."""
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..accounts.models import ROLES
from ..orders.models import STATUSES as ORDER_STATUSES

REASON_MIN, REASON_MAX = 5, 300
USER_STATUSES = ("active", "suspended", "withdrawn", "purged")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class SearchForm(FlaskForm):
    """Base of the list filters: read from the query string, no CSRF."""

    class Meta:
        csrf = False

    q = StringField("Search", filters=[_strip], validators=[Optional(), Length(max=100)])


class UserSearchForm(SearchForm):
    role = SelectField("Role", choices=[("", "Any role")] + [(r, r.title()) for r in ROLES],
                       validators=[Optional()])
    status = SelectField("Status", choices=[("", "Any status")] + [(s, s.title()) for s in USER_STATUSES],
                         validators=[Optional()])


class GameSearchForm(SearchForm):
    status = SelectField("Status", choices=[("", "Any status"), ("listed", "Listed"), ("delisted", "Delisted"),
                                            ("moderated", "Delisted by an admin")], validators=[Optional()])
    publisher = StringField("Publisher", filters=[_strip], validators=[Optional(), Length(max=254)])


class OrderSearchForm(SearchForm):
    status = SelectField("Status", choices=[("", "Any status")] + [(s, s.replace("_", " ").title())
                                                                   for s in ORDER_STATUSES],
                         validators=[Optional()])


class AuditSearchForm(FlaskForm):
    class Meta:
        csrf = False

    actor = StringField("Actor email", filters=[_strip], validators=[Optional(), Length(max=254)])
    action = StringField("Action", filters=[_strip], validators=[Optional(), Length(max=60)],
                         description="A prefix: “user.” finds every user action.")
    target_type = StringField("Target type", filters=[_strip], validators=[Optional(), Length(max=40)])
    target_id = StringField("Target id", filters=[_strip], validators=[Optional(), Length(max=64)])
    date_from = DateField("From (KST)", validators=[Optional()])
    date_to = DateField("To (KST)", validators=[Optional()])


def reason_field(label="Reason"):
    return TextAreaField(label, filters=[_strip], render_kw={"maxlength": REASON_MAX, "minlength": REASON_MIN,
                                                             "rows": 2},
                         validators=[DataRequired("Give a reason."),
                                     Length(min=REASON_MIN, max=REASON_MAX,
                                            message=f"A reason is {REASON_MIN}–{REASON_MAX} characters.")])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[(r, r.title()) for r in ROLES],
                       validators=[DataRequired("Choose a role.")])


class ReasonForm(FlaskForm):
    """Suspend a user, delist a game, refund an order: the reason is recorded and shown."""
    reason = reason_field()


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token (restore, relist)."""
