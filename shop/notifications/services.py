"""Creating notifications. The live feed (Redis pub/sub → SSE) comes with the
reviews issue; rows are stored now so nothing is lost before then."""
from sqlalchemy import insert, select

from ..extensions import db
from .models import Notification


def notify(user_id: int, kind: str, message: str, link: str | None = None) -> Notification:
    row = Notification(user_id=user_id, kind=kind, message=message[:300], link=link)
    db.session.add(row)
    return row


def notify_query(user_ids_select, kind: str, message: str, link: str | None = None) -> int:
    """One INSERT … SELECT for many recipients (e.g. every wisher of a game)."""
    stmt = insert(Notification).from_select(
        ["user_id", "kind", "message", "link", "created_at"],
        select(user_ids_select.c[0], _lit(kind), _lit(message[:300]), _lit(link), _now()),
    ).returning(Notification.id)
    return len(db.session.execute(stmt).all())  # rowcount of INSERT…SELECT is -1 on psycopg


def _lit(value):
    from sqlalchemy import literal

    return literal(value)


def _now():
    from sqlalchemy import literal

    from ..timeutil import UTCDateTime, utcnow

    return literal(utcnow(), UTCDateTime())


def unread_count(user_id: int) -> int:
    from sqlalchemy import func

    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == user_id, Notification.read_at.is_(None)))
