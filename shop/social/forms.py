"""Forms of the social sign-in steps; codes and plain buttons reuse the account forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from ..accounts.forms import NicknameMixin, email_field


class NicknameForm(NicknameMixin, FlaskForm):
    pass


class EmailForm(FlaskForm):
    email = email_field()


class ProvePasswordForm(FlaskForm):
    password = PasswordField(_l("Password of your Playcation account"), validators=[DataRequired(), Length(max=128)])
