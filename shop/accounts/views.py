"""Sign-up, verification, log in/out and password reset."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import DomainError
from ..extensions import limiter
from ..web.forms import EmptyForm
from ..web.urls import safe_next
from . import services, sessions
from .forms import CodeForm, ForgotForm, LoginForm, ResetForm, SignupForm
from .login import log_in, log_out

bp = Blueprint("accounts", __name__)


def _limit(name):
    return lambda: current_app.config[name]


def _email_key():
    return "email:" + services.normalize_email(request.form.get("email", ""))[:254]


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_SIGNUP"), methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = services.register(form.email.data, form.nickname.data, form.password.data)
        except DomainError as exc:
            form.email.errors.append(exc.message)
        else:
            try:
                log_in(user)
            except sessions.StoreUnavailable:
                flash(_("Your account is ready. Logging in is unavailable for a moment: log in again in a minute."),
                      "info")
                return redirect(url_for("accounts.login"))
            flash(_("Welcome, %(nickname)s! We emailed a 6-digit code to %(email)s.", nickname=user.nickname,
                    email=user.email), "success")
            return redirect(_verify_url())
    return render_template("accounts/signup.html", form=form), 200 if not form.errors else 400


@bp.route("/verify", methods=["GET", "POST"])
@login_required
@limiter.limit(_limit("RATELIMIT_VERIFY"), methods=["POST"])
def verify():
    if current_user.is_verified:
        return redirect(safe_next(request.args.get("next")))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            services.verify_email(current_user, form.code.data)
        except DomainError as exc:
            form.code.errors.append(exc.message)
        else:
            flash(_("Your email is verified. Happy playing!"), "success")
            return redirect(safe_next(request.args.get("next")))
    return render_template("accounts/verify.html", form=form, resend=EmptyForm()), 200 if not form.errors else 400


@bp.route("/verify/resend", methods=["POST"])
@login_required
@limiter.limit(_limit("RATELIMIT_VERIFY"))
def resend_code():
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            services.resend_verification(current_user)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(_("A new code is on its way to %(email)s.", email=current_user.email), "success")
    return redirect(_verify_url())


def _verify_url() -> str:
    """/verify, carrying on a safe `next` when there is one (never an empty `?next=`)."""
    return url_for("accounts.verify", next=safe_next(request.args.get("next"), "") or None)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_LOGIN"), methods=["POST"])
@limiter.limit(_limit("RATELIMIT_LOGIN"), key_func=_email_key, methods=["POST"])
def login():
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user, restored = services.authenticate(form.email.data, form.password.data)
        except DomainError as exc:
            form.password.errors.append(exc.message)
        else:
            try:
                log_in(user, remember=form.remember.data)
            except sessions.StoreUnavailable as exc:
                form.password.errors.append(exc.message)
                return render_template("accounts/login.html", form=form, next=next_url), 503
            if restored:
                flash(_("Welcome back! Your account has been restored."), "success")
            else:
                flash(_("Logged in as %(nickname)s.", nickname=user.nickname), "success")
            if not user.is_verified:
                return redirect(url_for("accounts.verify", next=next_url))
            return redirect(next_url)
    return render_template("accounts/login.html", form=form, next=next_url), 200 if not form.errors else 400


@bp.route("/logout", methods=["POST"])
def logout():
    form = EmptyForm()
    if form.validate_on_submit():
        if log_out():
            flash(_("You have been logged out."), "info")
        else:
            flash(_("You have been logged out, on every device: we could not reach the session store."), "info")
    return redirect(url_for("core.index"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_RESET"), methods=["POST"])
def forgot_password():
    form = ForgotForm()
    if form.validate_on_submit():
        services.request_password_reset(
            form.email.data,
            lambda token: url_for("accounts.reset_password", token=token, _external=True))
        # Same answer whether or not the account exists.
        flash(_("If an account uses that email, a reset link is on its way. It works once, for one hour."), "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", form=form), 200 if not form.errors else 400


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_RESET"), methods=["POST"])
def reset_password(token):
    if len(token) > 512:
        return render_template("accounts/reset_invalid.html"), 400
    try:
        services.user_for_reset_token(token)
    except DomainError:
        return render_template("accounts/reset_invalid.html"), 400
    form = ResetForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except DomainError:
            return render_template("accounts/reset_invalid.html"), 400
        log_out()
        flash(_("Your password was changed. Log in with the new one."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form), 200 if not form.errors else 400
