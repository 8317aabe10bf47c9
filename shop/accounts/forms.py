"""Account forms: lengths and formats are checked here, rules in services."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp, ValidationError

NICKNAME_RE = r"^[\w가-힣][\w가-힣 .\-]{0,18}[\w가-힣.]$"


class PasswordRules:
    """ASVS 5: at least 8 characters (15 recommended), at least 64 allowed, no
    composition rules, and not the email or nickname."""

    def __call__(self, form, field):
        value = field.data or ""
        for other in ("email", "nickname"):
            other_field = getattr(form, other, None)
            if other_field is not None and other_field.data and value.lower() == other_field.data.strip().lower():
                raise ValidationError("Your password must not be your email or nickname.")


def email_field(label="Email"):
    return EmailField(label, validators=[DataRequired(), Length(max=254, message="Emails are at most 254 characters."),
                                         Email(check_deliverability=False, message="Enter a valid email address.")])


def new_password_field(label="Password"):
    return PasswordField(label, validators=[DataRequired(), Length(min=8, max=128, message="Passwords need at least 8 characters and at most 128."), PasswordRules()])


class NicknameMixin:
    nickname = StringField("Nickname", render_kw={"maxlength": 20}, validators=[
        DataRequired(),
        Regexp(NICKNAME_RE, message="Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores.")])


class SignupForm(NicknameMixin, FlaskForm):
    email = email_field()
    password = new_password_field()
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "The passwords do not match.")])


class LoginForm(FlaskForm):
    email = email_field()
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    remember = BooleanField("Keep me logged in")


class CodeForm(FlaskForm):
    code = StringField("6-digit code", validators=[
        DataRequired(), Regexp(r"^\s*\d{6}\s*$", message="The code is 6 digits.")])


class ForgotForm(FlaskForm):
    email = email_field()


class ResetForm(FlaskForm):
    password = new_password_field("New password")
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "The passwords do not match.")])


class ProfileForm(NicknameMixin, FlaskForm):
    pass


class AvatarForm(FlaskForm):
    avatar = FileField("Avatar", validators=[FileRequired("Choose an image.")])


class EmailChangeForm(FlaskForm):
    email = email_field("New email")
    password = PasswordField("Current password", validators=[DataRequired(), Length(max=128)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=128)])
    password = new_password_field("New password")
    confirm = PasswordField("Repeat new password", validators=[DataRequired(), EqualTo("password", "The passwords do not match.")])


class WithdrawForm(FlaskForm):
    password = PasswordField("Current password", validators=[DataRequired(), Length(max=128)])
    confirm = BooleanField("I understand my account will be closed", validators=[DataRequired("Tick the box to confirm.")])
