"""One Redis pub/sub connection per web process, fanned out to every open stream.

A browser's SSE stream registers a small queue for its channels; a single listener
thread (a greenlet under gunicorn's gevent workers) pattern-subscribes to
`notify:user:*` and `broadcast:*` and copies each message into the queues of that
channel. So 5,000 open streams cost one Redis connection, not 5,000.

If the listener loses Redis it reconnects with backoff and tells every stream to
`resync`: the stream then replays from the database whatever it may have missed.
"""
import logging
import queue
import threading
import time
from collections import defaultdict

import redis

log = logging.getLogger(__name__)

PATTERNS = ("notify:user:*", "broadcast:*")
RESYNC = object()


def user_channel(user_id: int) -> str:
    return f"notify:user:{user_id}"


class Subscription:
    def __init__(self, hub, channels):
        self.hub = hub
        self.channels = tuple(channels)
        self.queue: queue.Queue = queue.Queue(maxsize=256)

    def get(self, timeout: float):
        """(channel, data) or RESYNC; raises queue.Empty after `timeout` seconds."""
        return self.queue.get(timeout=timeout)

    def close(self):
        self.hub.unsubscribe(self)


class Hub:
    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.delivered = 0

    # --- streams ---
    def subscribe(self, *channels: str) -> Subscription:
        self._ensure_listener()
        sub = Subscription(self, channels)
        with self._lock:
            for channel in channels:
                self._subs[channel].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription):
        with self._lock:
            for channel in sub.channels:
                subs = self._subs.get(channel)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subs[channel]

    def connection_count(self) -> int:
        with self._lock:
            return len({sub for subs in self._subs.values() for sub in subs})

    def wait_ready(self, timeout: float = 5) -> bool:
        self._ensure_listener()
        return self._ready.wait(timeout)

    # --- the one listener ---
    def _ensure_listener(self):
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._listen, name="notify-hub", daemon=True)
                self._thread.start()

    def _listen(self):
        backoff = 0.5
        first = True
        while True:
            try:
                client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=3, health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(*PATTERNS)
                pubsub.get_message(timeout=1)  # wait for the subscription to be live
                self._ready.set()
                if not first:
                    self._fan_out_all(RESYNC)  # streams replay what they may have missed
                first, backoff = False, 0.5
                for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = _text(message["channel"])
                    self._fan_out(channel, _text(message["data"]))
            except redis.RedisError as exc:
                self._ready.clear()
                log.warning("notification hub lost Redis (%s); reconnecting in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)

    def _fan_out(self, channel: str, data: str):
        with self._lock:
            targets = list(self._subs.get(channel, ()))
        for sub in targets:
            try:
                sub.queue.put_nowait((channel, data))
                self.delivered += 1
            except queue.Full:  # a stuck client: make it resync from the database
                _drain(sub.queue)
                sub.queue.put_nowait(RESYNC)

    def _fan_out_all(self, item):
        with self._lock:
            targets = {sub for subs in self._subs.values() for sub in subs}
        for sub in targets:
            _drain(sub.queue)
            sub.queue.put_nowait(item)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _drain(q: queue.Queue):
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def get_hub(redis_url: str) -> Hub:
    """The process-wide hub for this Redis (created on first use, after any fork)."""
    with _hubs_lock:
        hub = _hubs.get(redis_url)
        if hub is None:
            hub = _hubs[redis_url] = Hub(redis_url)
        return hub
