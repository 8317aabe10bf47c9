"""What a provider's answer means: log in, sign up, prove an existing account first,
link, unlink. Each public function does one thing in one transaction and raises a
DomainError subclass the view shows as a message.

Never a silent takeover: a provider's email that matches an account only links after
the visitor proves that account (its password, or a code sent to its address).
"""
import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..accounts import codes
from ..accounts.forms import NICKNAME_RE
from ..accounts.models import User
from ..accounts.services import (AccountSuspended, EmailTaken, WrongPassword, find_by_email, normalize_email,
                                 password_matches)
from ..errors import DomainError
from ..extensions import db
from ..infra.mail import queue_email
from ..timeutil import utcnow
from ..web.i18n import current_locale
from .models import SocialAccount
from .providers import PROVIDERS, SocialProfile


class AccountClosed(DomainError):
    message = _l("That account is closed.")


class LinkedElsewhere(DomainError):
    def __init__(self, provider: str):
        super().__init__(_("That %(label)s account is already linked to another Playcation account.",
                           label=_label(provider)))


class ProviderAlreadyLinked(DomainError):
    def __init__(self, provider: str):
        super().__init__(_("Your account already has a %(label)s account linked. Unlink it first.",
                           label=_label(provider)))


class NotLinked(DomainError):
    message = _l("That account is not linked.")


class LastLoginMethod(DomainError):
    message = _l("That is your only way to log in. Link another account, or set a password with "
                 "“Forgot your password?”, before unlinking it.")


@dataclass
class Outcome:
    """The next step of a sign-in: "done" (log `user` in), "prove" (`user` owns the
    email), "nickname" or "email" (ask the visitor)."""
    step: str
    user: User | None = None
    created: bool = False
    linked: bool = False
    restored: bool = False


def _label(provider: str) -> str:
    return PROVIDERS[provider].label if provider in PROVIDERS else provider


def valid_nickname(nickname: str | None) -> bool:
    return bool(nickname) and re.fullmatch(NICKNAME_RE, nickname) is not None


def find_link(provider: str, subject: str) -> SocialAccount | None:
    return db.session.scalar(select(SocialAccount).where(SocialAccount.provider == provider,
                                                         SocialAccount.subject == subject))


def linked_accounts(user_id: int) -> list[SocialAccount]:
    return list(db.session.scalars(select(SocialAccount).where(SocialAccount.user_id == user_id)
                                   .order_by(SocialAccount.created_at)))


# --- signing in ---------------------------------------------------------------

def sign_in(profile: SocialProfile, verified_email: str | None = None, nickname: str | None = None) -> Outcome:
    """Decide what a visitor's provider profile means. `verified_email` is an address
    the visitor proved with our own code; `nickname` one they chose.

    Raises AccountClosed, ProviderAlreadyLinked, LinkedElsewhere.
    """
    link = find_link(profile.provider, profile.subject)
    if link is not None:
        restored = _admit(link.user)
        db.session.commit()
        return Outcome("done", link.user, restored=restored)
    email = verified_email or (profile.email if profile.email_verified else None)
    if email is None:
        return Outcome("email")
    existing = find_by_email(email)
    if existing is not None:
        if verified_email:  # our code reached the address: that proves the account
            restored = link_proven(existing, profile, by_code=True)
            return Outcome("done", existing, linked=True, restored=restored)
        return Outcome("prove", existing)
    nickname = nickname or profile.nickname
    if not valid_nickname(nickname):
        return Outcome("nickname")
    try:
        return Outcome("done", _create_account(profile, email, nickname), created=True)
    except EmailTaken:
        # A concurrent request signed this email up or made this link a moment ago: decide again.
        if find_by_email(email) is None and find_link(profile.provider, profile.subject) is None:
            raise
        return sign_in(profile, verified_email, nickname)


def _create_account(profile: SocialProfile, email: str, nickname: str) -> User:
    """A verified account without a password, linked to the profile. Raises EmailTaken."""
    now = utcnow()
    user = User(email=normalize_email(email), nickname=nickname.strip(), password_hash=None,
                email_verified_at=now, last_login_at=now, locale=current_locale())
    db.session.add(user)
    db.session.add(SocialAccount(user=user, provider=profile.provider, subject=profile.subject,
                                 email=profile.email))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise EmailTaken()
    db.session.commit()
    return user


