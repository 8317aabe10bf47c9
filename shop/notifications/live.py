"""What the live stream sends for a notification, made once per web process.

A new row's id is published on its user's channel; the hub hands that one message to
every open stream of the channel (a publisher may have hundreds of tabs and devices,
`bench/sse_fanout.py`). The first stream to handle it loads the row and the user's
unread count with ONE statement (`load`), and the first stream in each language renders
the toast (`toast`); both are kept on the message (`sse.Message.once`), so the others
send the same bytes without touching the database or a template. The database
connection goes back to the pool as soon as the row is read."""
from flask import render_template
from sqlalchemy import bindparam, func, select

from ..extensions import db
from ..web import sse
from ..web.i18n import in_locale
from .models import Notification

_N = Notification.__table__.c
_UNREAD = (select(func.count()).where(_N.user_id == bindparam("user_id"), _N.read_at.is_(None))
           .scalar_subquery().label("unread"))
# The rows the stream sends: what a toast is written from plus the badge's count, as
# one statement built once (building ORM queries per message cost ~5x the CPU).
REPLAY = (select(_N.id, _N.kind, _N.params, _N.message, _N.link, _UNREAD)
          .where(_N.user_id == bindparam("user_id"), _N.id > bindparam("last_id"))
          .order_by(_N.id).limit(100))
ONE = select(_N.id, _N.kind, _N.params, _N.message, _N.link, _UNREAD).where(
    _N.user_id == bindparam("user_id"), _N.id == bindparam("id"))


def frames(rows, locale: str) -> str:
    """SSE `notification` events (a toast plus the badge, out of band) in `locale`."""
    chunks = []
    with in_locale(locale):
        for row in rows:
            html = render_template("notifications/_toast.html", row=row, unread=row.unread)
            chunks.append(sse.frame("\n".join(line for line in html.splitlines() if line.strip()),
                                    "notification", row.id))
    return "".join(chunks)


def load(app, user_id: int, notification_id: int):
    """The row (with the user's unread count), or None if it is not this user's or is
    gone. Its own app context: the connection is returned when it ends."""
    with app.app_context():
        row = db.session.execute(ONE, {"user_id": user_id, "id": notification_id}).first()
        db.session.remove()
        return row


def toast(app, row, locale: str) -> bytes:
    with app.app_context():
        return frames([row], locale).encode()


def replay(user_id: int, last_id: int, locale: str) -> tuple[int, str]:
    """The user's rows newer than `last_id`, as frames, and the new last id (after a
    reconnect's Last-Event-ID, or a resync): one short database visit."""
    rows = db.session.execute(REPLAY, {"user_id": user_id, "last_id": last_id}).all()
    db.session.remove()
    if not rows:
        return last_id, ""
    return rows[-1].id, frames(rows, locale)


class Sent:
    """Which notification ids a stream has sent: everything up to `floor` (the opening
    read, a replay), and the recent live ones (publishes may arrive out of order)."""

    KEEP = 256

    def __init__(self, floor: int):
        self.floor = floor
        self.recent: set[int] = set()

    def add(self, notification_id: int) -> bool:
        """False if it was already sent."""
        if notification_id <= self.floor or notification_id in self.recent:
            return False
        self.recent.add(notification_id)
        if len(self.recent) > self.KEEP:
            drop = sorted(self.recent)[: self.KEEP // 2]
            self.floor = max(self.floor, drop[-1])
            self.recent.difference_update(drop)
        return True

    @property
    def last(self) -> int:
        return max(self.recent, default=self.floor)


def on_message(app, message, user_id: int, locale: str, sent: Sent):
    """What one stream sends for one hub message (no app context needed on the common
    path: the row and the toast are made once per process, per language)."""
    channel, data = message
    if channel == sse.SITE_CHANNEL:  # transient (e.g. live counters): no id, no replay
        return message.once("broadcast", lambda: sse.frame(data, "broadcast").encode())
    if not (data.isascii() and data.isdigit() and len(data) < 19):
        return ""
    notification_id = int(data)
    if notification_id <= sent.floor or notification_id in sent.recent:
        return ""
    row = message.once(("row", user_id), lambda: load(app, user_id, notification_id))
    if row is None:
        return ""
    out = message.once(("toast", user_id, locale), lambda: toast(app, row, locale))
    sent.add(notification_id)
    return out
