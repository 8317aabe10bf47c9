"""A Redis copy of what the hottest routes need to know about a logged-in user
(session token, verified, active), so the coupon claim path checks a session without
touching the database (and, in the same round trip, that its login record is alive:
accounts/sessions.py). Rows changing those fields drop their copy after commit.

A miss (the first claim of a user whose copy expired, i.e. most users at the start of
a drop) reads three columns with one Core SELECT on a pooled connection, not an ORM
load in the request's Session: about half the CPU, which matters when 20,000 users
arrive at once. `remember(user)` writes the copy wherever the User is loaded anyway
(the event page), so users waiting for a drop arrive warm."""
import hmac

from flask import session
from sqlalchemy import Engine, bindparam, event, inspect, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..infra.redisconn import redis_clients
from .models import User

TTL = 3600
TOMBSTONE = "!"       # written on change: blocks a racing fill of the old values
TOMBSTONE_TTL = 30    # longer than any fill takes (one SELECT), short enough not to matter
WATCHED = ("session_token", "email_verified_at", "status", "suspended_at")

_ROW = select(User.session_token, User.email_verified_at, User.status, User.suspended_at).where(
    User.id == bindparam("uid"))


def _key(user_id: int) -> str:
    return f"auth:user:{user_id}"


def _value(token: str, verified: bool, active: bool) -> str:
    return f"{token}|{int(verified)}|{int(active)}"


def _load(user_id: int) -> str | None:
    """The copy of one user, read from the database (None: no such user)."""
    bind = db.engine
    if isinstance(bind, Engine):
        # checked out and back at once; no Session, no identity map, and autocommit, so
        # there is no transaction to roll back when the connection goes back to the pool
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(_ROW, {"uid": user_id}).first()
    else:  # a Connection the app was bound to (the test suite's outer transaction)
        row = bind.execute(_ROW, {"uid": user_id}).first()
    if row is None:
        return None
    return _value(row.session_token, row.email_verified_at is not None,
                  row.status == "active" and row.suspended_at is None)


def remember(user: User) -> None:
    """Write a loaded user's copy, e.g. on the event page, so the claim finds it warm
    (never over a tombstone: the user just changed)."""
    try:
        redis_clients.store.set(_key(user.id), _value(user.session_token, user.is_verified, user.is_active),
                                ex=TTL, nx=True)
    except Exception:  # a cache: the claim falls back to the database
        pass


def session_ids() -> tuple[int, str, str] | None:
    """(user id, session token, login session id) the signed session cookie carries,
    unchecked (no I/O)."""
    from .login import parse_login_id

    return parse_login_id(session.get("_user_id"))


def lookup(user_id: int, sid: str) -> tuple[str | None, bool]:
    """(the user's Redis copy or None/TOMBSTONE, whether the login's record is alive),
    in one round trip: the claim path's whole session check."""
    from .sessions import record_key

    with redis_clients.store.pipeline(transaction=False) as pipe:
        pipe.get(_key(user_id))
        pipe.exists(record_key(user_id, sid))
        cached, alive = pipe.execute()
    return cached, bool(alive)


def session_user() -> tuple[int, bool] | None:
    """(user id, verified) for the session's user if the session is valid (its login
    record alive, the token current, the user active), else None."""
    ids = session_ids()
    if ids is None:
        return None
    uid, token, sid = ids
    cached, alive = lookup(uid, sid)
    if not alive:
        return None
    if cached is None or cached == TOMBSTONE:
        fresh = _load(uid)
        if fresh is None:
            return None
        if cached is None:
            # NX: if the user changed while we read, the change left a tombstone and our
            # possibly stale read is not cached (it is still right for this one request
            # unless the change committed in between, the same as any read).
            redis_clients.store.set(_key(uid), fresh, ex=TTL, nx=True)
        cached = fresh
    stored_token, verified, active = cached.split("|")
    if not hmac.compare_digest(stored_token, token) or active != "1":
        return None
    return uid, verified == "1"


@event.listens_for(Session, "after_flush")
def _forget_changed_users(session_, flush_context):
    changed = [obj.id for obj in session_.dirty if isinstance(obj, User) and
               any(inspect(obj).attrs[name].history.has_changes() for name in WATCHED)]
    changed += [obj.id for obj in session_.deleted if isinstance(obj, User)]
    if not changed:
        return
    from ..infra.jobs import call_after_commit

    store = redis_clients.store

    def forget():
        with store.pipeline(transaction=False) as pipe:
            for uid in changed:
                pipe.set(_key(uid), TOMBSTONE, ex=TOMBSTONE_TTL)
            pipe.execute()

    call_after_commit(forget)
