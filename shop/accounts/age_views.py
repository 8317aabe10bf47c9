"""/account/age: verify a birth date (with consent) for adults-only games, and the
sandbox identity provider's page. Rules in accounts/age.py, providers in identity.py."""
from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from ..errors import DomainError
from ..timeutil import seoul_today
from ..web.forms import EmptyForm
from ..web.urls import safe_next
from . import age
from .identity import get_provider

bp = Blueprint("age", __name__)
NEXT_KEY = "age_next"
EARLIEST_BIRTH_YEAR = 1900


class ConsentForm(FlaskForm):
    consent = BooleanField(_l("I agree that Playcation stores my birth date, confirmed by the identity check, "
                              "to decide which games I may buy and play."),
                           validators=[DataRequired(_l("Agree to the storage of your birth date to continue."))])


def parse_birth_date(text: str, today: date) -> date:
    """A birth date typed as YYYY-MM-DD. Raises ValueError with the reason to show."""
    text = (text or "").strip()
    try:
        if len(text) != 10:
            raise ValueError
        value = date.fromisoformat(text)
    except ValueError:
        raise ValueError(_("Enter your birth date as YYYY-MM-DD, e.g. 1990-05-17."))
    if value > today:
        raise ValueError(_("A birth date can't be in the future."))
    if value.year < EARLIEST_BIRTH_YEAR:
        raise ValueError(_("Enter a birth date after %(year)s.", year=EARLIEST_BIRTH_YEAR))
    return value


class SandboxIdentityForm(FlaskForm):
    name = StringField(_l("Name"), render_kw={"maxlength": 40, "autocomplete": "name"}, validators=[
        DataRequired(_l("Enter your name.")), Length(max=40, message=_l("Names are at most 40 characters."))])
    birth_date = StringField(_l("Birth date (YYYY-MM-DD)"), render_kw={"maxlength": 10, "placeholder": "1990-05-17",
                                                                       "inputmode": "numeric"},
                             validators=[DataRequired(_l("Enter your birth date."))])

    def validate_birth_date(self, field):
        try:
            field.parsed = parse_birth_date(field.data, seoul_today())
        except ValueError as exc:
            raise ValidationError(str(exc))


def _page(form=None, status=200):
    return render_template("accounts/age.html", form=form or ConsentForm(formdata=None), forget_form=EmptyForm(),
                           verified=age.is_verified(current_user), adult=age.is_adult(current_user),
                           adult_from=age.adult_from_year(seoul_today()), next_url=session.get(NEXT_KEY)), status


@bp.route("/account/age")
@login_required
def age_page():
    target = safe_next(request.args.get("next"), "")
    if target:
        session[NEXT_KEY] = target
    return _page()


@bp.route("/account/age", methods=["POST"])
@login_required
def start_check():
    form = ConsentForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    age.record_consent(current_user)
    return redirect(get_provider().start(current_user, url_for("age.verify_return", _external=True)))


@bp.route("/account/age/return")
@login_required
def verify_return():
    """Where the identity provider sends the browser back with its answer."""
    if current_user.birth_date_consent_at is None:
        flash(_("Agree to the storage of your birth date to continue."), "error")
        return redirect(url_for("age.age_page"))
    provider = get_provider()
    try:
        identity = provider.complete(current_user, request.args)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("age.age_page"))
    age.record_verified(current_user, identity.birth_date, provider.name)
    if age.is_adult(current_user):
        flash(_("Your birth date is verified. You can buy and play adults-only games."), "success")
    else:
        flash(_("Your birth date is verified. Adults-only games stay closed until the year you turn 19."), "info")
    return redirect(safe_next(session.pop(NEXT_KEY, None), url_for("age.age_page")))


@bp.route("/account/age/forget", methods=["POST"])
@login_required
def forget():
    if not EmptyForm().validate_on_submit():
        abort(400)
    age.forget(current_user)
    flash(_("Your birth date was deleted."), "info")
    return redirect(url_for("age.age_page"))


@bp.route("/identity/sandbox", methods=["GET", "POST"])
@login_required
def sandbox_page():
    """The sandbox provider's page (development and tests): type a name and birth date."""
    if current_app.config["IDENTITY_PROVIDER"] != "sandbox":
        abort(404)
    form = SandboxIdentityForm()
    if form.validate_on_submit():
        token = get_provider("sandbox").answer(current_user, form.name.data.strip(), form.birth_date.parsed)
        return redirect(url_for("age.verify_return", token=token))
    return render_template("accounts/identity_sandbox.html", form=form), 400 if form.errors else 200
