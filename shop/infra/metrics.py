"""Live metrics: `GET /metrics` in the Prometheus text format (prometheus-client).

gunicorn runs several worker processes, so the metrics use prometheus-client's
multiprocess mode when `PROMETHEUS_MULTIPROC_DIR` is set (gunicorn.conf.py sets it to a
fresh directory at start and marks each exited worker dead): every process writes its
samples to small mmap'd files there, and the scrape, answered by whichever worker gets
it, adds them up. Without that variable (tests, `flask run`) they live in this process.

What is measured, and where:
  - requests by endpoint and status class, with a latency histogram: one observation in
    requestlog.log_request, the line every request already writes (the coupon fast lane
    writes it too, so its answers are counted without entering Flask);
  - coupon claims by outcome and lane (coupons/views.py and coupons/fastlane.py);
  - open SSE streams (web/sse.py counts them up and down; a live sum over processes);
  - RQ queue depth and failed jobs, read from Redis when the scrape runs;
  - the mail outbox's backlog (email_log rows queued or retrying, and the oldest's age),
    read from the database when the scrape runs;
  - what higher layers register with `register_collector` (the coupon consumer's lag
    from stream to database: coupons/lag.py).
A collector that fails (Redis or the database down) is left out of that scrape.

Access: the scrape is not public. It is answered for a client address inside
METRICS_ALLOW (networks, comma separated; default 127.0.0.1/32) or a request carrying
`Authorization: Bearer <METRICS_TOKEN>`; anyone else gets a plain 404, as if there were
no such page. A request that came through a proxy this app does not trust
(X-Forwarded-For/Forwarded/X-Real-IP present while TRUSTED_PROXIES is 0) is not taken
for a local one: behind a reverse proxy on the same host every client would look local.
"""
import hmac
import ipaddress
import logging
import os

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest)
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PATH = "/metrics"
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}
# Latency buckets (seconds): the storefront's pages answer in a few ms, a stampede's
# tail reaches seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# One histogram per request: its `_count` series is the request counter, so a request
# costs one observation, not two.
REQUEST_SECONDS = Histogram("playcation_http_request_duration_seconds",
                            "Time to answer a request, by endpoint and status class (its _count counts requests).",
                            ("endpoint", "status"), buckets=BUCKETS)
COUPON_CLAIMS = Counter("playcation_coupon_claims_total", "Coupon claims answered, by outcome and lane.",
                        ("outcome", "lane"))
SSE_STREAMS = Gauge("playcation_sse_open_streams", "SSE streams open now.", multiprocess_mode="livesum")

_state = {"enabled": True}
_children: dict = {}  # (endpoint, status class) -> the histogram's child, looked up once


