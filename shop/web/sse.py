"""Server-sent events: the hub, the channel names, the frame format and `stream()`.

One Redis pub/sub connection per web process, fanned out to every open stream.

A browser's SSE stream registers a small queue for its channels; a single listener
thread (a greenlet under gunicorn's gevent workers) pattern-subscribes to
`notify:user:*` and `broadcast:*` and puts each message, as ONE `Message` object, into
the queues of that channel. So 5,000 open streams cost one Redis connection, not 5,000,
and what a stream makes of a message can be made once per process (`Message.once`:
e.g. a toast rendered once per language) and sent as the same bytes to every stream.

If the listener loses Redis it reconnects with backoff and tells every stream to
`resync`: the stream then replays from the database whatever it may have missed.
A connection that dies without a FIN/RST (a failover, a NAT or firewall dropping an
idle flow) is noticed too: the listener PINGs after IDLE_PING_SECONDS of silence and
reconnects when nothing at all has come back within DEAD_AFTER_SECONDS.
"""
import logging
import os
import queue
import threading
import time
from collections import defaultdict

import redis

from ..infra import metrics, redisconn

log = logging.getLogger(__name__)

PATTERNS = ("notify:user:*", "broadcast:*")
RESYNC = object()
HEARTBEAT = ": heartbeat\n\n"  # an SSE comment line
IDLE_PING_SECONDS = 15
DEAD_AFTER_SECONDS = 30


SITE_CHANNEL = "broadcast:site"  # site-wide announcements: every open notification stream gets them


def user_channel(user_id: int) -> str:
    """A user's notifications: the id of each new row is published here after commit."""
    return f"notify:user:{user_id}"


def coupon_channel(event_id: int) -> str:
    """A coupon drop's remaining count, published as it changes."""
    return f"broadcast:coupon:{event_id}"


