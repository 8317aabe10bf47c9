"""The admin's waiting-room form. Times are entered in Korea time."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from ..coupons.forms import BETWEEN, REQUIRED


class RoomForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=100)])
    target_kind = SelectField(_l("Guards"), choices=[("coupon", _l("A coupon drop")), ("game", _l("A game's launch")),
                                                     ("paths", _l("Paths"))])
    target = TextAreaField(_l("Coupon drop id, game slug, or paths (one a line)"),
                           validators=[DataRequired(REQUIRED), Length(max=2000)], render_kw={"rows": 2})
    mode = SelectField(_l("Admission"), choices=[("rate", _l("A number of visitors per minute")),
                                                 ("cap", _l("A number of active visitors inside"))])
    rate_per_minute = IntegerField(_l("Visitors per minute"), default=600,
                                   validators=[InputRequired(REQUIRED), NumberRange(min=1, max=1_000_000, message=BETWEEN)])
    active_cap = IntegerField(_l("Active visitors inside"), default=500,
                              validators=[InputRequired(REQUIRED), NumberRange(min=1, max=1_000_000, message=BETWEEN)])
    session_minutes = IntegerField(_l("Session duration (minutes)"), default=10,
                                   validators=[InputRequired(REQUIRED), NumberRange(min=1, max=1440, message=BETWEEN)])
    queue_order = SelectField(_l("Order"), choices=[("fifo", _l("First come, first in")), ("random", _l("Random"))])
    opens_at = DateTimeLocalField(_l("Admission opens (KST)"), format="%Y-%m-%dT%H:%M", validators=[InputRequired(REQUIRED)])
    on_redis_down = SelectField(_l("If Redis is down"), choices=[("closed", _l("Hold everyone (fail closed)")),
                                                                 ("open", _l("Let everyone in (fail open)"))])
    enabled = BooleanField(_l("On"))
