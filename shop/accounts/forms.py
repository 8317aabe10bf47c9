"""Account forms: lengths and formats are checked here, rules in services."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp, ValidationError

NICKNAME_RE = r"^[\w가-힣][\w가-힣 .\-]{0,18}[\w가-힣.]$"
PASSWORDS_DIFFER = _l("The passwords do not match.")
# Each language named in itself, as the footer's switcher does.
LANGUAGES = (("ko", "한국어"), ("en", "English"))


class PasswordRules:
    """ASVS 5: at least 8 characters (15 recommended), at least 64 allowed, no
    composition rules, and not the email or nickname."""

    def __call__(self, form, field):
        value = field.data or ""
        for other in ("email", "nickname"):
            other_field = getattr(form, other, None)
            if other_field is not None and other_field.data and value.lower() == other_field.data.strip().lower():
                raise ValidationError(_l("Your password must not be your email or nickname."))


def email_field(label=_l("Email")):
    return EmailField(label, validators=[
        DataRequired(),
        Length(max=254, message=_l("Emails are at most 254 characters.")),
        Email(check_deliverability=False, message=_l("Enter a valid email address."))])


def new_password_field(label=_l("Password")):
    return PasswordField(label, validators=[
        DataRequired(),
        Length(min=8, max=128, message=_l("Passwords need at least 8 characters and at most 128.")),
        PasswordRules()])


def current_password_field(label=_l("Current password")):
    return PasswordField(label, validators=[DataRequired(), Length(max=128)])


def repeat_password_field(label=_l("Repeat password")):
    return PasswordField(label, validators=[DataRequired(),
                                            EqualTo("password", PASSWORDS_DIFFER)])


class NicknameMixin:
    nickname = StringField(_l("Nickname"), render_kw={"maxlength": 20}, validators=[
        DataRequired(),
        Regexp(NICKNAME_RE, message=_l("Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores."))])


class SignupForm(NicknameMixin, FlaskForm):
    email = email_field()
    password = new_password_field()
    confirm = repeat_password_field()


class LoginForm(FlaskForm):
    email = email_field()
    password = current_password_field(_l("Password"))
    remember = BooleanField(_l("Keep me logged in"))


class CodeForm(FlaskForm):
    code = StringField(_l("6-digit code"), validators=[
        DataRequired(), Regexp(r"^\s*\d{6}\s*$", message=_l("The code is 6 digits."))])


class ForgotForm(FlaskForm):
    email = email_field()


class ResetForm(FlaskForm):
    password = new_password_field(_l("New password"))
    confirm = repeat_password_field()


class ProfileForm(NicknameMixin, FlaskForm):
    pass


class AvatarForm(FlaskForm):
    avatar = FileField(_l("Avatar"), validators=[FileRequired(_l("Choose an image."))])


class EmailChangeForm(FlaskForm):
    email = email_field(_l("New email"))
    password = current_password_field()


class PasswordChangeForm(FlaskForm):
    current = current_password_field()
    password = new_password_field(_l("New password"))
    confirm = repeat_password_field(_l("Repeat new password"))


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=LANGUAGES)  # anything else: "Not a valid choice."


class WithdrawForm(FlaskForm):
    password = current_password_field()
    confirm = BooleanField(_l("I understand my account will be closed"),
                           validators=[DataRequired(_l("Tick the box to confirm."))])
