"""gunicorn worker class for the web nodes (gunicorn.conf.py: `worker_class`)."""
import gevent
from gunicorn.workers.ggevent import GeventWorker

# Shortest timer: the greenlet resumes on the loop's next iteration, after every watcher
# that is ready now (sockets with a request waiting, the accept loop, timers) has run.
_NEXT_LOOP_ITERATION = 1e-6


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

    def handle_request(self, listener_name, req, sock, addr):
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            try:
                gevent.sleep(_NEXT_LOOP_ITERATION)
            except (gevent.GreenletExit, SystemExit):
                pass  # killed at shutdown while yielding: swallowed, as gunicorn's handle_request does
