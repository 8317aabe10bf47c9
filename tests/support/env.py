"""Where the suite's servers are: the test database, Redis, a temp folder, free ports.

The database comes from TEST_DATABASE_URL (tests/run.py sets it for each pass); Redis
from TEST_REDIS_URL, else 127.0.0.1:6379 DB 13 (flushed before each test), else an
embedded redis-server.
"""
import os
import socket
import tempfile
from pathlib import Path

import redis as redis_lib

_TMP = Path(tempfile.mkdtemp(prefix="playcation-tests-"))


def _redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        return url
    try:
        redis_lib.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
        return "redis://127.0.0.1:6379/13"
    except redis_lib.RedisError:
        from shop.dev.embedded_redis import EmbeddedRedis

        server = EmbeddedRedis(_TMP / "redis", persist=False)
        import atexit

        atexit.register(server.stop)
        return server.url


DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.db'}"
REDIS_URL = _redis_url()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
