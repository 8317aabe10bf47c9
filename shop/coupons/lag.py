"""How far the database is behind the claims: metrics for /metrics (infra/metrics.py).

A claim is an entry in the event's Redis stream at once; the consumer (consumer.py)
writes it to `coupons` a moment later. Two views of that gap:

  - `playcation_coupon_persist_lag_seconds` (histogram): for each claim persisted, the
    time from the claim (the entry's Redis time) to the commit that wrote it. The
    consumer is its own process, possibly on another host, so it keeps the histogram in
    Redis (LAG_KEY: one HINCRBY per bucket touched, pipelined with the batch's XACK
    round), and the scrape reads it;
  - `playcation_coupon_unpersisted` and `playcation_coupon_unpersisted_oldest_seconds`
    (gauges, read at scrape time): claims not in the database yet over every active
    event, and the age of the oldest. These move even when the consumer is down, which
    the histogram cannot show.
"""
import time

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from ..infra import metrics
from .redis_state import GROUP, keys

LAG_KEY = "coupon:metrics:persist-lag"
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def _bucket(seconds: float) -> str:
    for le in BUCKETS:
        if seconds <= le:
            return str(le)
    return "+Inf"


def record(pipe, claimed_ms: list[int], now: float | None = None):
    """Add the lags of claims persisted now (their claim times, epoch ms) to `pipe`."""
    if not claimed_ms:
        return
    now = time.time() if now is None else now
    counts, total = {}, 0.0
    for ms in claimed_ms:
        lag = max(0.0, now - ms / 1000)
        counts[_bucket(lag)] = counts.get(_bucket(lag), 0) + 1
        total += lag
    for field, n in counts.items():
        pipe.hincrby(LAG_KEY, field, n)
    pipe.hincrbyfloat(LAG_KEY, "sum", total)
    pipe.hincrby(LAG_KEY, "count", len(claimed_ms))


def _entry_ms(entry_id) -> int | None:
    if not entry_id:
        return None
    entry_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(entry_id.split("-", 1)[0])


class LagCollector:
    def __init__(self, connection):
        self.connection = connection

    def collect(self):
        r = self.connection
        stored = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in r.hgetall(LAG_KEY).items()}
        hist = HistogramMetricFamily("playcation_coupon_persist_lag_seconds",
                                     "Time from a coupon claim (in Redis) to its row committed in the database.")
        cumulative, buckets = 0.0, []
        for le in [str(b) for b in BUCKETS] + ["+Inf"]:
            cumulative += stored.get(le, 0.0)
            buckets.append((le, cumulative))
        hist.add_metric([], buckets, stored.get("sum", 0.0))
        yield hist
        waiting, oldest = self._unpersisted(r, _active_event_ids())
        backlog = GaugeMetricFamily("playcation_coupon_unpersisted",
                                    "Coupon claims in Redis streams not yet written to the database.")
        backlog.add_metric([], waiting)
        age = GaugeMetricFamily("playcation_coupon_unpersisted_oldest_seconds",
                                "Age of the oldest coupon claim not yet written to the database.")
        age.add_metric([], max(0.0, time.time() - oldest / 1000) if oldest else 0.0)
        yield backlog
        yield age

    @staticmethod
    def _unpersisted(r, event_ids) -> tuple[int, int | None]:
        """(claims not yet acknowledged by the consumer, the oldest one's time in ms)."""
        if not event_ids:
            return 0, None
        pipe = r.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.xinfo_groups(keys(event_id)["stream"])
            pipe.xpending(keys(event_id)["stream"], GROUP)
        replies = pipe.execute(raise_on_error=False)
        waiting, oldest, after = 0, [], []
        for i, event_id in enumerate(event_ids):
            groups, pending = replies[2 * i], replies[2 * i + 1]
            if isinstance(groups, Exception) or isinstance(pending, Exception):
                continue  # no stream (yet, or lost with Redis)
            group = next((g for g in groups if (g["name"].decode() if isinstance(g["name"], bytes)
                                                 else g["name"]) == GROUP), None)
            if group is None:
                continue
            undelivered = int(group.get("lag") or 0)
            waiting += int(pending["pending"]) + undelivered
            if pending["pending"]:
                oldest.append(_entry_ms(pending["min"]))
            if undelivered:
                after.append((keys(event_id)["stream"], group["last-delivered-id"]))
        if after:
            pipe = r.pipeline(transaction=False)
            for stream, last in after:
                last = last.decode() if isinstance(last, bytes) else last
                pipe.xrange(stream, min=f"({last}", count=1)
            for found in pipe.execute(raise_on_error=False):
                if found and not isinstance(found, Exception):
                    oldest.append(_entry_ms(found[0][0]))
        oldest = [ms for ms in oldest if ms]
        return waiting, min(oldest) if oldest else None


def _active_event_ids(grace_seconds: int = 3600) -> list[int]:
    """Events whose stream may still hold claims (as consumer.active_event_ids, which
    imports this module)."""
    from datetime import timedelta

    from sqlalchemy import select

    from ..extensions import db
    from ..timeutil import utcnow
    from .models import CouponEvent

    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    ids = list(db.session.scalars(select(CouponEvent.id).where(CouponEvent.closes_at > cutoff)))
    db.session.remove()
    return ids


def register():
    metrics.register_collector("coupon-lag", lambda connection: LagCollector(connection))
