"""A social sign-in that needs one more step (prove the account, choose a nickname,
give an email) waits in the session. Flask's session cookie is signed, so the visitor
can read but not alter what the provider said; it lives for PENDING_TTL seconds."""
import secrets
import time
from dataclasses import asdict, dataclass, field

from flask import session

from .providers import SocialProfile

KEY = "social_pending"
PENDING_TTL = 15 * 60


@dataclass
class Pending:
    profile: SocialProfile
    next_url: str = "/"
    attempt: str = field(default_factory=lambda: secrets.token_urlsafe(16))  # keys its email codes
    expires: float = field(default_factory=lambda: time.time() + PENDING_TTL)
    user_id: int | None = None          # the account to prove
    code_email: str | None = None       # where the email step sent its code
    verified_email: str | None = None   # proven by that code


def save(pending: Pending):
    session[KEY] = asdict(pending)


def load() -> Pending | None:
    data = session.get(KEY)
    if not data:
        return None
    try:
        pending = Pending(**{**data, "profile": SocialProfile(**data["profile"])})
    except TypeError:  # written by an older release
        pending = None
    if pending is None or pending.expires < time.time():
        clear()
        return None
    return pending


def clear():
    session.pop(KEY, None)
