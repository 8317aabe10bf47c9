"""Scheduled notification jobs."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from ..timeutil import utcnow
from .models import Notification

BATCH = 5_000


def delete_old_read_notifications(now=None) -> int:
    """Daily: delete notifications that were read and are older than
    NOTIFICATION_KEEP_DAYS (90). Unread ones stay however old: the user has not seen
    them. Deleted in batches of BATCH rows, each its own short transaction, so a large
    backlog never holds one long lock. Returns how many were deleted."""
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["NOTIFICATION_KEEP_DAYS"])
    deleted = 0
    while True:
        ids = select(Notification.id).where(Notification.read_at.is_not(None), Notification.created_at < cutoff)
        batch = db.session.scalars(ids.limit(BATCH)).all()
        if not batch:
            return deleted
        # read ones only: no member's unread count changes, so no cached header either
        deleted += db.session.execute(delete(Notification).where(Notification.id.in_(batch)),
                                      execution_options={"member_views_named": True}).rowcount
        db.session.commit()
