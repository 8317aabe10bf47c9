"""gunicorn worker class for the web nodes (gunicorn.conf.py: `worker_class`)."""
import gevent
from gevent.server import StreamServer
from gunicorn.workers import ggevent
from gunicorn.workers.ggevent import GeventWorker

# Shortest timer: the greenlet resumes on the loop's next iteration, after every watcher
# that is ready now (sockets with a request waiting, the accept loop, timers) has run.
_NEXT_LOOP_ITERATION = 1e-6


class _BatchAcceptServer(StreamServer):
    """gevent's StreamServer taking up to `batch` waiting connections per loop iteration.

    With several workers gunicorn sets `max_accept = 1` so that one worker doesn't take
    a whole burst. But then a worker accepts one connection per loop iteration, and under
    load an iteration is long (every ready connection is served once in it): when wrk
    opened 200 connections at once, ~80 were still waiting to be accepted a second into
    the run and the last 3–4 s later (`ss` every 0.5 s). That wait was the 200-connection
    p99: bare 2,572 → 126 ms, ours 943 → 66 ms with a batch of 100 or 10 (same runs;
    docs/benchmarks.md). 10 keeps bursts spread over the workers."""

    batch = 10

    @property
    def max_accept(self):
        return self.batch

    @max_accept.setter
    def max_accept(self, value):
        pass  # gunicorn's `server.max_accept = 1`


class FairGeventWorker(GeventWorker):
    """gunicorn's gevent worker, fair between keep-alive connections.

    The stock worker reads a keep-alive connection's next request as soon as it has
    answered the last one; when that request has already arrived, the read returns at
    once and the greenlet never yields. A client that always has its next request
    waiting (wrk, a busy proxy, a bot) then holds the whole process while every other
    connection waits: in the coupon storm at 50 connections the p99 was ~500 ms with a
    p50 of 4 ms, though the app spent under 1 ms on 99 % of the claims
    (docs/benchmarks.md). Yielding after each response, until the loop's next
    iteration, serves connections in turn: p99 524 → 25 ms in the same run, for ~10 %
    of the throughput of a CPU-bound route (one more loop iteration per request).

    `gevent.sleep(0)` is not enough: it may resume this greenlet before the loop polls
    for I/O. `gevent.idle()` would wait for an idle loop, which never comes under load.
    """

    accept_batch = _BatchAcceptServer.batch

    def run(self):
        # GeventWorker.run() builds its servers from this module global; the worker is
        # its own process, so the swap touches nothing else.
        ggevent.StreamServer = type("BatchAcceptServer", (_BatchAcceptServer,), {"batch": self.accept_batch})
        super().run()

    def handle_request(self, listener_name, req, sock, addr):
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            try:
                gevent.sleep(_NEXT_LOOP_ITERATION)
            except (gevent.GreenletExit, SystemExit):
                pass  # killed at shutdown while yielding: swallowed, as gunicorn's handle_request does
