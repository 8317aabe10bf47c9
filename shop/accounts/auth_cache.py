"""A Redis copy of what the hottest routes need to know about a logged-in user
(session token, verified, active), so the coupon claim path checks a session without
touching the database. Rows changing those fields drop their copy after commit."""
from flask import session
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from ..extensions import db, redis_clients
from .models import User

TTL = 3600
WATCHED = ("session_token", "email_verified_at", "status")


def _key(user_id: int) -> str:
    return f"auth:user:{user_id}"


def session_user() -> tuple[int, bool] | None:
    """(user id, verified) for the session's user if the session is valid, else None."""
    raw = session.get("_user_id") or ""
    uid, _, token = raw.partition(":")
    if not uid.isdigit() or not token:
        return None
    r = redis_clients.store
    cached = r.get(_key(int(uid)))
    if cached is None:
        user = db.session.get(User, int(uid))
        if user is None:
            return None
        cached = f"{user.session_token}|{int(user.is_verified)}|{int(user.is_active)}"
        r.set(_key(user.id), cached, ex=TTL)
        db.session.rollback()  # give the connection back at once
    stored_token, verified, active = cached.split("|")
    if stored_token != token or active != "1":
        return None
    return int(uid), verified == "1"


@event.listens_for(Session, "after_flush")
def _forget_changed_users(session_, flush_context):
    changed = [obj.id for obj in session_.dirty if isinstance(obj, User) and
               any(inspect(obj).attrs[name].history.has_changes() for name in WATCHED)]
    changed += [obj.id for obj in session_.deleted if isinstance(obj, User)]
    if not changed:
        return
    from ..jobs import call_after_commit

    store = redis_clients.store

    def forget():
        store.delete(*[_key(uid) for uid in changed])

    call_after_commit(forget)
