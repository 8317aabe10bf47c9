"""The one place that builds Redis clients from a URL.

`make run` hands out a `unix://` URL (the embedded redis-server listens on a socket),
production a `redis://` or `rediss://` one. redis-py's unix-socket connection refuses
TCP-only keywords (`socket_keepalive`, `socket_keepalive_options`) with a TypeError, so
a client built with them works over TCP and dies on the socket. Every client in the
app is built here, with only the options its scheme accepts.
"""
from queue import Empty, LifoQueue
from urllib.parse import urlsplit

import redis
from flask import current_app

from ..errors import PoolBusy

SCHEMES = ("redis", "rediss", "unix")
# Only meaningful on a TCP socket; UnixDomainSocketConnection raises TypeError for them.
TCP_ONLY = ("socket_keepalive", "socket_keepalive_options")


class _Slots(LifoQueue):
    """BlockingConnectionPool's queue of free connections, raising PoolBusy instead of
    the pool's generic ConnectionError("No connection available.") when a wait runs out,
    so the two are told apart by class, not by message."""

    def get(self, block=True, timeout=None):
        try:
            return super().get(block, timeout)
        except Empty:
            if not block:
                raise
            raise PoolBusy(f"all {self.maxsize} Redis connections of this process stayed busy for {timeout} s") from None


def scheme(url: str) -> str:
    """`redis`, `rediss` or `unix`; raises ValueError for anything else."""
    found = urlsplit(url).scheme
    if found not in SCHEMES:
        raise ValueError(f"Redis URL must start with redis://, rediss:// or unix://, not {url!r}")
    return found


def options_for(url: str, **options) -> dict:
    """`options` less the ones the URL's connection class would refuse."""
    if scheme(url) == "unix":
        return {k: v for k, v in options.items() if k not in TCP_ONLY}
    return options


def client(url: str, *, blocking: bool = False, max_connections: int | None = None,
           pool_timeout: float | None = None, **options) -> redis.Redis:
    """A client for `url`. `blocking=True` gives a pool whose callers wait up to
    `pool_timeout` seconds for one of `max_connections` (gevent workers may have
    hundreds of greenlets asking at once) instead of failing, and then raise PoolBusy."""
    options = options_for(url, **options)
    if blocking:
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections or 50, timeout=pool_timeout or 5, queue_class=_Slots, **options)
    else:
        if max_connections:
            options["max_connections"] = max_connections
        pool = redis.ConnectionPool.from_url(url, **options)
    return redis.Redis(connection_pool=pool)


def limiter_storage_uri(url: str) -> str:
    """Flask-Limiter (the `limits` package) spells a unix-socket URL `redis+unix://`."""
    if scheme(url) == "unix":
        return "redis+unix://" + url[len("unix://"):]
    return url


class RedisClients:
    """Two clients on one URL: `store` decodes to str for our own keys; `raw`
    keeps bytes, which RQ requires."""

    def init_app(self, app):
        url = app.config["REDIS_URL"]
        opts = dict(socket_connect_timeout=2, socket_timeout=5, health_check_interval=30, socket_keepalive=True,
                    blocking=True, max_connections=int(app.config.get("REDIS_MAX_CONNECTIONS", 200)),
                    pool_timeout=float(app.config.get("REDIS_POOL_TIMEOUT", 10)))
        # A blocking pool: under gevent hundreds of greenlets may want a connection at
        # once; redis-py's default pool raises "Too many connections" past its limit, this
        # one makes them wait (REDIS_POOL_TIMEOUT, 10 s) for one of max_connections per
        # process, then raises PoolBusy. Only the socket timeouts (connect 2 s, reply 5 s)
        # and refused connections mean Redis is down.
        app.extensions["redis_store"] = client(url, decode_responses=True, **opts)
        app.extensions["redis_raw"] = client(url, **opts)

    @property
    def store(self) -> redis.Redis:
        return current_app.extensions["redis_store"]

    @property
    def raw(self) -> redis.Redis:
        return current_app.extensions["redis_raw"]


redis_clients = RedisClients()
