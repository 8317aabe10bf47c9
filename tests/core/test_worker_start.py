"""`python worker.py` started before Redis waits for it instead of dying."""
import shutil
import subprocess
import time

import pytest
import redis

from shop import create_app
from shop.config import TestingConfig
from worker import wait_for_redis

from bench.harness.cluster import RedisServer
from tests.support.env import free_port


def start_redis(port: int, folder) -> RedisServer:
    """A redis-server without persistence on `port` (the bench harness's), answering."""
    server = RedisServer(folder, port=port)
    server.start()
    return server


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server binary")
def test_worker_waits_for_redis_then_goes_on(tmp_path, caplog):
    port = free_port()
    app = create_app(TestingConfig, REDIS_URL=f"redis://127.0.0.1:{port}/0",
                     SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'w.db'}")
    delays, server = [], []

    def sleep(delay):
        delays.append(delay)
        if len(delays) == 3:  # Redis comes up while the worker is waiting
            server.append(start_redis(port, tmp_path))

    try:
        wait_for_redis(app, sleep=sleep, max_delay=1.0)
    finally:
        for proc in server:
            proc.stop()
    assert delays == [0.5, 1.0, 1.0]  # backoff, capped
    assert sum("is not answering" in r.getMessage() for r in caplog.records) == 3


def test_a_worker_loop_ended_by_redis_trouble_is_started_again(app, monkeypatch):
    """RQ ends work() on an unexpected error (a Redis timeout mid-outage) without a stop
    request, or raises out of it (its teardown talks to Redis): run_worker waits for Redis
    and starts a new worker; a stop request ends it."""
    from datetime import datetime, timezone

    from shop.infra import jobs

    started, waited = [], []

    class Loop:
        def __init__(self, stop, raises=None):
            self.name, self.raises = "loop", raises
            self._shutdown_requested_date = datetime.now(timezone.utc) if stop else None

        def work(self, **kwargs):
            started.append(kwargs)
            if self.raises:
                raise self.raises  # RQ's teardown (register_death) raises when Redis is gone

    from redis.exceptions import ConnectionError as RedisConnectionError

    loops = iter([Loop(stop=False), Loop(stop=False, raises=RedisConnectionError("refused")), Loop(stop=True)])
    monkeypatch.setattr(jobs, "make_worker", lambda app: next(loops))
    jobs.run_worker(app, wait=waited.append)
    assert len(started) == 3 and all(k == {"with_scheduler": True} for k in started)
    assert waited == [app, app]  # waited for Redis before each restart, not after the stop


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server binary")
def test_the_scheduler_process_outlives_a_redis_restart_and_puts_its_cron_back(tmp_path):
    """`worker.py --scheduler` with Redis killed and started again empty: the process
    stays up and registers the cron entries again (the sweepers that recover from the
    outage must not be its casualties)."""
    import os
    import sys

    from shop.infra.jobs import CRON

    port = free_port()
    client = redis.Redis(port=port, socket_connect_timeout=1)

    def cron_ids():
        return {job_id.decode() for job_id in client.zrange("rq:scheduler:scheduled_jobs", 0, -1)}

    def wait_until(check, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return True
            except redis.ConnectionError:
                pass
            time.sleep(0.1)
        return False

    wanted = {job_id for job_id, _, _ in CRON}
    server = start_redis(port, tmp_path)
    env = {**os.environ, "APP_ENV": "testing", "REDIS_URL": f"redis://127.0.0.1:{port}/0",
           "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}", "SCHEDULER_INTERVAL": "1"}
    log = open(tmp_path / "scheduler.log", "wb")
    sched = subprocess.Popen([sys.executable, "worker.py", "--scheduler"], env=env, stdout=log,
                             stderr=subprocess.STDOUT, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert wait_until(lambda: cron_ids() >= wanted), (tmp_path / "scheduler.log").read_text()
        server.stop()  # SIGKILL, like a crash
        time.sleep(3.0)  # the scheduler's passes (every second) meet the outage
        server = start_redis(port, tmp_path)  # empty: the schedule went with it
        assert wait_until(lambda: cron_ids() >= wanted, timeout=30), (tmp_path / "scheduler.log").read_text()[-3000:]
        assert sched.poll() is None, (tmp_path / "scheduler.log").read_text()[-3000:]
    finally:
        sched.terminate()
        sched.wait(10)
        server.stop()
        log.close()
