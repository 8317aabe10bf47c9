"""Structured request logs and a request id on every response.

Each request gets an id: the caller's `X-Request-ID` when it looks sane (a proxy or a
load balancer set it), else a fresh one. It is echoed in the `X-Request-ID` response
header, shown on error pages, stored in audit rows, and attached to every log record
written while the request runs, so one grep finds everything a request did.

`LOG_FORMAT=json` (the default outside development) writes one JSON object per line:
the request summary (`"event": "request"`) and every other log record alike.
"""
import json
import logging
import re
import threading
import time
import uuid

from flask import g, has_request_context, request, session

from .metrics import observe_request

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

log = logging.getLogger("shop.request")


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    """Attach the running request's id (or "-") to every record."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; extra fields given with `extra={"fields": {...}}`."""

    def format(self, record):
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime  # timestamps in UTC, like everything stored


class BufferedStreamHandler(logging.StreamHandler):
    """A StreamHandler that writes what piled up once every `interval` seconds (or as soon
    as `max_bytes` pile up, a WARNING or worse arrives, or logging shuts down) instead of
    once per line.

    gunicorn's workers share one stderr: a write per request line makes them queue on the
    file's lock, and a write that waits stalls a whole gevent process with every
    connection it holds. Measured on the coupon claim (bench/coupon_storm.py, 4 workers,
    50 connections): the per-line request log cost ~25 % of throughput and ~45 % of the
    p99 (docs/benchmarks.md). At most `interval` seconds of INFO lines can be lost if
    the process is SIGKILLed; warnings and errors are written at once."""

    def __init__(self, stream=None, interval: float = 0.25, max_bytes: int = 64 * 1024):
        super().__init__(stream)
        self.interval, self.max_bytes = interval, max_bytes
        self._pending: list[str] = []
        self._size = 0
        self._timer = None

    def emit(self, record):  # called with self.lock held (Handler.handle)
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= self.max_bytes:
            self._write()
        elif self._timer is None:
            self._timer = threading.Timer(self.interval, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def _write(self):
        if not self._pending:
            return
        data, self._pending, self._size = "".join(self._pending), [], 0
        try:
            self.stream.write(data)
            self.stream.flush()
        except Exception:  # a closed or broken stream must not break the request
            pass

    def flush(self):
        self.acquire()
        try:
            self._timer = None
            self._write()
        finally:
            self.release()


def configure_logging(fmt: str):
    """Root logging: JSON lines or plain text, each record carrying its request id."""
    root = logging.getLogger()
    if not any(getattr(h, "_playcation", False) for h in root.handlers):
        handler = BufferedStreamHandler()
        handler._playcation = True
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    for handler in root.handlers:
        if getattr(handler, "_playcation", False):
            if fmt == "json":
                handler.setFormatter(JsonFormatter())
            else:
                handler.setFormatter(logging.Formatter(
                    "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
            if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
                handler.addFilter(RequestIdFilter())


def request_id_from(incoming: str) -> str:
    """The caller's X-Request-ID when it looks sane, else a fresh one."""
    return incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex


def log_request(request_id, method, path, endpoint, status, started, ip, user_id, htmx, streamed):
    """The one structured line per request (also written by the coupon fast lane), and
    the request's observation in the live metrics (infra/metrics.py)."""
    seconds = time.perf_counter() - started
    observe_request(endpoint, status, seconds)
    fields = {
        "event": "request", "request_id": request_id, "method": method, "path": path,
        "endpoint": endpoint, "status": status, "duration_ms": round(seconds * 1000, 1),
        "ip": ip, "user_id": user_id, "htmx": htmx, "streamed": streamed,
    }
    log.info("%s %s %s", method, path, status, extra={"request_id": request_id, "fields": fields})


def _user_id():
    """The logged-in user's id without loading the user: Flask-Login's already loaded
    user when the view used it, else the id part of the session's `_user_id`
    ("<id>:<session token>"). Logging must not add a database query to every request."""
    user = g.get("_login_user")
    if user is not None:
        return getattr(user, "id", None)
    raw = session.get("_user_id") if session else None
    head = str(raw).partition(":")[0] if raw else ""
    return int(head) if head.isdigit() else None


def init_app(app):
    configure_logging(app.config.get("LOG_FORMAT") or "json")

    @app.before_request
    def _start():
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        request_id = g.get("request_id")
        if request_id is None:  # a response made before our before_request ran
            return response
        response.headers[REQUEST_ID_HEADER] = request_id
        if request.endpoint == "static" or request.path in ("/healthz", "/readyz"):
            return response
        log_request(request_id, request.method, request.path, request.endpoint, response.status_code,
                    g.request_started, request.remote_addr, _user_id(), "HX-Request" in request.headers,
                    response.is_streamed)
        return response
