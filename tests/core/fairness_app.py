"""A WSGI app for tests/core/test_serving.py: every response carries the order in which
the worker served it, and each request burns ~2 ms of CPU (no I/O, so no greenlet switch
of its own)."""
import itertools
import time

_served = itertools.count(1)


def app(environ, start_response):
    deadline = time.perf_counter() + 0.002
    while time.perf_counter() < deadline:
        pass
    body = str(next(_served)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
