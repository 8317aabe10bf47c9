"""The admission loop: in every web process that has seen a room on, a background thread
(a greenlet under gevent) calls services.advance() for each enabled room once per
WAITING_ADVANCE_SECONDS (default 1). The Lua script is judged by Redis's clock, so
however many processes and nodes tick, each second's share is admitted once; the loop
only makes sure someone asks while every waiter sits on a live stream and no request
comes. WAITING_ADMISSION_LOOP=false leaves admission to requests (each waiting-page
load advances the room too)."""
import logging
import os
import threading
import time

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_state = {"pid": 0}
_lock = threading.Lock()


def ensure_running(app):
    if _state["pid"] == os.getpid() or not app.config.get("WAITING_ADMISSION_LOOP", True):
        return
    with _lock:
        if _state["pid"] != os.getpid():
            _state["pid"] = os.getpid()
            threading.Thread(target=_loop, args=(app,), name="waiting-room-admissions", daemon=True).start()


def _loop(app):
    from .rooms import active
    from .services import advance

    try:
        while app.config.get("WAITING_ADMISSION_LOOP", True):
            rooms = active(app)
            if not rooms:
                break  # the next request that meets an enabled room starts it again
            for room in rooms:
                try:
                    with app.app_context():
                        advance(room)
                except RedisError as exc:
                    log.warning("waiting room %s: admission skipped, Redis unreachable (%s)", room.id, exc)
                except Exception:  # noqa: BLE001 - a bug must not stop admission for good
                    log.exception("waiting room %s: admission failed", room.id)
            time.sleep(float(app.config.get("WAITING_ADVANCE_SECONDS", 1.0)))
    finally:
        with _lock:
            _state["pid"] = 0
