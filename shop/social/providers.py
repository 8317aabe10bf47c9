"""The identity providers: which ones are configured, where their endpoints are, and
how each one's answer becomes a `SocialProfile`.

A provider is on when both `<NAME>_CLIENT_ID` and `<NAME>_CLIENT_SECRET` are set. Its
endpoints are the real ones unless `GOOGLE_DISCOVERY_URL` or `<NAME>_AUTHORIZE_URL`,
`_TOKEN_URL`, `_USERINFO_URL` (`GITHUB_EMAILS_URL`) say otherwise — a staging identity
provider, or the tests' local one. Every call to a provider uses SOCIAL_HTTP_TIMEOUT.
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.flask_client import FlaskIntegration, OAuth
from flask import current_app, request, session
from flask_babel import lazy_gettext as _l
from joserfc.errors import JoseError

from ..accounts.services import normalize_email
from ..errors import DomainError


class SocialLoginFailed(DomainError):
    """Base of what can go wrong between us and a provider; nothing is created."""

    template = _l("Signing in with %(label)s failed. Please try again.")

    def __init__(self, label: str):
        super().__init__(str(self.template) % {"label": label})


class ConsentDenied(SocialLoginFailed):
    template = _l("You cancelled signing in with %(label)s. Nothing was changed.")


class StateInvalid(SocialLoginFailed):
    template = _l("That %(label)s sign-in expired or was not started here. Please try again.")


class ProviderError(SocialLoginFailed):
    template = _l("%(label)s could not complete the sign-in. Please try again in a moment.")


class ProviderTimeout(SocialLoginFailed):
    template = _l("%(label)s did not answer in time. Please try again in a moment.")


@dataclass(frozen=True)
class SocialProfile:
    """Who the provider says the user is. `email` counts only with `email_verified`."""
    provider: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    nickname: str | None = None


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    scope: str
    read_profile: Callable  # (client, token, urls) -> dict of SocialProfile fields
    urls: dict = field(default_factory=dict)  # endpoint name -> real URL
    pkce: bool = True
    token_auth: str = "client_secret_post"

    def url(self, config, which: str) -> str | None:
        return config.get(f"{self.name.upper()}_{which.upper()}_URL") or self.urls.get(which)


def _json(client, url, token):
    response = client.get(url, token=token)
    response.raise_for_status()
    return response.json()


def _google(client, token, urls):
    # The id_token, checked by Authlib (signature, issuer, audience, expiry, nonce).
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise ValueError("no id_token in Google's answer")
    return dict(subject=claims["sub"], email=claims.get("email"), nickname=claims.get("name"),
                email_verified=claims.get("email_verified") in (True, "true"))


def _github(client, token, urls):
    user = _json(client, urls["userinfo"], token)
    # Only the primary address, and only when GitHub has verified it. Without the
    # user:email grant the list is refused: then we ask for an address ourselves.
    try:
        emails = _json(client, urls["emails"], token)
    except requests.HTTPError:
        emails = []
    primary = next((e for e in emails if e.get("primary") and e.get("verified")), None)
    return dict(subject=str(user["id"]), nickname=user.get("name") or user.get("login"),
                email=primary and primary["email"], email_verified=primary is not None)


def _kakao(client, token, urls):
    data = _json(client, urls["userinfo"], token)
    account = data.get("kakao_account") or {}
    profile = account.get("profile") or {}
    return dict(subject=str(data["id"]), email=account.get("email"),
                email_verified=bool(account.get("is_email_valid") and account.get("is_email_verified")),
                nickname=profile.get("nickname") or (data.get("properties") or {}).get("nickname"))


def _naver(client, token, urls):
    data = _json(client, urls["userinfo"], token)
    if data.get("resultcode") != "00":
        raise ValueError(f"Naver profile error {data.get('resultcode')}")
    me = data["response"]
    # Naver does not say whether it verified the address: we confirm it by code ourselves.
    return dict(subject=str(me["id"]), email=me.get("email"), email_verified=False,
                nickname=me.get("nickname") or me.get("name"))


PROVIDERS = {p.name: p for p in (
    Provider("google", _l("Google"), "openid email profile", _google, token_auth="client_secret_basic",
             urls={"discovery": "https://accounts.google.com/.well-known/openid-configuration"}),
    Provider("github", _l("GitHub"), "read:user user:email", _github, urls={
        "authorize": "https://github.com/login/oauth/authorize",
        "token": "https://github.com/login/oauth/access_token",
        "userinfo": "https://api.github.com/user",
        "emails": "https://api.github.com/user/emails"}),
    Provider("kakao", _l("Kakao"), "profile_nickname account_email", _kakao, urls={
        "authorize": "https://kauth.kakao.com/oauth/authorize",
        "token": "https://kauth.kakao.com/oauth/token",
        "userinfo": "https://kapi.kakao.com/v2/user/me"}),
    Provider("naver", _l("Naver"), "", _naver, pkce=False, urls={
        "authorize": "https://nid.naver.com/oauth2.0/authorize",
        "token": "https://nid.naver.com/oauth2.0/token",
        "userinfo": "https://openapi.naver.com/v1/nid/me"}),
)}


class _ExpiringState(FlaskIntegration):
    """Authlib keeps each attempt's state (with its PKCE verifier and nonce) in the
    session with an `exp` it never checks; an attempt older than SOCIAL_STATE_TTL
    must not complete."""

    def set_state_data(self, session_, state, data):
        self.expires_in = current_app.config["SOCIAL_STATE_TTL"]
        super().set_state_data(session_, state, data)

    def get_state_data(self, session_, state):
        stored = session_.get(f"_state_{self.name}_{state}") or {}
        if stored.get("exp", 0) < time.time():
            return None
        return super().get_state_data(session_, state)


class _OAuth(OAuth):
    framework_integration_cls = _ExpiringState


def init_app(app):
    """Register the configured providers on an Authlib registry of this app's own."""
    oauth = _OAuth(app)
    config = app.config
    for provider in PROVIDERS.values():
        if not is_configured(provider, config):
            continue
        client_kwargs = {"token_endpoint_auth_method": provider.token_auth,
                         "default_timeout": config["SOCIAL_HTTP_TIMEOUT"]}
        if provider.scope:
            client_kwargs["scope"] = provider.scope
        if provider.pkce:
            client_kwargs["code_challenge_method"] = "S256"
        oauth.register(provider.name, client_id=config[f"{provider.name.upper()}_CLIENT_ID"],
                       client_secret=config[f"{provider.name.upper()}_CLIENT_SECRET"],
                       server_metadata_url=provider.url(config, "discovery"),
                       authorize_url=provider.url(config, "authorize"),
                       access_token_url=provider.url(config, "token"),
                       client_kwargs=client_kwargs)
    app.extensions["social"] = oauth


