"""The gift form: who it is for and what to tell them."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

from .models import MAX_MESSAGE


class GiftForm(FlaskForm):
    recipient = EmailField(_l("Recipient's email"), render_kw={"maxlength": 254, "autocomplete": "off"}, validators=[
        DataRequired(_l("Enter the recipient's email address.")),
        Length(max=254, message=_l("Emails are at most 254 characters.")),
        Email(check_deliverability=False, message=_l("Enter a valid email address."))])
    message = TextAreaField(_l("Message (optional)"), render_kw={"maxlength": MAX_MESSAGE, "rows": 4}, validators=[
        Length(max=MAX_MESSAGE, message=_l("The message is at most %(max)d characters."))])
