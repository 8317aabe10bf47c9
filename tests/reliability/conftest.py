"""Fixtures for the reliability tests: whole clusters of real processes (see cluster.py).

They need PostgreSQL (several processes writing one database at once, with row locks);
on the SQLite pass of tests/run.py they are skipped."""
import os
import tempfile
from pathlib import Path

import pytest

from bench.harness.cluster import Cluster, postgres_url

NEEDS_POSTGRES = ("needs PostgreSQL: several gunicorn, RQ and consumer processes share one database "
                  "(TEST_DATABASE_URL is SQLite in this pass)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/reliability/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.no_db_isolation)
            if not postgres_url():
                item.add_marker(pytest.mark.skip(reason=NEEDS_POSTGRES))


def new_cluster(name: str, **env) -> Cluster:
    folder = Path(tempfile.mkdtemp(prefix=f"playcation-{name}-"))
    prefix = os.environ.get("RELIABILITY_DB_PREFIX", "playcation_rel")
    cluster = Cluster(folder, postgres_url(), f"{prefix}_{name}", **env)
    cluster.start_infrastructure()
    return cluster