def is_configured(provider: Provider, config) -> bool:
    prefix = provider.name.upper()
    return bool(config.get(f"{prefix}_CLIENT_ID") and config.get(f"{prefix}_CLIENT_SECRET"))


def configured() -> list[Provider]:
    """The providers whose buttons are shown, in a fixed order."""
    return [p for p in PROVIDERS.values() if is_configured(p, current_app.config)]


def get(name: str) -> Provider | None:
    """The provider called `name` if it is configured."""
    provider = PROVIDERS.get(name)
    return provider if provider and is_configured(provider, current_app.config) else None


def _client(provider: Provider):
    return current_app.extensions["social"].create_client(provider.name)


def authorize_redirect(provider: Provider, redirect_uri: str):
    """The redirect to the provider's consent page, with state, PKCE and (OIDC) nonce
    remembered in the session. Raises ProviderError, ProviderTimeout (discovery)."""
    with _translated_errors(provider):
        return _client(provider).authorize_redirect(redirect_uri)


def fetch_profile(provider: Provider) -> SocialProfile:
    """Finish the callback: check state, swap the code for a token (with the PKCE
    verifier), check the id_token's nonce, read the profile.

    Raises ConsentDenied, StateInvalid, ProviderError, ProviderTimeout.
    """
    client = _client(provider)
    error = request.args.get("error")
    if error:
        client.framework.clear_state_data(session, request.args.get("state"))
        raise ConsentDenied(provider.label) if error == "access_denied" else ProviderError(provider.label)
    with _translated_errors(provider):
        token = client.authorize_access_token()
        urls = {which: provider.url(current_app.config, which) for which in ("userinfo", "emails")}
        fields = provider.read_profile(client, token, urls)
    email = normalize_email(fields.pop("email", None)) or None
    nickname = (fields.pop("nickname", None) or "").strip() or None
    return SocialProfile(provider=provider.name, email=email, nickname=nickname, **fields)


@contextmanager
def _translated_errors(provider: Provider):
    """Turn what Authlib, requests and joserfc raise into the domain errors above."""
    try:
        yield
    except MismatchingStateError as exc:
        raise StateInvalid(provider.label) from exc
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise ProviderTimeout(provider.label) from exc
    except (AuthlibBaseError, JoseError, requests.RequestException, ValueError, KeyError, TypeError) as exc:
        current_app.logger.warning("social login with %s failed: %r", provider.name, exc)
        raise ProviderError(provider.label) from exc