def observe_request(endpoint: str | None, status: int, seconds: float):
    """Count one answered request (called from requestlog.log_request)."""
    if not _state["enabled"]:
        return
    key = (endpoint, status // 100)
    child = _children.get(key)
    if child is None:
        child = _children[key] = REQUEST_SECONDS.labels(endpoint or "none", STATUS_CLASSES.get(status // 100, "other"))
    child.observe(seconds)


def count_claim(outcome: str, lane: str):
    if _state["enabled"]:
        COUPON_CLAIMS.labels(outcome, lane).inc()


def stream_opened():
    if _state["enabled"]:
        SSE_STREAMS.inc()


def stream_closed():
    if _state["enabled"]:
        SSE_STREAMS.dec()


class _ThisProcess:
    """The metrics of this process's default registry (when not in multiprocess mode)."""

    def collect(self):
        return REGISTRY.collect()


class RqCollector:
    """RQ queue depths and failed-job counts, read from Redis at scrape time (one
    pipelined round trip after listing the queues)."""

    def __init__(self, connection):
        self.connection = connection

    def collect(self):
        from rq import Queue

        depth = GaugeMetricFamily("playcation_rq_queue_depth", "Jobs waiting in an RQ queue.", labels=("queue",))
        failed = GaugeMetricFamily("playcation_rq_failed_jobs", "Jobs in an RQ queue's failed registry.",
                                   labels=("queue",))
        try:
            queues = Queue.all(connection=self.connection)
            with self.connection.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.llen(queue.key)
                    pipe.zcard(queue.failed_job_registry.key)
                counts = pipe.execute()
        except Exception:  # Redis down: the scrape still answers, without these
            log.warning("metrics: RQ queues unreadable", exc_info=True)
            return
        for i, queue in enumerate(queues):
            depth.add_metric([queue.name], counts[2 * i])
            failed.add_metric([queue.name], counts[2 * i + 1])
        yield depth
        yield failed


class OutboxCollector:
    """The mail outbox's backlog: email_log rows waiting to be sent (queued, or retrying
    after a failed attempt) and how long the oldest has waited. Needs an app context."""

    def collect(self):
        from sqlalchemy import func, select

        from ..extensions import db
        from ..timeutil import utcnow
        from .mail import EmailLog

        rows = db.session.execute(select(EmailLog.status, func.count(), func.min(EmailLog.created_at))
                                  .where(EmailLog.status.in_(BACKLOG)).group_by(EmailLog.status)).all()
        db.session.remove()
        backlog = GaugeMetricFamily("playcation_outbox_backlog", "Emails in the outbox not sent yet, by status.",
                                    labels=("status",))
        found = {status: (n, oldest) for status, n, oldest in rows}
        for status in BACKLOG:
            backlog.add_metric([status], found.get(status, (0, None))[0])
        oldest = [t for _, t in found.values() if t is not None]
        age = GaugeMetricFamily("playcation_outbox_oldest_seconds", "How long the oldest unsent email has waited.")
        age.add_metric([], max(0.0, (utcnow() - min(oldest)).total_seconds()) if oldest else 0.0)
        yield backlog
        yield age


BACKLOG = ("queued", "retrying")
_collectors: dict = {}  # name -> make(connection): collectors higher layers add


def register_collector(name: str, make):
    """Add a scrape-time collector, `make(redis connection)` -> an object with collect()."""
    _collectors[name] = make


class _Guarded:
    """A collector whose failure drops its own metrics, not the scrape."""

    def __init__(self, name, collector):
        self.name, self.collector = name, collector

    def collect(self):
        try:
            return list(self.collector.collect())
        except Exception:  # noqa: BLE001 - Redis or the database down: the rest still answers
            log.warning("metrics: %s unreadable", self.name, exc_info=True)
            return []


def registry_for(connection) -> CollectorRegistry:
    """Every process's metrics plus the scrape-time gauges, as one registry."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    if connection is not None:
        registry.register(RqCollector(connection))
    registry.register(_Guarded("outbox", OutboxCollector()))
    for name, make in _collectors.items():
        registry.register(_Guarded(name, make(connection)))
    return registry


def exposition(connection) -> bytes:
    """The text the scrape gets."""
    return generate_latest(registry_for(connection))


def allowed_networks(value: str) -> list:
    """METRICS_ALLOW parsed: networks separated by commas or spaces (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(part, strict=False) for part in value.replace(",", " ").split()]


def may_scrape(headers, remote_addr: str | None, networks, token: str | None, trusts_proxies: bool) -> bool:
    """The access rule above, as a pure function of the request's parts."""
    if token:
        given = headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return True
    if not networks or not remote_addr:
        return False
    if not trusts_proxies and any(h in headers for h in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in networks)


def init_app(app):
    """Adds GET /metrics; METRICS_ENABLED=false turns counting and the route off."""
    from flask import Response, abort, request

    _state["enabled"] = bool(app.config.get("METRICS_ENABLED", True))
    if not _state["enabled"]:
        return
    allowed_networks(app.config.get("METRICS_ALLOW") or "")  # a bad value fails at start, not at each scrape

    def metrics():
        cfg = app.config
        networks = allowed_networks(cfg.get("METRICS_ALLOW") or "")
        if not may_scrape(request.headers, request.remote_addr, networks, cfg.get("METRICS_TOKEN") or None,
                          bool(int(cfg.get("TRUSTED_PROXIES", 0) or 0))):
            abort(404)
        store = app.extensions.get("redis_raw")
        return Response(exposition(store), content_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    from ..extensions import limiter

    app.add_url_rule(PATH, "metrics", limiter.exempt(metrics), methods=["GET"])
