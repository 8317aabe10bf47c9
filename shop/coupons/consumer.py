"""Persistence: a consumer group drains each event's stream into `coupons` in batches.

Entries are inserted with ON CONFLICT DO NOTHING on (event, user) and acknowledged
only after the commit, so a crash between insert and ack just redelivers entries that
insert nothing the second time. Entries a dead consumer left pending are taken over
with XAUTOCLAIM once idle. `python worker.py --coupons` runs `run_forever`.
"""
import logging
import os
import socket
import time
from datetime import datetime, timezone

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
                crash_before_ack: bool = False) -> int:
    """Persist what is waiting in one event's stream; returns rows handled.

    `crash_before_ack` exists for the crash test: it stops after the commit, before XACK,
    exactly where a killed process would."""
    r = redis_clients.store
    stream = keys(event_id)["stream"]
    consumer = consumer or consumer_name()
    event = db.session.get(CouponEvent, event_id)
    if event is None:
        return 0
    handled = 0
    # First take over entries another consumer left pending for too long; they join our
    # own pending list, which the "0" read below returns.
    try:
        r.xautoclaim(stream, GROUP, consumer, min_idle_time=claim_idle_ms, start_id="0-0", count=count)
    except Exception as exc:
        if "NOGROUP" in str(exc):
            return 0
        raise
    batches = []
    for start in ("0", ">"):  # our pending entries (after a restart or takeover), then new ones
        reply = r.xreadgroup(GROUP, consumer, {stream: start}, count=count)
        for _name, entries in reply or []:
            if entries:
                batches.append(entries)
    for entries in batches:
        rows = _rows(event, entries)
        _insert(rows)
        db.session.commit()
        if crash_before_ack:
            return handled + len(rows)
        ids = [e[0] for e in entries]
        if ids:
            r.xack(stream, GROUP, *ids)
        handled += len(rows)
    return handled


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


def run_forever(app, idle_sleep: float = 0.1, refresh_seconds: float = 5.0):
    """The persistence loop: drain every active event, sleep briefly when idle."""
    consumer = consumer_name()
    log.info("coupon consumer %s started", consumer)
    event_ids, refreshed, counts = [], 0.0, {}
    while True:
        with app.app_context():
            try:
                if time.monotonic() - refreshed > refresh_seconds:
                    event_ids, refreshed = active_event_ids(), time.monotonic()
                    db.session.rollback()
                handled = sum(drain_event(event_id, consumer) for event_id in event_ids)
                publish_counts(event_ids, counts)
            except Exception:
                log.exception("coupon consumer iteration failed; retrying")
                db.session.rollback()
                handled = 0
                time.sleep(1)
        if not handled:
            time.sleep(idle_sleep)
