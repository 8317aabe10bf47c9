"""The steps a social sign-in may need before it is done: prove the existing account
with that email, choose a nickname, give (and verify) an email."""
from functools import wraps

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ..accounts.forms import CodeForm
from ..web.forms import EmptyForm
from ..accounts.models import User
from ..accounts.services import normalize_email
from ..errors import DomainError
from ..extensions import db, limiter
from . import pending, services
from .forms import EmailForm, NicknameForm, ProvePasswordForm
from .views import bp, continue_sign_in, provider_or_404


def _limit(name):
    return lambda: current_app.config[name]


def pending_step(view):
    """Only with a sign-in of this provider waiting in the session; passes it on."""

    @wraps(view)
    def wrapper(provider):
        provider = provider_or_404(provider)
        attempt = pending.load()
        if attempt is None or attempt.profile.provider != provider.name:
            flash(_("That %(label)s sign-in expired. Please start again.", label=provider.label), "error")
            return redirect(url_for("accounts.login"))
        return view(provider, attempt)

    return wrapper


def _finish(attempt, **decision):
    try:
        outcome = services.sign_in(attempt.profile, **decision)
    except DomainError as exc:
        pending.clear()
        flash(exc.message, "error")
        return redirect(url_for("accounts.login"))
    return continue_sign_in(outcome, attempt)


def _done(attempt, user, restored):
    return continue_sign_in(services.Outcome("done", user, linked=True, restored=restored), attempt)


# --- prove the existing account ---------------------------------------------------

def _account(attempt) -> User | None:
    return db.session.get(User, attempt.user_id) if attempt.user_id else None


def _prove_page(provider, attempt, user, status=200, **forms):
    forms.setdefault("password_form", ProvePasswordForm(formdata=None))
    forms.setdefault("code_form", CodeForm(formdata=None))
    return render_template("social/prove.html", provider=provider, user=user, send_form=EmptyForm(formdata=None),
                           **forms), status


@bp.route("/login/<provider>/prove", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_LOGIN"), methods=["POST"])
@pending_step
def prove(provider, attempt):
    user = _account(attempt)
    if user is None:
        return _finish(attempt)
    form = ProvePasswordForm()
    if form.validate_on_submit():
        try:
            restored = services.prove_with_password(user, form.password.data, attempt.profile)
        except DomainError as exc:
            form.password.errors.append(exc.message)
        else:
            return _done(attempt, user, restored)
    return _prove_page(provider, attempt, user, 400 if form.errors else 200, password_form=form)


@bp.route("/login/<provider>/prove/send", methods=["POST"])
@limiter.limit(_limit("RATELIMIT_VERIFY"))
@pending_step
def prove_send(provider, attempt):
    user = _account(attempt)
    if user is not None and EmptyForm().validate_on_submit():
        try:
            services.send_proof_code(user)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(_("We emailed a 6-digit code to %(email)s.", email=user.email), "info")
    return redirect(url_for("social.prove", provider=provider.name))


@bp.route("/login/<provider>/prove/code", methods=["POST"])
@limiter.limit(_limit("RATELIMIT_VERIFY"))
@pending_step
def prove_code(provider, attempt):
    user = _account(attempt)
    if user is None:
        return _finish(attempt)
    form = CodeForm()
    if form.validate_on_submit():
        try:
            restored = services.prove_with_code(user, form.code.data, attempt.profile)
        except DomainError as exc:
            form.code.errors.append(exc.message)
        else:
            return _done(attempt, user, restored)
    return _prove_page(provider, attempt, user, 400, code_form=form)


# --- choose a nickname ----------------------------------------------------------

@bp.route("/login/<provider>/nickname", methods=["GET", "POST"])
@pending_step
def nickname(provider, attempt):
    form = NicknameForm()
    if form.validate_on_submit():
        return _finish(attempt, verified_email=attempt.verified_email, nickname=form.nickname.data)
    if not form.is_submitted():
        form.nickname.data = (attempt.profile.nickname or "")[:20]
    return render_template("social/nickname.html", provider=provider, form=form), 400 if form.errors else 200


# --- give an email and verify it ------------------------------------------------

def _email_page(provider, attempt, status=200, form=None, code_form=None):
    if form is None:
        form = EmailForm(formdata=None, email=attempt.code_email or attempt.profile.email)
    return render_template("social/email.html", provider=provider, form=form, sent_to=attempt.code_email,
                           code_form=code_form or CodeForm(formdata=None)), status


@bp.route("/login/<provider>/email", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_VERIFY"), methods=["POST"])
@pending_step
def email(provider, attempt):
    form = EmailForm()
    if not form.validate_on_submit():
        return _email_page(provider, attempt, 400 if form.errors else 200, form if form.is_submitted() else None)
    try:
        services.send_email_code(attempt.attempt, form.email.data, attempt.profile.nickname)
    except DomainError as exc:
        form.email.errors.append(exc.message)
        return _email_page(provider, attempt, 400, form)
    attempt.code_email = normalize_email(form.email.data)
    pending.save(attempt)
    flash(_("We emailed a 6-digit code to %(email)s.", email=attempt.code_email), "info")
    return redirect(url_for("social.email", provider=provider.name))


@bp.route("/login/<provider>/email/code", methods=["POST"])
@limiter.limit(_limit("RATELIMIT_VERIFY"))
@pending_step
def email_code(provider, attempt):
    form = CodeForm()
    if form.validate_on_submit() and attempt.code_email:
        try:
            attempt.verified_email = services.confirm_email_code(attempt.attempt, form.code.data)
        except DomainError as exc:
            form.code.errors.append(exc.message)
        else:
            pending.save(attempt)
            return _finish(attempt, verified_email=attempt.verified_email)
    return _email_page(provider, attempt, 400, code_form=form)