def frame(data, event: str | None = None, id=None) -> str:
    """One SSE frame: `id:`, `event:`, then one `data:` line per line of `data`, ended
    by a blank line (the order of fields does not matter to browsers)."""
    lines = [] if id is None else [f"id: {id}"]
    if event:
        lines.append(f"event: {event}")
    lines += [f"data: {line}" for line in str(data).splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


class Message(tuple):
    """One pub/sub message as every subscribed stream of this process receives it: the
    same object in each queue. It compares and unpacks as `(channel, data)`.
    `once(key, make)` is a memo shared by those streams: the first to ask makes the
    value, the others (greenlets asking meanwhile) wait for it and get the same object."""

    def __new__(cls, channel: str, data: str):
        self = super().__new__(cls, (channel, data))
        self._made = {}
        self._lock = threading.Lock()
        return self

    channel = property(lambda self: self[0])
    data = property(lambda self: self[1])

    def once(self, key, make):
        made = self._made
        if key in made:  # the common case, without the lock
            return made[key]
        with self._lock:
            if key not in made:
                made[key] = make()
            return made[key]


class Subscription:
    def __init__(self, hub, channels):
        self.hub = hub
        self.channels = tuple(channels)
        self.queue: queue.Queue = queue.Queue(maxsize=256)
        self.open = True
        metrics.stream_opened()

    def get(self, timeout: float):
        """a Message ((channel, data)) or RESYNC; raises queue.Empty after `timeout` seconds."""
        return self.queue.get(timeout=timeout)

    def messages(self, beat: float):
        """Every message as it arrives (a Message or RESYNC), and HEARTBEAT after
        each `beat` seconds without one. An SSE view turns these into frames; the
        heartbeat keeps proxies from closing the stream and finds dead clients (the
        write fails) within one interval."""
        next_beat = time.monotonic() + beat
        while True:
            try:
                item = self.get(timeout=max(next_beat - time.monotonic(), 0.05))
            except queue.Empty:
                next_beat = time.monotonic() + beat
                yield HEARTBEAT
                continue
            yield item

    def close(self):
        """Idempotent: the response's close and the generator's end both call it."""
        if self.open:
            self.open = False
            metrics.stream_closed()
        self.hub.unsubscribe(self)


class Hub:
    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._listener_pid = 0  # the process whose listener is running (0: none)
        self._ready = threading.Event()
        self.delivered = 0

    # --- streams ---
    def subscribe(self, *channels: str) -> Subscription:
        self._ensure_listener()
        sub = Subscription(self, channels)
        with self._lock:
            for channel in channels:
                self._subs[channel].add(sub)
        self._ensure_listener()  # again: an idle listener may have stopped in between
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
        # A flag, not Thread.is_alive(): under gevent, is_alive() on a running thread
        # is a failed non-blocking lock acquire, and gevent then yields to the event
        # loop, so every subscribe() would pause the request (holding its database
        # connection) for a trip round the loop. The pid restarts it after a fork.
        if self._listener_pid == os.getpid():
            return
        with self._lock:
            if self._listener_pid != os.getpid():
                self._listener_pid = os.getpid()
                self._thread = threading.Thread(target=self._run_listener, name="notify-hub", daemon=True)
                self._thread.start()

    def _run_listener(self):
        try:
            self._listen()
        finally:  # idle with Redis down, or a bug (Redis errors are retried): the next subscribe restarts it
            with self._lock:
                if self._thread is threading.current_thread():
                    self._ready.clear()
                    self._listener_pid = 0
                    self._thread = None

    def _listen(self):
        backoff = 0.5
        first = True
        while True:
            pubsub = None
            try:
                client = redisconn.client(self.redis_url, socket_connect_timeout=3, socket_keepalive=True)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(*PATTERNS)
                pubsub.get_message(timeout=1)  # wait for the subscription to be live
                self._ready.set()
                if not first:
                    self._fan_out_all(RESYNC)  # streams replay what they may have missed
                first, backoff = False, 0.5
                self._pump(pubsub)
            except redis.RedisError as exc:
                self._ready.clear()
                with self._lock:
                    if not self._subs:  # nobody is listening: stop; the next subscribe starts it again
                        self._listener_pid, self._thread = 0, None
                        log.info("notification hub lost Redis (%s) with no open streams; listener stopped", exc)
                        return
                log.warning("notification hub lost Redis (%s); reconnecting in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001 - the connection is being dropped anyway
                        pass

    def _pump(self, pubsub):
        """Copy messages to the streams until the connection fails or goes silent.
        (`pubsub.listen()` would wait forever on a connection that died silently.)"""
        heard = time.monotonic()
        pinged = False
        while True:
            message = pubsub.get_message(timeout=1.0)
            if message is None:
                silent = time.monotonic() - heard
                if silent > DEAD_AFTER_SECONDS:
                    raise redis.ConnectionError(f"no reply from Redis for {silent:.0f}s")
                if silent > IDLE_PING_SECONDS and not pinged:
                    pubsub.ping()  # answered as a `pong` message on this connection
                    pinged = True
                continue
            heard, pinged = time.monotonic(), False
            if message.get("type") == "pmessage":
                self._fan_out(_text(message["channel"]), _text(message["data"]))

    def _fan_out(self, channel: str, data: str):
        with self._lock:
            targets = list(self._subs.get(channel, ()))
        if not targets:
            return
        message = Message(channel, data)  # one object for every stream of the channel
        for sub in targets:
            try:
                sub.queue.put_nowait(message)
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


def sse_response(events, subscription):
    """A text/event-stream response for the `events` generator. The subscription is
    closed when the response is, even if the body is never iterated (a client gone
    before the first byte)."""
    from flask import Response

    response = Response(events, mimetype="text/event-stream")
    response.call_on_close(subscription.close)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: don't buffer the stream
    return response


def stream(channels, render=None, *, first=None, on_resync=None, retry_ms: int = 3000, shared=None,
           per_message=None):
    """A text/event-stream response fed by the hub.

    Subscribes to `channels` first, then calls `first()` (in the request, so anything
    committed after it reaches the subscription) for the opening frames, and releases
    the request's database connection before the long wait. Each message becomes frames
    (or "" to send nothing) in one of three ways:
      - `shared(channel, data)`: a pure function of the message, run once per process
        (in an app context) whatever the number of streams (keyed by its code, so it
        must not depend on what it closes over); every stream sends the same bytes;
      - `per_message(message)`: called without an app context for each stream, for what
        depends on the stream (its language, what it already sent); it uses
        `message.once()` for the work all streams share;
      - `render(channel, data)`: per stream, in an app context.
    After the hub lost Redis, `on_resync()` (in an app context) sends what may have been
    missed. A heartbeat comment goes out every SSE_HEARTBEAT_SECONDS so proxies keep the
    stream open and dead clients are found."""
    from flask import current_app

    from ..extensions import db

    app = current_app._get_current_object()
    subscription = get_hub(app.config["REDIS_URL"]).subscribe(*channels)
    try:
        opening = first() if first else ""
    except BaseException:
        subscription.close()
        raise
    finally:
        db.session.remove()  # hold no database connection while the stream idles
    beat = app.config.get("SSE_HEARTBEAT_SECONDS", IDLE_PING_SECONDS)

    def made_once(message):
        def make():
            with app.app_context():
                return (shared(*message) or "").encode()
        return message.once(shared.__code__, make)  # the same code for every stream's closure

    def out_of(item):
        if item is RESYNC:
            if not on_resync:
                return ""
            with app.app_context():
                return on_resync()
        if shared is not None:
            return made_once(item)
        if per_message is not None:
            return per_message(item)
        with app.app_context():
            return render(*item)

    def events():
        try:
            yield f"retry: {retry_ms}\n" + (opening or "\n")
            for item in subscription.messages(beat):
                out = item if item is HEARTBEAT else out_of(item)
                if out:
                    yield out
        finally:
            subscription.close()

    return sse_response(events(), subscription)
