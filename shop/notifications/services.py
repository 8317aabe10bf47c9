"""Creating and reading notifications. A row holds its kind and parameters, and its
text is written when it is read (messages.py). Each new row's id is published on
`notify:user:<id>` after its transaction commits; a rolled-back event publishes
nothing, and a stream that missed a publish replays rows from the database."""
import logging

from sqlalchemy import JSON, func, insert, literal, select, update

from ..extensions import db
from ..infra import memberview
from ..infra.redisconn import redis_clients
from ..infra.jobs import call_after_commit
from ..timeutil import UTCDateTime, utcnow
from ..web.sse import user_channel
from .messages import check
from .models import Notification

log = logging.getLogger(__name__)


def notify(user_id: int, kind: str, params: dict, link: str | None = None) -> Notification:
    """A notification of `kind` (messages.NOTICES) for one user, written from `params`
    (names, titles, integer won) in each reader's language when read. Raises
    UnknownNotice for an unknown kind or parameters its text can't use."""
    row = Notification(user_id=user_id, kind=kind, params=check(kind, params), link=link)
    db.session.add(row)
    db.session.flush()
    publish_after_commit([(user_id, row.id)])
    return row


def notify_query(user_ids_select, kind: str, params: dict, link: str | None = None) -> int:
    """One INSERT … SELECT for many recipients (e.g. every wisher of a game), the same
    kind and parameters for each (each reads it in their own language). Raises
    UnknownNotice as notify() does."""
    stmt = insert(Notification).from_select(
        ["user_id", "kind", "params", "link", "created_at"],
        select(user_ids_select.c[0], literal(kind), literal(check(kind, params), JSON()), literal(link),
               literal(utcnow(), UTCDateTime())),
    ).returning(Notification.user_id, Notification.id)
    # rowcount of INSERT…SELECT is -1 on psycopg; the recipients' cached headers are named here
    rows = db.session.execute(stmt, execution_options={"member_views_named": True}).all()
    memberview.changed(r[0] for r in rows)
    publish_after_commit([(r[0], r[1]) for r in rows])
    return len(rows)


PUBLISH_CHUNK = 1000


def publish_after_commit(pairs):
    """Publish each (user_id, notification_id) on its user's channel once the current
    transaction commits: how rows inserted in bulk (INSERT … SELECT … RETURNING) reach
    the live stream like any other. Pipelined, PUBLISH_CHUNK at a time."""
    redis_store, pairs = redis_clients.store, list(pairs)
    if not pairs:
        return

    def publish():
        try:
            for start in range(0, len(pairs), PUBLISH_CHUNK):
                with redis_store.pipeline(transaction=False) as pipe:
                    for user_id, notification_id in pairs[start:start + PUBLISH_CHUNK]:
                        pipe.publish(user_channel(user_id), str(notification_id))
                    pipe.execute()
        except Exception:  # the row is stored; an open stream replays it on reconnect
            log.warning("could not publish %d notification(s)", len(pairs), exc_info=True)

    call_after_commit(publish)


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == user_id, Notification.read_at.is_(None)))


def recent(user_id: int, limit: int = 50, before_id: int | None = None) -> list[Notification]:
    q = select(Notification).where(Notification.user_id == user_id)
    if before_id:
        q = q.where(Notification.id < before_id)
    return list(db.session.scalars(q.order_by(Notification.id.desc()).limit(limit)))


def newer_than(user_id: int, last_id: int, limit: int = 100) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user_id, Notification.id > last_id).order_by(Notification.id).limit(limit)))


def latest_id(user_id: int) -> int:
    return db.session.scalar(select(func.max(Notification.id)).where(Notification.user_id == user_id)) or 0


def mark_read(user_id: int, notification_id: int) -> bool:
    changed = db.session.execute(update(Notification).where(
        Notification.id == notification_id, Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())).rowcount
    db.session.commit()
    return bool(changed)


def mark_all_read(user_id: int) -> int:
    changed = db.session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)).values(read_at=utcnow())).rowcount
    db.session.commit()
    return changed
