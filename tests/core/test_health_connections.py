"""/healthz under gunicorn on PostgreSQL reuses its connections: a burst of requests opens
at most workers x pool-size server sessions (pg_stat_database.sessions counts every
session the server ever started for the database)."""
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from bench.harness.cluster import Cluster, postgres_url

WORKERS = 2
CLIENTS = 20
REQUESTS = 400

pytestmark = [pytest.mark.no_db_isolation,
              pytest.mark.skipif(not postgres_url(), reason="counts PostgreSQL server sessions")]


def test_a_burst_of_healthz_requests_opens_at_most_workers_times_pool_connections():
    prefix = os.environ.get("RELIABILITY_DB_PREFIX", "playcation_rel")
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="playcation-healthz-")), postgres_url(), f"{prefix}_healthz",
                      WEB_CONCURRENCY=WORKERS, DB_MAX_CONNECTIONS=30, DB_RESERVED_CONNECTIONS=2, WORKER_PROCESSES=0)
    pool_size = (30 - 2) // WORKERS
    try:
        cluster.start_infrastructure()
        node = cluster.start_node()
        sessions = "SELECT sessions FROM pg_stat_database WHERE datname = %s"
        before = cluster.scalar(sessions, cluster.db_name)
        done, statuses, lock = [0], [], threading.Lock()

        def visitor():
            http = requests.Session()
            while True:
                with lock:
                    if done[0] >= REQUESTS:
                        return
                    done[0] += 1
                statuses.append(http.get(node.url + "/healthz", timeout=30).status_code)

        threads = [threading.Thread(target=visitor) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.5)
        opened = cluster.scalar(sessions, cluster.db_name) - before - 1  # less this query's own session
        assert statuses == [200] * REQUESTS
        assert opened <= WORKERS * pool_size, opened
        # and in fact one warm connection per worker serves it (each asks once a second)
        assert opened <= WORKERS, opened
    finally:
        cluster.stop()
