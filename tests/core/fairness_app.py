"""A WSGI app for tests/core/test_serving.py: every response carries the worker's pid and
the order in which that worker served it ("<pid>:<n>"), and each request burns ~2 ms of
CPU (no I/O, so no greenlet switch of its own)."""
import itertools
import os
import time

from shop.infra.serving import FairGeventWorker


class OneAcceptWorker(FairGeventWorker):
    """The fair worker with gunicorn's own accept setting for several workers (one
    connection per loop iteration), for comparison."""

    accept_batch = 1

_served = itertools.count(1)


def app(environ, start_response):
    deadline = time.perf_counter() + 0.002
    while time.perf_counter() < deadline:
        pass
    body = f"{os.getpid()}:{next(_served)}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
