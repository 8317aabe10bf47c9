"""Scheduled notification housekeeping: read notifications older than 90 days go."""
from datetime import timedelta

from sqlalchemy import select

from shop.extensions import db
from shop.infra.jobs import CRON
from shop.notifications.models import Notification
from shop.notifications.tasks import delete_old_read_notifications
from shop.timeutil import utcnow


def add(user_id, age_days, read_days_ago=None, message="Hello"):
    created = utcnow() - timedelta(days=age_days)
    row = Notification(user_id=user_id, kind="review", message=message, created_at=created,
                       read_at=None if read_days_ago is None else utcnow() - timedelta(days=read_days_ago))
    db.session.add(row)
    db.session.commit()
    return row.id


def test_read_notifications_older_than_90_days_are_deleted(app, make_user):
    me, other = make_user(), make_user()
    with app.app_context():
        old_read = add(me.id, 91, read_days_ago=90, message="old and read")
        others_old_read = add(other.id, 400, read_days_ago=399)
        recent_read = add(me.id, 89, read_days_ago=1, message="recent and read")
        old_unread = add(me.id, 200, message="old, never read")
        new_unread = add(me.id, 0)

        assert delete_old_read_notifications() == 2
        left = set(db.session.scalars(select(Notification.id)))
        assert {old_read, others_old_read}.isdisjoint(left)
        assert {recent_read, old_unread, new_unread} <= left
        assert delete_old_read_notifications() == 0  # a rerun finds nothing more


def test_deletes_in_batches_until_done(app, make_user, monkeypatch):
    from shop.notifications import tasks

    monkeypatch.setattr(tasks, "BATCH", 2)
    me = make_user()
    with app.app_context():
        for _ in range(5):
            add(me.id, 120, read_days_ago=100)
        assert delete_old_read_notifications() == 5
        assert db.session.scalar(select(db.func.count()).select_from(Notification)
                                 .where(Notification.user_id == me.id)) == 0


def test_it_is_on_the_schedule():
    assert ("notifications-purge-read", "40 18 * * *",
            "shop.notifications.tasks.delete_old_read_notifications") in CRON
