"""The WSGI app bench/sse.py serves: `wsgi:app` unchanged, plus bench-only routes
that are answered here and never reach Flask:

  GET /__bench/stats        what only the worker can see: open streams in the hub,
                            the SQLAlchemy pool (connections checked out right now),
                            the wait function psycopg picked, RSS, garbage-collector
                            pauses and event-loop lag since the last `?reset=1`.
  GET /__bench/profile?action=start|stop   cProfile of the whole worker in between
                            (stop returns the top functions by own time).
  GET /__bench/pg_sleep?s=1 `SELECT pg_sleep(s)` through the app's own engine and
                            session; ten of them at once finish in ~1 s if psycopg
                            cooperates with gevent and in ~10 s if it blocks the worker.

Only bench/sse.py starts gunicorn with this module (on 127.0.0.1); production serves
`wsgi:app`.
"""
import gc
import json
import os
import sys
import time

from sqlalchemy import text

from wsgi import app as flask_app
from shop.extensions import db
from shop.web.sse import get_hub


# --- diagnostics: GC pauses (gc.callbacks) and event-loop lag (a greenlet that asks
# to sleep 10 ms and records how late it wakes up: anything that holds the worker's
# only thread - CPU work, a blocking call, a GC pass, or the OS not scheduling us).
_gc_state = {"start": 0.0, "cpu": 0.0}
_gc_stats = {}
_lag = {}
_lag_started = []


def _reset():
    _gc_stats.update(count=[0, 0, 0], total_ms=[0.0, 0.0, 0.0], max_ms=[0.0, 0.0, 0.0],
                     cpu_total_ms=[0.0, 0.0, 0.0], cpu_max_ms=[0.0, 0.0, 0.0])
    _lag.update(samples=0, max_ms=0.0, over_20ms=0, over_100ms=0)


def _gc_callback(phase, info):
    # wall time (what the streams wait) and CPU time (the pass itself, without the
    # time the OS gave the CPU to other processes meanwhile)
    if phase == "start":
        _gc_state["start"], _gc_state["cpu"] = time.perf_counter(), time.thread_time()
        return
    d = (time.perf_counter() - _gc_state["start"]) * 1000
    c = (time.thread_time() - _gc_state["cpu"]) * 1000
    g = info["generation"]
    _gc_stats["count"][g] += 1
    _gc_stats["total_ms"][g] += d
    _gc_stats["max_ms"][g] = max(_gc_stats["max_ms"][g], d)
    _gc_stats["cpu_total_ms"][g] += c
    _gc_stats["cpu_max_ms"][g] = max(_gc_stats["cpu_max_ms"][g], c)


def _lag_monitor():
    import gevent

    while True:
        t = time.perf_counter()
        gevent.sleep(0.01)
        late = (time.perf_counter() - t - 0.01) * 1000
        _lag["samples"] += 1
        _lag["max_ms"] = max(_lag["max_ms"], late)
        _lag["over_20ms"] += late > 20
        _lag["over_100ms"] += late > 100


_reset()
gc.callbacks.append(_gc_callback)

# Experiments only (bench/sse.py --worker-gc): e.g. "freeze" or "freeze,50000" (gen0 threshold).
if os.environ.get("BENCH_WORKER_GC"):
    _spec = os.environ["BENCH_WORKER_GC"].split(",")
    if len(_spec) > 1:
        gc.set_threshold(int(_spec[1]), *gc.get_threshold()[1:])
    if "freeze" in _spec:
        gc.collect()
        gc.freeze()


def _json(start_response, body, status="200 OK"):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _stats(reset=False):
    import psutil

    if not _lag_started and "gevent.monkey" in sys.modules:
        import gevent

        _lag_started.append(gevent.spawn(_lag_monitor))
    hub = get_hub(flask_app.config["REDIS_URL"])
    with flask_app.app_context():
        engine = db.engine  # no connection is checked out to read the pool's counters
        pool = engine.pool
        pool_info = {"class": type(pool).__name__, "status": pool.status()}
        for name in ("size", "checkedout", "checkedin", "overflow"):
            fn = getattr(pool, name, None)
            if callable(fn):
                pool_info[name] = fn()
    waiting = sys.modules.get("psycopg.waiting")
    gevent_monkey = sys.modules.get("gevent.monkey")
    patched = {}
    if gevent_monkey is not None:
        patched = {m: gevent_monkey.is_module_patched(m)
                   for m in ("socket", "select", "selectors", "threading", "queue")}
    return {
        "pid": os.getpid(),
        "rss": psutil.Process().memory_info().rss,
        "hub_streams": hub.connection_count(),
        "hub_delivered": hub.delivered,
        "hub_listener_alive": bool(hub._thread is not None and hub._thread.is_alive()),
        "pool": pool_info,
        "psycopg_wait": getattr(getattr(waiting, "wait", None), "__name__", None) if waiting else None,
        "gevent_patched": patched,
        "db_dialect": engine.dialect.name,
        "gc": {k: [round(x, 1) for x in v] for k, v in _gc_stats.items()},
        "gc_objects": len(gc.get_objects()) if reset in ("objects", "census") else None,
        "census": _census() if reset == "census" else None,
        "loop_lag": {k: round(v, 1) for k, v in _lag.items()},
    }


def _census(top=60):
    """The most numerous object types in the worker (to see what one stream costs)."""
    from collections import Counter

    counts = Counter(type(o).__qualname__ for o in gc.get_objects())
    return counts.most_common(top)


_profiler = []


def _profile(action):
    import cProfile
    import io
    import pstats

    if action == "start":
        _profiler[:] = [cProfile.Profile()]
        _profiler[0].enable()
        return {"profiling": True}
    prof = _profiler.pop()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(35)
    cum = io.StringIO()
    pstats.Stats(prof, stream=cum).sort_stats("cumulative").print_stats(45)
    return {"tottime": out.getvalue(), "cumulative": cum.getvalue()}


def _pg_sleep(seconds: float):
    start = time.monotonic()
    with flask_app.app_context():
        db.session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        db.session.remove()
    return {"slept": seconds, "elapsed": time.monotonic() - start}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/__bench/"):
        return flask_app(environ, start_response)
    if environ.get("REMOTE_ADDR") != "127.0.0.1":
        return _json(start_response, {"error": "loopback only"}, "403 Forbidden")
    qs = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    if path == "/__bench/stats":
        body = _stats(qs.get("reset"))
        if qs.get("reset"):
            _reset()
        return _json(start_response, body)
    if path == "/__bench/profile":
        return _json(start_response, _profile(qs.get("action")))
    if path == "/__bench/pg_sleep":
        seconds = float(qs.get("s", 1))
        return _json(start_response, _pg_sleep(min(seconds, 5.0)))
    return _json(start_response, {"error": "not found"}, "404 Not Found")
