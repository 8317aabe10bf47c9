"""Profile operations: nickname, avatar, email change, withdrawal and purge."""
import logging
import uuid
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from ..extensions import db
from ..infra.images import reencode_image
from ..infra.mail import EmailLog, queue_email
from ..infra.storage import get_storage
from ..timeutil import utcnow
from . import codes
from .models import User
from .services import EmailTaken, WrongPassword, find_by_email, normalize_email, password_matches

log = logging.getLogger(__name__)


def set_locale(user: User, locale: str):
    """The language of the user's pages, emails and notifications ("ko" or "en")."""
    user.locale = locale
    db.session.commit()


def update_nickname(user: User, nickname: str):
    user.nickname = nickname.strip()
    db.session.commit()


def set_avatar(user: User, stream) -> str:
    """Validate, re-encode and store an avatar; the old file is removed after commit.

    Raises images.InvalidImage.
    """
    cfg = current_app.config
    size = cfg["AVATAR_SIZE"]
    data = reencode_image(stream, max_bytes=cfg["AVATAR_MAX_BYTES"], box=(size, size), square=True)
    storage = get_storage()
    key = f"avatars/{user.id}/{uuid.uuid4().hex}.webp"
    storage.save(key, data, "image/webp")
    old = user.avatar_key
    user.avatar_key = key
    try:
        db.session.commit()
    except Exception:
        storage.delete(key)  # the row still points at the old file; don't leave an orphan
        raise
    if old:
        _delete_quietly(old)
    return key


def remove_avatar(user: User):
    old = user.avatar_key
    user.avatar_key = None
    db.session.commit()
    if old:
        _delete_quietly(old)


def _delete_quietly(key: str):
    try:
        get_storage().delete(key)
    except Exception:  # a stray file is harmless; a failed request is not
        log.exception("could not delete stored file %s", key)


def request_email_change(user: User, new_email: str, password: str):
    """Send a code to the new address; the change happens when it is confirmed.

    Raises WrongPassword, EmailTaken, codes.ResendCooldown.
    """
    new_email = normalize_email(new_email)
    if not password_matches(user, password):
        raise WrongPassword()
    if new_email == user.email or find_by_email(new_email):
        raise EmailTaken(_("That email is already in use."))
    issued = codes.issue_code("email", user.id, new_email)
    queue_email(new_email, "email_change", code=issued.code, nickname=user.nickname,
                minutes=current_app.config["VERIFY_CODE_TTL"] // 60)
    db.session.commit()


def confirm_email_change(user: User, code: str) -> str:
    """Raises codes.CodeExpired / CodeLocked / CodeWrong, EmailTaken."""
    new_email = codes.check_code("email", user.id, code)
    if find_by_email(new_email):
        raise EmailTaken(_("That email was taken meanwhile."))
    user.email = new_email
    user.email_verified_at = utcnow()
    db.session.commit()
    return new_email


def withdraw(user: User, password: str):
    """Disable the account at once (every session ends); restorable by logging in
    within the grace period. Raises WrongPassword."""
    if user.password_hash and not password_matches(user, password):
        raise WrongPassword()
    user.status = "withdrawn"
    user.withdrawn_at = utcnow()
    user.rotate_session_token()
    queue_email(user.email, "account_withdrawn", nickname=user.nickname,
                days=current_app.config["WITHDRAWAL_GRACE_DAYS"])
    db.session.commit()


def purge_user(user: User):
    """Erase personal data; the row (and so orders referencing it) stays."""
    avatar, old_email = user.avatar_key, user.email
    db.session.execute(update(EmailLog).where(EmailLog.recipient == old_email)
                       .values(recipient=f"purged-{user.id}", context=None))
    user.email = f"purged-{user.id}@invalid.playcation"
    user.nickname = "Former member"
    user.password_hash = None
    user.avatar_key = None
    user.email_verified_at = None
    user.status = "purged"
    user.purged_at = utcnow()
    user.rotate_session_token()
    db.session.commit()
    if avatar:
        _delete_quietly(avatar)


def withdrawn_past_grace() -> list[int]:
    cutoff = utcnow() - timedelta(days=current_app.config["WITHDRAWAL_GRACE_DAYS"])
    return list(db.session.scalars(
        select(User.id).where(User.status == "withdrawn", User.withdrawn_at < cutoff)))
