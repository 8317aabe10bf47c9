"""Admin form for coupon events. Times are entered in Korea time."""
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class EventForm(FlaskForm):
    # InputRequired, not DataRequired, on numbers and times: 0 is data (it gets the range
    # message, not "required"), and a malformed time keeps its "Not a valid datetime" message.
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    discount_type = SelectField("Discount", choices=[("fixed", "Fixed amount (₩)"), ("percent", "Percent")])
    discount_value = IntegerField("Amount (₩ or %)", validators=[InputRequired(), NumberRange(min=1, max=1_000_000)])
    discount_cap = IntegerField("Cap for percent (₩)", validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    min_order_amount = IntegerField("Minimum order (₩)", default=0, validators=[Optional(), NumberRange(min=0, max=10_000_000)])
    quantity = IntegerField("Quantity", validators=[InputRequired(), NumberRange(min=1, max=10_000_000)])
    opens_at = DateTimeLocalField("Opens (KST)", format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    closes_at = DateTimeLocalField("Closes (KST)", format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    valid_days = IntegerField("Valid for days after claim", validators=[Optional(), NumberRange(min=1, max=3650)])
    valid_until = DateTimeLocalField("…or valid until (KST)", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    scope_tag_id = SelectField("Only games with tag", coerce=int, validators=[Optional()])
    scope_publisher_id = SelectField("Only games of publisher", coerce=int, validators=[Optional()])
