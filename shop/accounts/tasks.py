"""Scheduled account jobs."""
import logging

from ..extensions import db
from .models import User
from .profile import purge_user, withdrawn_past_grace

log = logging.getLogger(__name__)


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
