"""Persistence: a consumer group drains each event's stream into `coupons` in batches.

Entries are inserted with ON CONFLICT DO NOTHING on (event, user) and acknowledged
only after the commit, so a crash between insert and ack just redelivers entries that
insert nothing the second time. Entries a dead consumer left pending are taken over
with XAUTOCLAIM once idle. A batch is written under the event's row lock, and only for
entries still pending for this consumer, so when Redis loses an event mid-drop a
rebuild (services.rebuild) either counts the batch or the batch goes with the lost
stream.

`python worker.py --coupons` runs `run_forever`: ONE blocking XREADGROUP across the
streams of every active event (plus a wake-up stream that services write to when an
event is created or changed), so an idle consumer sleeps inside Redis instead of
polling. Pending entries (its own after a restart, a dead consumer's, a failed
round's) are swept every SWEEP_SECONDS.

An entry that fails on its own (a malformed entry, a row the database refuses) while
the rest of its batch is written is retried; once it has been delivered MAX_DELIVERIES
times (XPENDING's count) it moves to the event's dead-letter stream, where the admin
coupon page shows it with a retry button (services.retry_dead_letter).
"""
import logging
import os
import socket
import time
from datetime import datetime, timezone

from redis.exceptions import RedisError, ResponseError
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from ..infra.redisconn import redis_clients
from ..timeutil import utcnow
from ..web.sse import coupon_channel
from . import lag
from .models import Coupon, CouponEvent
from .redis_state import GROUP, WAKE, keys

log = logging.getLogger(__name__)

MAX_DELIVERIES = 5
BLOCK_MS = 2000  # below the store client's 5 s socket timeout
SWEEP_SECONDS = 15.0
REFRESH_SECONDS = 5.0
# What an entry itself can cause; anything else (the database or Redis unreachable) is
# the round's failure, and no entry is blamed for it.
ENTRY_ERRORS = (ValueError, KeyError, TypeError, IntegrityError, DataError)


# The database busy (SQLite's "database is locked") or unreachable, or Redis gone: the
# round is retried and nothing was acknowledged, so these are logged as one line each.
TRANSIENT = (OperationalError, RedisError)


def _reason(exc: Exception) -> str:
    return " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _insert(rows: list[dict]):
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Coupon).values(rows).on_conflict_do_nothing(index_elements=["event_id", "user_id"])
    db.session.execute(stmt)


def _fields(fields) -> dict:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in (fields or {}).items()}


def _rows(event: CouponEvent, entries) -> list[dict]:
    """Coupon rows for stream entries; raises ValueError for a malformed entry."""
    rows = []
    for entry_id, fields in entries:
        fields = _fields(fields)
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


def _lock_event(event_id: int):
    db.session.execute(select(CouponEvent.id).where(CouponEvent.id == event_id).with_for_update())


def _ours(stream: str, consumer: str, ids) -> dict:
    """{entry id: times delivered} of the entries among `ids` still pending for `consumer`."""
    try:
        return {row["message_id"]: int(row["times_delivered"]) for row in redis_clients.store.xpending_range(
            stream, GROUP, min=ids[0], max=ids[-1], count=len(ids), consumername=consumer)}
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        return {}


def _persist(event: CouponEvent, stream: str, consumer: str, entries, crash_before_ack: bool = False) -> int:
    """Insert one batch, commit, then XACK. Rows are written only for entries that are
    still pending for us, checked under the event's row lock: rebuild() reads the issued
    coupons under the same lock, so a batch whose stream Redis lost meanwhile is dropped
    with it rather than persisted behind the rebuilt stock's back (that would oversell).
    If the batch fails because of an entry, each entry is tried on its own so one bad
    entry can't hold back the others."""
    r = redis_clients.store
    _lock_event(event.id)
    delivered = _ours(stream, consumer, [entry_id for entry_id, _ in entries])
    live = [entry for entry in entries if entry[0] in delivered]
    try:
        rows = _rows(event, live)
        _insert(rows)
        db.session.commit()
    except ENTRY_ERRORS as exc:
        db.session.rollback()
        if len(live) > 1:
            return sum(_persist(event, stream, consumer, [entry], crash_before_ack) for entry in live)
        if live:
            _failed(event, stream, live[0], delivered[live[0][0]], exc)
        return 0
    if len(live) < len(entries):
        # Either Redis lost the stream (those claims went with it; the rebuilt state doesn't
        # count them) or another consumer took the entries over and persists them itself.
        log.warning("coupon event %s: %d stream entries were no longer ours; not persisted by %s",
                    event.id, len(entries) - len(live), consumer)
    if crash_before_ack or not live:
        return len(rows)
    pipe = r.pipeline(transaction=False)
    pipe.xack(stream, GROUP, *[entry[0] for entry in live])
    lag.record(pipe, [int(row["claimed_at"].timestamp() * 1000) for row in rows])  # /metrics: claim -> commit
    pipe.execute()
    return len(rows)


