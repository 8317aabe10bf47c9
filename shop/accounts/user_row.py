"""The logged-in user's row for the user loader, read in one statement outside the
request's transaction, so a page that needs nothing else from the database (a cached
store-front page with the member's own parts from Redis, catalog/overlay.py) costs one
indexed read and no BEGIN/ROLLBACK. The row becomes a persistent User of the request's
session without another query (`merge(load=False)`): code that changes the user saves it
as usual, and after a commit its attributes are read again as for any loaded object.

The row is read on every request, never cached: a log-out, suspension or demotion
is seen by the very next request on every node, even one made while Redis (which
holds the login records) was unreachable.
"""
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import make_transient_to_detached

from ..extensions import db
from .models import User

_ROW = select(*User.__table__.columns).where(User.__table__.c.id == bindparam("uid"))


def read(user_id: int) -> User | None:
    bind = db.engine
    if isinstance(bind, Engine):
        # checked out and back at once, in autocommit: no transaction to end afterwards
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(_ROW, {"uid": user_id}).mappings().first()
    else:  # a Connection the app was bound to (the test suite's outer transaction)
        row = bind.execute(_ROW, {"uid": user_id}).mappings().first()
    if row is None:
        return None
    user = User(**{column.key: row[column.name] for column in User.__table__.columns})
    make_transient_to_detached(user)
    return db.session.merge(user, load=False)
