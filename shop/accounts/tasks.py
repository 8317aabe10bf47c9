"""Scheduled account jobs."""
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import exists, select, update

from ..extensions import db
from ..infra.mail import EmailLog
from ..timeutil import utcnow
from .models import User
from .profile import _delete_quietly, purge_user, withdrawn_past_grace

log = logging.getLogger(__name__)
REMOVE_BATCH = 1_000


def purge_withdrawn() -> int:
    """Daily: erase accounts withdrawn longer than the grace period. Each user is its
    own transaction, so one failure never blocks the rest and a rerun is harmless."""
    purged = 0
    for user_id in withdrawn_past_grace():
        user = db.session.get(User, user_id)
        if user is None or user.status != "withdrawn":
            continue
        try:
            purge_user(user)
            purged += 1
        except Exception:
            db.session.rollback()
            log.exception("purge of user %s failed; will retry tomorrow", user_id)
    return purged


def _rows_that_keep_a_user():
    """The columns of every foreign key to users.id that neither cascades nor sets NULL
    (orders, games a publisher owns, coupon drops scoped to a publisher, and any added
    later): a user referenced there has a history the store keeps, so is never removed.
    Read from the metadata so this layer needs no import of the domains above it."""
    users = User.__table__
    for table in db.metadata.tables.values():
        for fk in table.foreign_keys:
            if fk.column.table is users and (fk.ondelete or "").upper() not in ("CASCADE", "SET NULL"):
                yield fk.parent


def _never_verified(cutoff):
    """Conditions of an account that may be removed: a customer who signed up before
    `cutoff`, never verified the address, is active and not suspended (a suspension is
    kept as the admin's record), and has never bought anything."""
    return [User.email_verified_at.is_(None), User.created_at < cutoff, User.status == "active",
            User.suspended_at.is_(None), User.role == "customer",
            *[~exists().where(column == User.id) for column in _rows_that_keep_a_user()]]


def remove_never_verified(now=None) -> int:
    """Daily: delete accounts never verified UNVERIFIED_KEEP_DAYS (7) after sign-up,
    with what cascades from them (cart, wishlist, notifications); the email log keeps
    its rows without the address. Each user is its own transaction that locks the row
    and checks the conditions again, so an account verified (or buying) meanwhile stays.
    Returns how many were removed."""
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["UNVERIFIED_KEEP_DAYS"])
    removed, after = 0, 0
    while True:
        ids = db.session.scalars(select(User.id).where(User.id > after, *_never_verified(cutoff))
                                 .order_by(User.id).limit(REMOVE_BATCH)).all()
        db.session.rollback()
        if not ids:
            return removed
        after = ids[-1]
        removed += sum(_remove_if_never_verified(user_id, cutoff) for user_id in ids)


def _remove_if_never_verified(user_id: int, cutoff) -> bool:
    try:
        user = db.session.scalar(select(User).where(User.id == user_id, *_never_verified(cutoff))
                                 .with_for_update())
        if user is None:
            db.session.rollback()
            return False
        avatar = user.avatar_key
        db.session.execute(update(EmailLog).where(EmailLog.recipient == user.email)
                           .values(recipient=f"removed-{user_id}", context=None))
        db.session.delete(user)  # the session's flush hook tombstones its Redis copy
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("removing never-verified user %s failed; will retry tomorrow", user_id)
        return False
    if avatar:
        _delete_quietly(avatar)
    return True