def _failed(event: CouponEvent, stream: str, entry, times_delivered: int, exc: Exception):
    """One entry failed on its own: leave it pending for the next sweep, or, once it has
    been delivered MAX_DELIVERIES times, move it to the dead-letter stream (one MULTI:
    copied and acknowledged together)."""
    entry_id, fields = entry
    error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
    if times_delivered < MAX_DELIVERIES:
        log.warning("coupon event %s: entry %s failed (%s), delivery %d of %d", event.id, entry_id, error,
                    times_delivered, MAX_DELIVERIES)
        return
    dead = {**{k: v for k, v in _fields(fields).items() if k in ("u", "t")}, "id": entry_id, "error": error[:300],
            "deliveries": times_delivered}
    pipe = redis_clients.store.pipeline(transaction=True)
    pipe.xadd(keys(event.id)["dead"], dead)
    pipe.xack(stream, GROUP, entry_id)
    pipe.execute()
    log.error("coupon event %s: entry %s failed %d times (%s); moved to the dead-letter stream", event.id,
              entry_id, times_delivered, error)


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
            r.publish(coupon_channel(event_id), left)
            last[event_id] = left


def ensure_wake_group():
    try:
        redis_clients.store.xgroup_create(WAKE, GROUP, id="$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read_new(event_ids, consumer: str, block_ms: int = BLOCK_MS, count: int = 500) -> tuple[int, bool]:
    """One XREADGROUP, blocking up to `block_ms`, over every event's stream and the wake-up
    stream; persists what arrives. Returns (rows handled, whether a wake-up came: the
    event list should be read again)."""
    r = redis_clients.store
    by_stream = {keys(event_id)["stream"]: event_id for event_id in event_ids}
    reply = r.xreadgroup(GROUP, consumer, {**{s: ">" for s in by_stream}, WAKE: ">"}, count=count, block=block_ms)
    handled, woke = 0, False
    for stream, entries in reply or []:
        if not entries:
            continue
        if stream == WAKE:
            r.xack(WAKE, GROUP, *[entry_id for entry_id, _ in entries])
            woke = True
            continue
        event = db.session.get(CouponEvent, by_stream[stream])
        if event is None:
            continue
        handled += _persist(event, stream, consumer, entries)
    return handled, woke


def _streams_present(event_ids) -> list[int]:
    """The events whose stream exists (one lost with Redis makes XREADGROUP fail with
    NOGROUP for all; it comes back with the rebuild, which writes a wake-up)."""
    r = redis_clients.store
    pipe = r.pipeline(transaction=False)
    for event_id in event_ids:
        pipe.exists(keys(event_id)["stream"])
    return [event_id for event_id, present in zip(event_ids, pipe.execute() if event_ids else []) if present]


def run_forever(app, block_ms: int = BLOCK_MS, refresh_seconds: float = REFRESH_SECONDS,
                sweep_seconds: float = SWEEP_SECONDS, stop=None):
    """The persistence loop. Runs until `stop` (a threading.Event) is set, if one is given
    (it is looked at between reads, so stopping takes up to `block_ms`)."""
    from .durability import read_problems

    consumer = consumer_name()
    log.info("coupon consumer %s started", consumer)
    with app.app_context():
        for problem in read_problems(redis_clients.store):
            log.warning("%s", problem)  # the admin page says it too; here it reaches the operator's logs
    event_ids, refreshed, swept, counts = [], float("-inf"), float("-inf"), {}
    pause = stop.wait if stop is not None else time.sleep
    while stop is None or not stop.is_set():
        with app.app_context():
            try:
                if time.monotonic() - refreshed > refresh_seconds:
                    ensure_wake_group()
                    event_ids, refreshed = _streams_present(active_event_ids()), time.monotonic()
                    db.session.rollback()
                if time.monotonic() - swept > sweep_seconds:
                    swept = time.monotonic()
                    for event_id in event_ids:
                        # One failing event (the database refusing its batch) must not stall the others.
                        try:
                            drain_event(event_id, consumer)
                        except TRANSIENT as exc:  # a busy or unreachable server: a line, not a traceback
                            log.warning("coupon consumer: draining event %s failed (%s); retrying", event_id,
                                        _reason(exc))
                            db.session.rollback()
                            swept = float("-inf")
                        except Exception:
                            log.exception("coupon consumer: draining event %s failed; retrying", event_id)
                            db.session.rollback()
                            swept = float("-inf")
                if not event_ids:
                    db.session.remove()
                    pause(block_ms / 1000)
                    refreshed = float("-inf")
                    continue
                _, woke = read_new(event_ids, consumer, block_ms)
                if woke:
                    refreshed = float("-inf")
                db.session.rollback()
                publish_counts(event_ids, counts)
            except TRANSIENT as exc:
                log.warning("coupon consumer round failed (%s); retrying", _reason(exc))
                db.session.rollback()
                refreshed = swept = float("-inf")
                pause(1.0)
            except Exception:
                log.exception("coupon consumer round failed; retrying")
                db.session.rollback()
                refreshed = swept = float("-inf")  # look at the event list and pending entries again
                pause(1.0)
