"""Social login: the redirect to a provider, its callback, and linking from the
account page. The extra sign-in steps (prove, nickname, email) are in step_views."""
from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.login import log_in
from ..accounts.sessions import StoreUnavailable
from ..web.forms import EmptyForm
from ..web.urls import safe_next
from ..errors import DomainError
from . import pending, providers, services
from .providers import SocialLoginFailed

bp = Blueprint("social", __name__)

NEXT_KEY = "social_next"  # where to go after logging in
LINK_KEY = "social_link"  # the provider a logged-in user asked to link


def provider_or_404(name: str) -> providers.Provider:
    provider = providers.get(name)
    if provider is None:
        abort(404)
    return provider


def _redirect_to_provider(provider, back_url):
    try:
        return providers.authorize_redirect(provider, url_for("social.callback", provider=provider.name,
                                                              _external=True))
    except SocialLoginFailed as exc:
        flash(exc.message, "error")
        return redirect(back_url)


@bp.route("/login/<provider>")
def login(provider):
    provider = provider_or_404(provider)
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    session[NEXT_KEY] = next_url
    session.pop(LINK_KEY, None)
    return _redirect_to_provider(provider, url_for("accounts.login"))


@bp.route("/login/<provider>/callback")
def callback(provider):
    provider = provider_or_404(provider)
    linking = session.pop(LINK_KEY, None) == provider.name and current_user.is_authenticated
    back_url = url_for("accounts.profile_page") if linking else url_for("accounts.login")
    try:
        profile = providers.fetch_profile(provider)
    except SocialLoginFailed as exc:
        flash(exc.message, "error")
        return redirect(back_url)
    if linking:
        try:
            services.link(current_user, profile)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(_("%(label)s is linked. You can log in with it from now on.", label=provider.label), "success")
        return redirect(back_url)
    if current_user.is_authenticated:  # a second tab's login finished: never switch accounts
        flash(_("You are already logged in as %(nickname)s.", nickname=current_user.nickname), "info")
        return redirect(url_for("core.index"))
    attempt = pending.Pending(profile=profile, next_url=safe_next(session.pop(NEXT_KEY, None)))
    try:
        outcome = services.sign_in(profile)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(back_url)
    return continue_sign_in(outcome, attempt)


def continue_sign_in(outcome: services.Outcome, attempt: pending.Pending):
    """Log the user in when the sign-in is done, else send them to the next step."""
    provider = providers.PROVIDERS[attempt.profile.provider]
    if outcome.step != "done":
        attempt.user_id = outcome.user.id if outcome.step == "prove" else None
        pending.save(attempt)
        return redirect(url_for(f"social.{outcome.step}", provider=provider.name))
    user = outcome.user
    try:
        log_in(user)  # a fresh session (no fixation) with its own login record
    except StoreUnavailable as exc:
        flash(exc.message, "error")
        return redirect(url_for("accounts.login", next=attempt.next_url))
    if outcome.created:
        flash(_("Welcome, %(nickname)s! Your account is ready.", nickname=user.nickname), "success")
    elif outcome.restored:
        flash(_("Welcome back! Your account has been restored."), "success")
    elif outcome.linked:
        flash(_("%(label)s is now linked to your account. Logged in as %(nickname)s.", label=provider.label,
                nickname=user.nickname), "success")
    else:
        flash(_("Logged in as %(nickname)s.", nickname=user.nickname), "success")
    if not user.is_verified:  # linked while unverified: as after a password log-in
        return redirect(url_for("accounts.verify", next=attempt.next_url))
    return redirect(attempt.next_url)


@bp.route("/account/social/<provider>/link", methods=["POST"])
@login_required
def link(provider):
    provider = provider_or_404(provider)
    if not EmptyForm().validate_on_submit():
        abort(400)
    session[LINK_KEY] = provider.name
    return _redirect_to_provider(provider, url_for("accounts.profile_page"))


@bp.route("/account/social/<provider>/unlink", methods=["POST"])
@login_required
def unlink(provider):
    if provider not in providers.PROVIDERS:  # unconfigured ones may still be unlinked
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.unlink(current_user, provider)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("%(label)s is unlinked.", label=providers.PROVIDERS[provider].label), "info")
    return redirect(url_for("accounts.profile_page"))


@bp.app_context_processor
def social_context():
    def linked_accounts():
        """(provider, link or None) for each configured or linked provider."""
        links = {a.provider: a for a in services.linked_accounts(current_user.id)}
        return [(p, links.get(p.name)) for p in providers.PROVIDERS.values()
                if p.name in links or providers.is_configured(p, current_app.config)]

    return {"social_providers": providers.configured, "social_linked_accounts": linked_accounts}

