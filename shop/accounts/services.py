"""Account operations. Each public function does one thing in one transaction and
raises a DomainError subclass the view shows as a message."""
import logging
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import DomainError
from ..extensions import db
from ..infra.mail import queue_email
from ..timeutil import utcnow
from ..web.i18n import current_locale
from . import codes
from .models import User

log = logging.getLogger(__name__)

# argon2id, RFC 9106 "low memory" profile: t=3, m=64 MiB, p=4 -- above the OWASP /
# ASVS 5 minimum of m=19 MiB, t=2, p=1.
hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
_DUMMY_HASH = hasher.hash("dummy password used to equalise timing")


class EmailTaken(DomainError):
    message = _l("An account with that email already exists.")


class InvalidCredentials(DomainError):
    message = _l("Email or password is not correct.")


class AlreadyVerified(DomainError):
    message = _l("Your email is already verified.")


class InvalidResetLink(DomainError):
    message = _l("That reset link is invalid, expired or already used. Ask for a new one.")


class WrongPassword(DomainError):
    message = _l("Your current password is not correct.")


class UserNotFound(DomainError):
    message = "No such user."  # the CLI's answer: operators read English


class AccountSuspended(DomainError):
    message = _l("This account is suspended. Contact support.")


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def hash_password(password: str) -> str:
    return hasher.hash(password)


def password_matches(user: User, password: str) -> bool:
    if not user.password_hash:
        try:  # same cost as a real check, so timing doesn't reveal social-only accounts
            hasher.verify(_DUMMY_HASH, password or "x")
        except VerificationError:
            pass
        return False
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


# --- sign-up and verification -------------------------------------------------

def register(email: str, nickname: str, password: str, role: str = "customer") -> User:
    """Create an unverified account and email it a code. Raises EmailTaken."""
    email = normalize_email(email)
    if find_by_email(email):
        raise EmailTaken()
    user = User(email=email, nickname=nickname.strip(), password_hash=hash_password(password), role=role,
                locale=current_locale())  # the language they signed up in: their emails' too
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        db.session.rollback()
        raise EmailTaken()
    issued = codes.issue_code("verify", user.id, email)
    queue_email(email, "verify_email", code=issued.code, nickname=user.nickname,
                minutes=current_app.config["VERIFY_CODE_TTL"] // 60)
    db.session.commit()
    return user


def resend_verification(user: User):
    """Raises AlreadyVerified or codes.ResendCooldown."""
    if user.is_verified:
        raise AlreadyVerified()
    issued = codes.issue_code("verify", user.id, user.email)
    queue_email(user.email, "verify_email", code=issued.code, nickname=user.nickname,
                minutes=current_app.config["VERIFY_CODE_TTL"] // 60)
    db.session.commit()


def verify_email(user: User, code: str):
    """Raises AlreadyVerified, codes.CodeExpired / CodeLocked / CodeWrong."""
    if user.is_verified:
        raise AlreadyVerified()
    email = codes.check_code("verify", user.id, code)
    if email != user.email:  # the address changed since the code was sent
        raise codes.CodeExpired()
    user.email_verified_at = utcnow()
    db.session.commit()


# --- log in -------------------------------------------------------------------

def authenticate(email: str, password: str) -> tuple[User, bool]:
    """Check credentials. Returns (user, restored): a withdrawn account inside its
    grace period is restored by logging in. Raises InvalidCredentials, AccountSuspended."""
    user = find_by_email(email)
    if user is None or user.status == "purged":
        try:
            hasher.verify(_DUMMY_HASH, password or "x")  # same cost whether or not the user exists
        except VerificationError:
            pass
        raise InvalidCredentials()
    if not password_matches(user, password):
        raise InvalidCredentials()
    if user.suspended_at is not None:  # said only after the right password: no account probing
        raise AccountSuspended()
    restored = False
    if user.status == "withdrawn":
        grace = timedelta(days=current_app.config["WITHDRAWAL_GRACE_DAYS"])
        if user.withdrawn_at is None or utcnow() - user.withdrawn_at > grace:
            raise InvalidCredentials()
        user.status = "active"
        user.withdrawn_at = None
        restored = True
    user.last_login_at = utcnow()
    db.session.commit()
    return user, restored


# --- password reset -----------------------------------------------------------

def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_stamp(user: User) -> str:
    # Changes whenever the password does, which makes every link single-use.
    return (user.password_hash or "none")[-16:]


def request_password_reset(email: str, make_link) -> bool:
    """Email a reset link if an active account has this address. Returns whether one
    was sent; the view must not reveal it."""
    user = find_by_email(email)
    if user is None or user.status != "active":
        return False
    token = _reset_serializer().dumps({"uid": user.id, "stamp": _password_stamp(user)})
    queue_email(user.email, "password_reset", link=make_link(token), nickname=user.nickname,
                minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60)
    db.session.commit()
    return True


def user_for_reset_token(token: str) -> User:
    """Raises InvalidResetLink."""
    try:
        data = _reset_serializer().loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except (SignatureExpired, BadSignature):
        raise InvalidResetLink()
    user = db.session.get(User, data.get("uid"))
    if user is None or user.status != "active" or data.get("stamp") != _password_stamp(user):
        raise InvalidResetLink()
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link and log out every session. Raises InvalidResetLink."""
    user = user_for_reset_token(token)
    user.password_hash = hash_password(new_password)
    user.rotate_session_token()
    queue_email(user.email, "password_changed", nickname=user.nickname)
    db.session.commit()
    return user


def change_password(user: User, current: str, new_password: str):
    """Raises WrongPassword."""
    if not password_matches(user, current):
        raise WrongPassword()
    user.password_hash = hash_password(new_password)
    user.rotate_session_token()
    queue_email(user.email, "password_changed", nickname=user.nickname)
    db.session.commit()


# --- sessions -----------------------------------------------------------------

def sign_out_everywhere(user: User):
    """End every login of the user: a new session token refuses every cookie, remember-me
    ones included (their records are deleted after commit, accounts/sessions.py)."""
    user.rotate_session_token()
    db.session.commit()


def end_every_login(user_id: int, token: str) -> bool:
    """Sign the user out everywhere on behalf of a login holding `token` (the log-out
    fallback when its own record cannot be deleted). A stale token changes nothing."""
    user = db.session.get(User, user_id)
    if user is None or user.session_token != token:
        return False
    sign_out_everywhere(user)
    return True


# --- roles --------------------------------------------------------------------

def set_role(email: str, role: str) -> User:
    """Raises UserNotFound."""
    user = find_by_email(email)
    if user is None or user.status == "purged":
        raise UserNotFound(f"No user with email {email}.")  # said to the operator (flask users)
    user.role = role
    db.session.commit()
    return user
