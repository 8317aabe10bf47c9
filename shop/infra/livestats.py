"""The figures of the admin's "Live traffic" page, from the same collectors /metrics
reads (metrics.registry_for): one `snapshot()` of the totals, and `figures(previous,
current)` for the rates between two of them. Request counts and latencies are this web
node's (its gunicorn workers' summed samples, like the scrape); queues, the outbox and
coupon persistence are the whole store's."""
import math
import time

from . import metrics

REQUESTS = "playcation_http_request_duration_seconds"


def snapshot(connection) -> dict:
    snap = {"at": time.monotonic(), "requests": 0.0, "errors": 0.0, "buckets": {}, "streams": 0.0, "claims": 0.0,
            "claimed": 0.0, "queues": {}, "failed_jobs": {}, "outbox": None, "outbox_oldest": None,
            "unpersisted": None}
    for family in metrics.registry_for(connection).collect():
        for s in family.samples:
            name, labels, value = s.name, s.labels, s.value
            if name == REQUESTS + "_count":
                snap["requests"] += value
                if labels.get("status") == "5xx":
                    snap["errors"] += value
            elif name == REQUESTS + "_bucket":
                le = float(labels["le"])
                snap["buckets"][le] = snap["buckets"].get(le, 0.0) + value
            elif name == "playcation_sse_open_streams":
                snap["streams"] += value
            elif name == "playcation_coupon_claims_total":
                snap["claims"] += value
                if labels.get("outcome") == "claimed":
                    snap["claimed"] += value
            elif name == "playcation_rq_queue_depth":
                snap["queues"][labels["queue"]] = int(value)
            elif name == "playcation_rq_failed_jobs":
                snap["failed_jobs"][labels["queue"]] = int(value)
            elif name == "playcation_outbox_backlog":
                snap["outbox"] = (snap["outbox"] or 0) + int(value)
            elif name == "playcation_outbox_oldest_seconds":
                snap["outbox_oldest"] = value
            elif name == "playcation_coupon_unpersisted":
                snap["unpersisted"] = int(value)
    return snap


def quantile(q: float, buckets: dict) -> float | None:
    """Prometheus' histogram_quantile over cumulative {upper bound: count} buckets."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank, below, lower = q * total, 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower  # beyond the last finite bucket: its bound is what is known
            inside = count - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 0)
        below, lower = count, le
    return lower


def figures(previous: dict | None, current: dict) -> dict:
    """What the page shows: rates and the p95 over the interval since `previous` (None
    for the first look: no rates yet), and the current levels."""
    out = {"streams": int(current["streams"]), "queues": current["queues"],
           "queued_jobs": sum(current["queues"].values()), "failed_jobs": sum(current["failed_jobs"].values()),
           "outbox": current["outbox"], "outbox_oldest": current["outbox_oldest"],
           "unpersisted": current["unpersisted"], "rps": None, "errors_per_s": None, "p95_ms": None,
           "claims_per_s": None, "claimed_per_s": None, "interval": None}
    if previous is None:
        return out
    seconds = max(current["at"] - previous["at"], 1e-6)
    out["interval"] = seconds
    for key, name in (("requests", "rps"), ("errors", "errors_per_s"), ("claims", "claims_per_s"),
                      ("claimed", "claimed_per_s")):
        out[name] = max(0.0, current[key] - previous[key]) / seconds
    delta = {le: current["buckets"][le] - previous["buckets"].get(le, 0.0) for le in current["buckets"]}
    p95 = quantile(0.95, delta)
    out["p95_ms"] = None if p95 is None else p95 * 1000
    return out
