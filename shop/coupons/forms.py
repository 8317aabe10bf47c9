"""Admin form for coupon events. Times are entered in Korea time."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class EventForm(FlaskForm):
    # InputRequired, not DataRequired, on numbers and times: 0 is data (it gets the range
    # message, not "required"), and a malformed time keeps its "Not a valid datetime" message.
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    discount_type = SelectField(_l("Discount"), choices=[("fixed", _l("Fixed amount (₩)")), ("percent", _l("Percent"))])
    discount_value = IntegerField(_l("Amount (₩ or %)"), validators=[InputRequired(), NumberRange(min=1, max=1_000_000)])
    discount_cap = IntegerField(_l("Cap for percent (₩)"), validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    min_order_amount = IntegerField(_l("Minimum order (₩)"), default=0, validators=[Optional(), NumberRange(min=0, max=10_000_000)])
    quantity = IntegerField(_l("Quantity"), validators=[InputRequired(), NumberRange(min=1, max=10_000_000)])
    opens_at = DateTimeLocalField(_l("Opens (KST)"), format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    closes_at = DateTimeLocalField(_l("Closes (KST)"), format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    valid_days = IntegerField(_l("Valid for days after claim"), validators=[Optional(), NumberRange(min=1, max=3650)])
    valid_until = DateTimeLocalField(_l("…or valid until (KST)"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    scope_tag_id = SelectField(_l("Only games with tag"), coerce=int, validators=[Optional()])
    scope_publisher_id = SelectField(_l("Only games of publisher"), coerce=int, validators=[Optional()])
