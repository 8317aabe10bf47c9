"""The admission loop: someone must call services.advance() for each enabled room about
once per WAITING_ADVANCE_SECONDS (default 1) while every waiter sits on a live stream and
no request comes. The Lua script is judged by Redis's clock, so however many processes
and nodes tick, each second's share is admitted once, and only one of them publishes each
piece of news.

Two places run it:
  - `python worker.py --admissions` (run_forever): a process of its own, which ticks on
    time however busy the web nodes are. Production runs one (or two: they don't
    collide), and then the web nodes can leave it to them (WAITING_ADMISSION_LOOP=false);
  - every web process that has seen a room on (ensure_running): a background thread, a
    greenlet under gevent. It needs no extra process, but in a stampede the greenlet
    waits for the worker's CPU like every other request, so ticks come late and
    admission moves mostly through page loads (each waiting-page load advances the room
    too). WAITING_ADMISSION_LOOP=false turns it off.
"""
import logging
import os
import threading
import time

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_state = {"pid": 0}
_lock = threading.Lock()
REPORT_SECONDS = 60  # run_forever logs its ticks' punctuality this often


def ensure_running(app):
    if _state["pid"] == os.getpid() or not app.config.get("WAITING_ADMISSION_LOOP", True):
        return
    with _lock:
        if _state["pid"] != os.getpid():
            _state["pid"] = os.getpid()
            threading.Thread(target=_loop, args=(app,), name="waiting-room-admissions", daemon=True).start()


def tick(app) -> int:
    """Advance every enabled room once; returns how many there were. Never raises for
    one room's failure (Redis away, a bug): the next tick tries again."""
    from .rooms import active
    from .services import advance

    rooms = active(app)
    for room in rooms:
        try:
            with app.app_context():
                advance(room)
        except RedisError as exc:
            log.warning("waiting room %s: admission skipped, Redis unreachable (%s)", room.id, exc)
        except Exception:  # noqa: BLE001 - a bug must not stop admission for good
            log.exception("waiting room %s: admission failed", room.id)
    return len(rooms)


def _period(app) -> float:
    return float(app.config.get("WAITING_ADVANCE_SECONDS", 1.0))


def _loop(app):
    try:
        while app.config.get("WAITING_ADMISSION_LOOP", True):
            if not tick(app):
                break  # the next request that meets an enabled room starts it again
            time.sleep(_period(app))
    finally:
        with _lock:
            _state["pid"] = 0


def run_forever(app, stop: threading.Event | None = None):
    """The dedicated admission process: a tick every WAITING_ADVANCE_SECONDS on a fixed
    schedule (a slow tick shortens the next sleep), rooms or not. Logs, every minute in
    which a room was on, how many ticks ran and the longest gap between two."""
    stop = stop or threading.Event()
    period = _period(app)
    log.info("waiting-room admissions started: a tick every %.2f s", period)
    ticks, longest, last, reported = 0, 0.0, time.monotonic(), time.monotonic()
    while not stop.is_set():
        started = time.monotonic()
        busy = tick(app)
        if busy:
            ticks, longest = ticks + 1, max(longest, started - last)
        last = started
        if started - reported >= REPORT_SECONDS:
            if ticks:
                log.info("waiting-room admissions: %d ticks in %.0f s, longest gap %.2f s", ticks,
                         started - reported, longest)
            ticks, longest, reported = 0, 0.0, started
        stop.wait(max(period - (time.monotonic() - started), 0.0))
