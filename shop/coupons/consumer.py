"""Persistence: a consumer group drains each event's stream into `coupons` in batches.

Entries are inserted with ON CONFLICT DO NOTHING on (event, user) and acknowledged
only after the commit, so a crash between insert and ack just redelivers entries that
insert nothing the second time. Entries a dead consumer left pending are taken over
with XAUTOCLAIM once idle. A batch is written under the event's row lock, and only for
entries still pending for this consumer, so when Redis loses an event mid-drop a
rebuild (services.rebuild) either counts the batch or the batch goes with the lost
stream. `python worker.py --coupons` runs `run_forever`.
"""
import logging
import os
import socket
import time
from datetime import datetime, timezone

from redis.exceptions import ResponseError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db, redis_clients
from ..timeutil import utcnow
from .models import Coupon, CouponEvent
from .redis_state import GROUP, keys

log = logging.getLogger(__name__)


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _insert(rows: list[dict]):
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Coupon).values(rows).on_conflict_do_nothing(index_elements=["event_id", "user_id"])
    db.session.execute(stmt)


def _rows(event: CouponEvent, entries) -> list[dict]:
    rows = []
    for entry_id, fields in entries:
        fields = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                  for k, v in (fields or {}).items()}
        if "u" not in fields:
            continue  # a deleted entry: nothing to persist
        claimed_at = datetime.fromtimestamp(int(fields.get("t", 0)) / 1000, tz=timezone.utc)
        entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        rows.append({"event_id": event.id, "user_id": int(fields["u"]), "status": "available",
                     "claimed_at": claimed_at, "expires_at": event.expiry_for(claimed_at), "stream_id": entry})
    return rows


def drain_event(event_id: int, consumer: str | None = None, count: int = 500, claim_idle_ms: int = 15_000,
                crash_before_ack: bool = False, max_batches: int = 50) -> int:
    """Persist what is waiting in one event's stream, `count` entries a batch, up to
    `max_batches` batches; returns rows handled.

    `crash_before_ack` exists for the crash test: it stops after the first commit, before
    XACK, exactly where a killed process would."""
    r = redis_clients.store
    stream = keys(event_id)["stream"]
    consumer = consumer or consumer_name()
    event = db.session.get(CouponEvent, event_id)
    if event is None:
        return 0
    handled = 0
    try:
        # First take over entries another consumer left pending for too long; they join our
        # own pending list, which the "0" reads below return.
        r.xautoclaim(stream, GROUP, consumer, min_idle_time=claim_idle_ms, start_id="0-0", count=count)
        after = "0"  # our pending entries (after a restart or takeover), then new ones (">")
        for _ in range(max_batches):
            reply = r.xreadgroup(GROUP, consumer, {stream: after}, count=count)
            entries = reply[0][1] if reply else []
            if not entries:
                if after == ">":
                    break
                after = ">"
                continue
            if after != ">":
                after = entries[-1][0]  # the next page of our pending list
            handled += _persist(event, stream, consumer, entries, crash_before_ack)
            if crash_before_ack:
                break
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        db.session.rollback()  # the stream is gone (Redis lost it): nothing to persist
    return handled


def _persist(event: CouponEvent, stream: str, consumer: str, entries, crash_before_ack: bool) -> int:
    """Insert one batch, commit, then XACK. Rows are written only for entries that are
    still pending for us, checked under the event's row lock: rebuild() reads the issued
    coupons under the same lock, so a batch whose stream Redis lost meanwhile is dropped
    with it rather than persisted behind the rebuilt stock's back (that would oversell)."""
    r = redis_clients.store
    db.session.execute(select(CouponEvent.id).where(CouponEvent.id == event.id).with_for_update())
    ids = [entry_id for entry_id, _ in entries]
    try:
        ours = {row["message_id"] for row in r.xpending_range(stream, GROUP, min=ids[0], max=ids[-1],
                                                               count=len(ids), consumername=consumer)}
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        ours = set()
    live = [entry for entry in entries if entry[0] in ours]
    rows = _rows(event, live)
    _insert(rows)
    db.session.commit()
    if len(live) < len(entries):
        # Either Redis lost the stream (those claims went with it; the rebuilt state doesn't
        # count them) or another consumer took the entries over and persists them itself.
        log.warning("coupon event %s: %d stream entries were no longer ours; not persisted by %s",
                    event.id, len(entries) - len(live), consumer)
    if crash_before_ack or not live:
        return len(rows)
    r.xack(stream, GROUP, *[entry[0] for entry in live])
    return len(rows)


def active_event_ids(grace_seconds: int = 3600) -> list[int]:
    """Events whose stream may still hold entries: open, or closed within the grace period."""
    from datetime import timedelta

    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    return list(db.session.scalars(select(CouponEvent.id).where(CouponEvent.closes_at > cutoff)))


def publish_counts(event_ids, last: dict) -> None:
    """Broadcast each event's remaining count when it changed (event pages show it live).
    Done here, off the claim path, so claims pay nothing for the live counter."""
    r = redis_clients.store
    for event_id in event_ids:
        left = r.get(keys(event_id)["stock"])
        if left is not None and last.get(event_id) != left:
            r.publish(f"broadcast:coupon:{event_id}", left)
            last[event_id] = left


def run_forever(app, idle_sleep: float = 0.1, refresh_seconds: float = 5.0, stop=None):
    """The persistence loop: drain every active event, sleep briefly when idle. Runs until
    `stop` (a threading.Event) is set, if one is given."""
    consumer = consumer_name()
    log.info("coupon consumer %s started", consumer)
    event_ids, refreshed, counts = [], 0.0, {}
    pause = stop.wait if stop is not None else time.sleep
    while stop is None or not stop.is_set():
        handled, failed = 0, False
        with app.app_context():
            try:
                if time.monotonic() - refreshed > refresh_seconds:
                    event_ids, refreshed = active_event_ids(), time.monotonic()
                    db.session.rollback()
            except Exception:
                log.exception("coupon consumer could not list events; retrying")
                db.session.rollback()
            for event_id in event_ids:
                # One failing event (a poison entry, a constraint) must not stall the others.
                try:
                    handled += drain_event(event_id, consumer)
                except Exception:
                    log.exception("coupon consumer: draining event %s failed; retrying", event_id)
                    db.session.rollback()
                    failed = True
            try:
                publish_counts(event_ids, counts)
            except Exception:
                log.exception("coupon consumer could not publish remaining counts")
        if not handled:
            pause(1.0 if failed else idle_sleep)  # don't spin on a persistent failure
