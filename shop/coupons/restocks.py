"""Sold-out flags that follow every process's restocks.

A process caches "sold out" for an event (services.claim) only while it is subscribed to
RESTOCKED through the notifications hub's one pub/sub connection. Whenever an event's
stock is set anew (CouponRedis.sync: created, edited, rebuilt, reconciled) the event id
is published there, and every process drops its flag within milliseconds. If the hub
loses Redis it tells its subscribers to resync: every flag is dropped, as a restock may
have been missed.
"""
import os
import queue
import threading
import time

from flask import current_app

from .redis_state import RESTOCKED

HUB_READY_WAIT_SECONDS = 1.0
# When the follower last heard of a restock, per event (None: every event, a resync), so a
# sold-out answer that a restock overtook on its way back is not cached.
restocked_at: dict[int | None, float] = {}
_follower_pid = 0
_lock = threading.Lock()


def following(flags: dict) -> bool:
    """Start this process's follower (once per process, after any fork), which drops
    entries of `flags` (event id -> expiry) on a restock; True once its subscription is
    live, i.e. a sold-out flag may be cached."""
    global _follower_pid
    from ..web.sse import get_hub

    hub = get_hub(current_app.config["REDIS_URL"])
    wait = 0.0  # not a moment on the claim path once following (hub down: just don't cache)
    if _follower_pid != os.getpid():
        with _lock:
            if _follower_pid != os.getpid():
                subscription = hub.subscribe(RESTOCKED)
                threading.Thread(target=_follow, args=(subscription, flags), name="coupon-restocks",
                                 daemon=True).start()
                _follower_pid = os.getpid()
                wait = HUB_READY_WAIT_SECONDS  # the first sold-out of the process waits for the subscription
    return hub.wait_ready(wait)


def may_cache_sold_out(event_id: int, asked_at: float, flags: dict) -> bool:
    """True if a sold-out answer Redis gave to a question asked at `asked_at` (monotonic)
    may be cached in `flags`: this process follows restocks, and none arrived since."""
    return (following(flags) and restocked_at.get(event_id, 0.0) < asked_at
            and restocked_at.get(None, 0.0) < asked_at)


def _follow(subscription, flags: dict):
    from ..web.sse import RESYNC

    while True:
        try:
            item = subscription.get(timeout=3600)
        except queue.Empty:
            continue
        if item is RESYNC:
            restocked_at[None] = time.monotonic()
            flags.clear()
        elif isinstance(item, tuple) and item[1].isascii() and item[1].isdigit() and len(item[1]) < 19:
            event_id = int(item[1])
            restocked_at[event_id] = time.monotonic()
            flags.pop(event_id, None)
