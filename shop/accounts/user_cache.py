"""A Redis copy of each logged-in user's row, so a page that reads nothing else from the
database (a cached store-front page) checks the login and knows its user without a
query: the user loader reads the login's record, this copy and the member's view
generation (infra/memberview.py) in one round trip.

The copy is every column of `users`, tagged with the member's view generation it was read
under, and trusted only while that generation is current. Any change to a user's row
bumps it after commit (memberview watches `users`), so the next request reads the row
again; a request that read the row before a change and writes its copy after the bump
tags it with the older generation, which no one trusts. The copy becomes a persistent
User in the request's session without a query (`merge(load=False)`), so code that changes
the user saves it as usual.
"""
import json
from datetime import date, datetime

from sqlalchemy import Date
from sqlalchemy.orm import make_transient_to_detached

from ..extensions import db
from ..infra.redisconn import redis_clients
from ..timeutil import UTCDateTime
from .models import User

TTL = 3600
_COLUMNS = [(c.key, c.type) for c in User.__table__.columns]
_STAMP = "@"  # the generation a copy was read under


def key(user_id: int) -> str:
    return f"auth:row:{user_id}"


def dump(user: User, stamp: str) -> str:
    values = {_STAMP: stamp}
    for name, _type in _COLUMNS:
        value = getattr(user, name)
        values[name] = value.isoformat() if isinstance(value, (date, datetime)) else value
    return json.dumps(values, separators=(",", ":"))


def load(copy: str | None, stamp: str) -> User | None:
    """The user the copy describes, as a persistent object of the request's session (no
    query), or None: no copy, or one read under another generation than `stamp`."""
    if not copy:
        return None
    try:
        values = json.loads(copy)
        if values.pop(_STAMP) != stamp:
            return None
        for name, type_ in _COLUMNS:
            raw = values[name]
            if raw is not None and isinstance(type_, UTCDateTime):
                values[name] = datetime.fromisoformat(raw)
            elif raw is not None and isinstance(type_, Date):
                values[name] = date.fromisoformat(raw)
    except (ValueError, KeyError, TypeError):  # a copy of an older shape: read the row
        return None
    user = User(**values)
    make_transient_to_detached(user)
    return db.session.merge(user, load=False)


def remember(user: User, stamp: str) -> None:
    """Keep a copy of a user just read from the database under generation `stamp`."""
    try:
        redis_clients.store.set(key(user.id), dump(user, stamp), ex=TTL)
    except Exception:  # a cache: the next request reads the row
        pass