def _admit(user: User) -> bool:
    """Let `user` in, restoring a withdrawn account inside its grace period as a password
    log-in does. Returns whether it was restored. Raises AccountSuspended, AccountClosed."""
    if user.suspended_at is not None:
        raise AccountSuspended()
    restored = False
    if user.status == "withdrawn":
        grace = timedelta(days=current_app.config["WITHDRAWAL_GRACE_DAYS"])
        if user.withdrawn_at is None or utcnow() - user.withdrawn_at > grace:
            raise AccountClosed()
        user.status, user.withdrawn_at, restored = "active", None, True
    elif user.status != "active":
        raise AccountClosed()
    user.last_login_at = utcnow()
    return restored


# --- proving an existing account ---------------------------------------------

def prove_with_password(user: User, password: str, profile: SocialProfile) -> bool:
    """Link after the account's password. Returns restored. Raises WrongPassword and
    what link_proven raises."""
    if not password_matches(user, password):
        raise WrongPassword(_("That password is not correct."))
    return link_proven(user, profile, by_code=False)


def send_proof_code(user: User):
    """Email a code to the account's address. Raises codes.ResendCooldown."""
    issued = codes.issue_code("social-link", user.id, user.email)
    queue_email(user.email, "verify_email", code=issued.code, nickname=user.nickname,
                minutes=current_app.config["VERIFY_CODE_TTL"] // 60)
    db.session.commit()


def prove_with_code(user: User, code: str, profile: SocialProfile) -> bool:
    """Link after a code sent to the account's address. Returns restored.

    Raises codes.CodeExpired / CodeLocked / CodeWrong and what link_proven raises.
    """
    if codes.check_code("social-link", user.id, code) != user.email:
        raise codes.CodeExpired()
    return link_proven(user, profile, by_code=True)


def link_proven(user: User, profile: SocialProfile, by_code: bool) -> bool:
    """Link `profile` to `user`, who has just proven the account, and let them in.
    Returns restored. Raises AccountClosed, ProviderAlreadyLinked, LinkedElsewhere.

    An account whose email was never verified is claimed by whoever proves the
    address by code: a password set by someone who never proved it (a squatter's
    pre-registration) is dropped and its sessions end.
    """
    restored = _admit(user)
    if not user.is_verified:
        user.email_verified_at = utcnow()
        if by_code:
            user.password_hash = None
            user.rotate_session_token()
    _add_link(user, profile)
    db.session.commit()
    return restored


# --- an email for a provider that gave none (or an unverified one) -------------

def send_email_code(attempt: str, email: str, nickname: str | None):
    """Email a code to the address the visitor typed. Raises codes.ResendCooldown."""
    email = normalize_email(email)
    issued = codes.issue_code("social-email", attempt, email)
    queue_email(email, "verify_email", code=issued.code, nickname=nickname or "there",
                minutes=current_app.config["VERIFY_CODE_TTL"] // 60)
    db.session.commit()


def confirm_email_code(attempt: str, code: str) -> str:
    """The address the code went to. Raises codes.CodeExpired / CodeLocked / CodeWrong."""
    return codes.check_code("social-email", attempt, code)


# --- linking from the account page --------------------------------------------

def link(user: User, profile: SocialProfile) -> SocialAccount:
    """Link a provider account to a logged-in user. Raises LinkedElsewhere, ProviderAlreadyLinked."""
    existing = find_link(profile.provider, profile.subject)
    if existing is not None:
        if existing.user_id != user.id:
            raise LinkedElsewhere(profile.provider)
        return existing
    account = _add_link(user, profile)
    db.session.commit()
    return account


def _add_link(user: User, profile: SocialProfile) -> SocialAccount:
    if db.session.scalar(select(SocialAccount.id).where(SocialAccount.user_id == user.id,
                                                        SocialAccount.provider == profile.provider)):
        raise ProviderAlreadyLinked(profile.provider)
    account = SocialAccount(user_id=user.id, provider=profile.provider, subject=profile.subject,
                            email=profile.email)
    db.session.add(account)
    try:
        db.session.flush()
    except IntegrityError:  # the same provider account was linked elsewhere meanwhile
        db.session.rollback()
        raise LinkedElsewhere(profile.provider)
    return account


def unlink(user: User, provider: str):
    """Remove a link, unless it is the last way to log in. Raises NotLinked, LastLoginMethod."""
    # Lock the user row: two concurrent unlinks must not each think the other one remains.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    account = db.session.scalar(select(SocialAccount).where(SocialAccount.user_id == user.id,
                                                            SocialAccount.provider == provider))
    if account is None:
        raise NotLinked()
    links = db.session.scalar(select(func.count()).select_from(SocialAccount)
                              .where(SocialAccount.user_id == user.id))
    if not user.password_hash and links <= 1:
        raise LastLoginMethod()
    db.session.delete(account)
    db.session.commit()
