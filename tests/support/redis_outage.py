"""A Redis the test can take away: the app's job queue and publish client pointed at a
private redis-server, which `down()` kills (no persistence, so its data is gone, as
after a crash) and `up()` starts again on the same port.

Use it as a fixture: `from ..support.redis_outage import redis_outage  # noqa: F401`.
"""
import shutil
import tempfile
from pathlib import Path

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from bench.harness.cluster import RedisServer


class RedisOutage:
    def __init__(self, app, folder: Path):
        self.app = app
        self.server = RedisServer(folder)

    def clients(self):
        """The two clients the app holds (see RedisClients): bytes for RQ, str for ours.
        No retries with backoff: a stopped server is refused at once, nothing waits."""
        opts = dict(host="127.0.0.1", port=self.server.port, socket_connect_timeout=1, socket_timeout=2,
                    retry=Retry(NoBackoff(), 0))
        return redis_lib.Redis(**opts), redis_lib.Redis(decode_responses=True, **opts)

    def down(self):
        self.server.stop()

    def up(self):
        self.server.start()


@pytest.fixture
def redis_outage(app, monkeypatch):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not on PATH (Debian: apt install redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="playcation-outage-"))
    outage = RedisOutage(app, folder)
    outage.up()
    raw, store = outage.clients()
    monkeypatch.setitem(app.extensions, "redis_raw", raw)
    monkeypatch.setitem(app.extensions, "redis_store", store)
    try:
        yield outage
    finally:
        outage.down()
        raw.close()
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def sweep(app) -> int:
    """Later, with Redis back: the outbox sweeper's cron run, then the worker until the
    queue is empty (what the scheduler and worker.py would do). Rows count as stale
    after two minutes, so they are dated back first. Returns how many the sweeper
    enqueued."""
    from datetime import timedelta

    from sqlalchemy import update

    from shop.extensions import db
    from shop.infra.jobs import get_queue
    from shop.infra.mail import EmailLog
    from shop.timeutil import utcnow

    from .browser import run_jobs

    with app.app_context():
        db.session.execute(update(EmailLog).where(EmailLog.status.in_(("queued", "retrying")))
                           .values(created_at=utcnow() - timedelta(minutes=10)))
        db.session.commit()
        job = get_queue().enqueue("shop.infra.mail.requeue_stale_emails")
    run_jobs(app)
    with app.app_context():
        job.refresh()
        return job.return_value()
