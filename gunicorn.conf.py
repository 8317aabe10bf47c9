"""gunicorn settings: gevent workers so one process holds thousands of idle
connections (SSE) while psycopg 3 and redis-py cooperate with gevent's sockets."""
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("BIND", "127.0.0.1:" + os.environ.get("PORT", "5000"))
# gunicorn's gevent worker, but yielding between keep-alive requests so one busy
# connection cannot hold a process (shop/infra/serving.py): the coupon storm's p99 at 50
# connections went 524 → 25 ms (same run). WORKER_CLASS=gevent is gunicorn's own.
worker_class = os.environ.get("WORKER_CLASS", "shop.infra.serving.FairGeventWorker")
# Two gevent processes per core (at most 8): CPU-bound bursts in one process no longer
# stall every connection it holds. On 2 cores an empty app's p99 at 50 connections went
# 82 → 28 ms and the coupon storm's p99 at 200 connections 7.5 → 1.6 s (docs/benchmarks.md).
workers = int(os.environ.get("WEB_CONCURRENCY", min(8, 2 * multiprocessing.cpu_count())))
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", 10000))
timeout = 60
graceful_timeout = 10
keepalive = 5
# The app's request log (shop/infra/requestlog.py) already writes one line per request, with
# its request id, user and duration; gunicorn's access log repeated it at ~70 µs a request
# (bench/coupon_storm.py, docs/benchmarks.md). ACCESS_LOG=- brings it back.
accesslog = os.environ.get("ACCESS_LOG") or None
control_socket_disable = True  # the control socket fails in sandboxes and is unused here
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Thousands of long-lived SSE streams make CPython's full GC passes cost hundreds of
    milliseconds each (bench/sse.py, docs/benchmarks.md): freeze what start-up allocated
    and collect the oldest generation far less often."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)


# Live metrics (shop/infra/metrics.py) in prometheus-client's multiprocess mode: every
# worker writes its samples under PROMETHEUS_MULTIPROC_DIR and the scrape adds them up.
# The directory must start empty (files of an earlier run would be added in), so the
# master empties the given one, or makes a temporary one, before any worker starts.
_made_metrics_dir = None


def on_starting(server):
    global _made_metrics_dir
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = _made_metrics_dir = tempfile.mkdtemp(prefix="playcation-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))


def child_exit(server, worker):
    """A dead worker's gauges stop counting (its counters and histograms stay summed in)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
