"""The account page: nickname, avatar, email, password, signed-in devices, withdrawal."""
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user, login_required

from ..errors import DomainError, render_error
from ..extensions import limiter
from ..web.forms import EmptyForm
from ..web.i18n import in_locale
from . import profile, services, sessions
from .forms import (AvatarForm, CodeForm, EmailChangeForm, LanguageForm, PasswordChangeForm, ProfileForm,
                    WithdrawForm)
from .login import log_out, remember_language
from .views import _limit, bp


# What domains above accounts show on the account page (loyalty: grade and points):
# each is `part(user) -> template variables`, registered from create_app.
PAGE_PARTS: list = []


def register_page_part(part):
    if part not in PAGE_PARTS:
        PAGE_PARTS.append(part)


def _page(status=200, **forms):
    defaults = dict(
        profile_form=ProfileForm(formdata=None, nickname=current_user.nickname),
        avatar_form=AvatarForm(formdata=None),
        email_form=EmailChangeForm(formdata=None),
        password_form=PasswordChangeForm(formdata=None),
        remove_avatar_form=EmptyForm(formdata=None),
        language_form=LanguageForm(formdata=None, locale=current_user.locale or "ko"),
    )
    defaults.update(forms)
    for part in PAGE_PARTS:
        defaults.update(part(current_user))
    try:
        logins = sessions.active(current_user)
    except sessions.StoreUnavailable:
        logins = None  # the page says the list is unavailable
    defaults.update(logins=logins)
    return render_template("accounts/profile.html", **defaults), status


@bp.route("/account")
@login_required
def profile_page():
    return _page()


@bp.route("/account/profile", methods=["POST"])
@login_required
def update_profile():
    form = ProfileForm()
    if not form.validate_on_submit():
        return _page(400, profile_form=form)
    profile.update_nickname(current_user, form.nickname.data)
    flash(_("Profile saved."), "success")
    return redirect(url_for("accounts.profile_page"))


@bp.route("/account/language", methods=["POST"])
@login_required
def update_language():
    """The account's language: its pages, emails and notifications, and this browser's
    `lang` cookie (read where the user is not loaded)."""
    form = LanguageForm()
    if not form.validate_on_submit():
        return _page(400, language_form=form)
    profile.set_locale(current_user, form.locale.data)
    remember_language(form.locale.data)
    with in_locale(form.locale.data):  # said in the language just chosen
        flash(_("Language saved."), "success")
    return redirect(url_for("accounts.profile_page"))


@bp.route("/account/avatar", methods=["POST"])
@login_required
def upload_avatar():
    form = AvatarForm()
    if not form.validate_on_submit():
        return _page(400, avatar_form=form)
    try:
        profile.set_avatar(current_user, form.avatar.data.stream)
    except DomainError as exc:
        form.avatar.errors.append(exc.message)
        return _page(400, avatar_form=form)
    flash(_("Avatar updated."), "success")
    return redirect(url_for("accounts.profile_page"))


@bp.route("/account/avatar/remove", methods=["POST"])
@login_required
def remove_avatar():
    if EmptyForm().validate_on_submit():
        profile.remove_avatar(current_user)
        flash(_("Avatar removed."), "info")
    return redirect(url_for("accounts.profile_page"))


@bp.route("/account/email", methods=["POST"])
@login_required
@limiter.limit(_limit("RATELIMIT_VERIFY"))
def change_email():
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return _page(400, email_form=form)
    try:
        profile.request_email_change(current_user, form.email.data, form.password.data)
    except DomainError as exc:
        form.email.errors.append(exc.message)
        return _page(400, email_form=form)
    flash(_("We sent a code to %(email)s. Enter it to finish the change.",
            email=services.normalize_email(form.email.data)), "info")
    return redirect(url_for("accounts.confirm_email"))


@bp.route("/account/email/confirm", methods=["GET", "POST"])
@login_required
@limiter.limit(_limit("RATELIMIT_VERIFY"), methods=["POST"])
def confirm_email():
    form = CodeForm()
    if form.validate_on_submit():
        try:
            new_email = profile.confirm_email_change(current_user, form.code.data)
        except DomainError as exc:
            form.code.errors.append(exc.message)
        else:
            flash(_("Your email is now %(email)s.", email=new_email), "success")
            return redirect(url_for("accounts.profile_page"))
    return render_template("accounts/confirm_email.html", form=form), 200 if not form.errors else 400


@bp.route("/account/password", methods=["POST"])
@login_required
@limiter.limit(_limit("RATELIMIT_LOGIN"))
def change_password():
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _page(400, password_form=form)
    try:
        services.change_password(current_user, form.current.data, form.password.data)
    except DomainError as exc:
        form.current.errors.append(exc.message)
        return _page(400, password_form=form)
    log_out()
    flash(_("Password changed. Every session was logged out; log in with the new password."), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/account/sessions/revoke", methods=["POST"])
@login_required
def sign_out_everywhere():
    """Log out every browser and device of this account (a lost phone, a shared PC):
    the login cookie names the session token, and a new token makes every old cookie,
    remember-me ones included, worthless at once."""
    if not EmptyForm().validate_on_submit():
        flash(_("That form expired; try again."), "error")
        return redirect(url_for("accounts.profile_page"))
    services.sign_out_everywhere(current_user)
    log_out()
    flash(_("You were signed out on every device, this one included."), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/account/sessions/<sid>/end", methods=["POST"])
@login_required
def end_login(sid):
    """"End this one" in the list of signed-in devices: that login's cookies, and every
    copy of them, stop working. Only the user's own logins can be named (the record is
    looked up under their id): another user's session id is a 404, as an ended one is."""
    if not sessions.SESSION_ID.fullmatch(sid):
        abort(404)
    if not EmptyForm().validate_on_submit():
        flash(_("That form expired; try again."), "error")
        return redirect(url_for("accounts.profile_page"))
    if sid == current_user.login_session_id:
        log_out()
        flash(_("You have been logged out."), "info")
        return redirect(url_for("accounts.login"))
    try:
        ended = sessions.end(current_user.id, sid)
    except sessions.StoreUnavailable:
        flash(_("Signed-in devices are unavailable for a moment. Try again in a minute."), "error")
        return redirect(url_for("accounts.profile_page"))
    if not ended:  # someone else's, or over already: the same answer for both
        return render_error(404, _("That session has already ended, or it is not one of yours."))
    flash(_("That device is signed out."), "success")
    return redirect(url_for("accounts.profile_page"))


@bp.route("/account/withdraw", methods=["GET", "POST"])
@login_required
@limiter.limit(_limit("RATELIMIT_LOGIN"), methods=["POST"])
def withdraw():
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            profile.withdraw(current_user, form.password.data)
        except DomainError as exc:
            form.password.errors.append(exc.message)
        else:
            log_out()
            days = current_app.config["WITHDRAWAL_GRACE_DAYS"]
            flash(ngettext("Your account is closed. Log in within %(num)d day to restore it.",
                           "Your account is closed. Log in within %(num)d days to restore it.", days), "info")
            return redirect(url_for("core.index"))
    return render_template("accounts/withdraw.html", form=form), 200 if not form.errors else 400
