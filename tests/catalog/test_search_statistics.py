"""PostgreSQL search reads pg_stats through a cache that is single-flight: a burst of
searches on a cold or stale cache runs the statistics queries once."""
import threading
import time

import pytest
from sqlalchemy import event

from shop.catalog import search_pg
from shop.extensions import db

pytestmark = pytest.mark.no_db_isolation  # each thread takes its own pooled connection
THREADS = 8


class WatchedLock:
    """A real lock that counts callers waiting on it, so the test can wait for all of
    them to be queued instead of sleeping."""

    def __init__(self):
        self.lock, self.waiting = threading.Lock(), 0
        self.count_lock = threading.Lock()

    def acquire(self, blocking=True):
        if blocking:
            with self.count_lock:
                self.waiting += 1
        return self.lock.acquire(blocking)

    def release(self):
        self.lock.release()

    def __enter__(self):
        self.acquire()

    def __exit__(self, *exc):
        self.release()


@pytest.fixture
def pg(app, monkeypatch):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the statistics cache is PostgreSQL's (SQLite's FTS5 needs none)")
        engine = db.engine
    reads = []

    def count(conn, cursor, statement, *args):
        if "FROM pg_class WHERE oid = 'games'" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    lock = WatchedLock()
    monkeypatch.setattr(search_pg, "_lock", lock)
    monkeypatch.setattr(search_pg, "_cache", {})
    yield lock, reads
    event.remove(engine, "before_cursor_execute", count)


def _burst(app, lock, expect_waiting: int):
    """THREADS callers of statistics() at once while the test holds the lock; it is
    let go once `expect_waiting` of them queue on it (and the rest returned)."""
    results, errors = [], []

    def call():
        try:
            with app.app_context():
                results.append(search_pg.statistics())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    lock.lock.acquire()
    threads = [threading.Thread(target=call) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while lock.waiting < expect_waiting or len(results) < THREADS - expect_waiting:
        assert time.monotonic() < deadline, (lock.waiting, len(results))
        time.sleep(0.005)
    served_before_release = list(results)
    lock.lock.release()
    for thread in threads:
        thread.join(20)
    assert not errors and len(results) == THREADS
    return results, served_before_release


def test_a_cold_cache_is_read_once_by_a_burst_of_searches(app, pg):
    lock, reads = pg
    results, _ = _burst(app, lock, expect_waiting=THREADS)
    assert len(reads) == 1
    assert all(r is results[0] for r in results)


def test_a_stale_cache_is_refreshed_once_while_the_others_use_the_old_copy(app, pg):
    lock, reads = pg
    with app.app_context():
        old = search_pg.statistics()
        key = db.engine.engine.url.render_as_string(hide_password=True)
    search_pg._cache[key] = (time.monotonic() - 1, old)  # expired
    reads.clear()
    # Nobody waits: with the lock held (a refresh under way) every caller keeps the old copy.
    results, before = _burst(app, lock, expect_waiting=0)
    assert len(before) == THREADS and all(r is old for r in results) and reads == []
    # Once free, the next caller refreshes it, once.
    with app.app_context():
        fresh = search_pg.statistics()
        assert fresh is not old and search_pg.statistics() is fresh
    assert len(reads) == 1
