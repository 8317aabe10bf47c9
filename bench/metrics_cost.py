"""What the live metrics (shop/infra/metrics.py) cost per request.

Two gunicorn servers run side by side in the same run, the same app
(bench/metrics_app.py, a constant answer through all of Flask's hooks), the same
settings (gunicorn.conf.py, WEB_CONCURRENCY workers, multiprocess mode), one with
METRICS_ENABLED=false. wrk loads them in turns (A, B, A, B, ...) so a busy moment on the
machine hits both; the script prints each round (throughput, wrk latency, and the
workers' CPU time per request, the figure least moved by other load) and the medians. It also times the
observation itself in this process, in multiprocess mode (mmap'd files), as a floor.

    .venv/bin/python bench/metrics_cost.py [--rounds 4] [--seconds 5] [--connections 20]

Needs `wrk`. Redis is a private redis-server; the database is an unused SQLite file.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness.cluster import free_port  # noqa: E402
from bench.harness.run import http_get, redis_or_private, start_gunicorn, time_limit, wait_serving  # noqa: E402


def wrk(port: int, seconds: int, connections: int) -> dict:
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}/__bench/bare"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(p):
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": ms(50), "p99": ms(99), "requests": total,
            "non2xx": int(errors.group(1)) if errors else 0}


def worker_cpu(master_pid: int) -> float:
    """CPU seconds (user + system) used so far by the server's worker processes."""
    return sum(sum(p.cpu_times()[:2]) for p in psutil.Process(master_pid).children())


def observe_floor(n: int = 100_000) -> float:
    """µs per metrics.observe_request in multiprocess mode, in a fresh interpreter."""
    folder = tempfile.mkdtemp(prefix="metrics-floor-")
    code = ("import time; from shop.infra.metrics import observe_request as o\n"
            f"o('x', 200, 0.001); t = time.perf_counter()\n"
            f"for _ in range({n}): o('x', 200, 0.003)\n"
            f"print((time.perf_counter() - t) / {n} * 1e6)")
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                             env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=folder)).stdout
        return float(out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    servers, redis_server = {}, None
    try:
        with time_limit(120 + args.rounds * 2 * (args.seconds + 5)):
            redis_url, redis_server = redis_or_private(None, folder)
            for name, enabled in (("metrics", "true"), ("none", "false")):
                port = free_port()
                env = dict(os.environ, APP_ENV="production", SECRET_KEY="bench-" + "x" * 40,
                           DATABASE_URL=f"sqlite:///{folder / 'unused.db'}", REDIS_URL=redis_url,
                           BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(args.workers), METRICS_ENABLED=enabled,
                           PROMETHEUS_MULTIPROC_DIR=str(folder / f"prom-{name}"), PYTHONPATH=str(ROOT))
                proc = start_gunicorn("bench.metrics_app:app", env, folder / f"{name}.log", name=name)
                servers[name] = (proc, port)
            for name, (proc, port) in servers.items():
                wait_serving(proc, lambda p=port: b" 200 " in http_get(p, "/__bench/bare")[0] + b" ", name)
            status, _ = http_get(servers["none"][1], "/metrics")
            assert b" 404 " in status, status  # the route is off too
            results = {name: [] for name in servers}
            for r in range(args.rounds):
                for name, (proc, port) in servers.items():
                    cpu = worker_cpu(proc.pid)
                    res = wrk(port, args.seconds, args.connections)
                    res["cpu_us"] = (worker_cpu(proc.pid) - cpu) / res["requests"] * 1e6
                    results[name].append(res)
                    print(f"round {r + 1} {name:8} {res['rps']:8.0f} req/s  p50 {res['p50']:6.2f} ms  "
                          f"p99 {res['p99']:6.2f} ms  worker CPU {res['cpu_us']:6.0f} µs/request  "
                          f"non-2xx {res['non2xx']}", flush=True)
            _, body = http_get(servers["metrics"][1], "/metrics")
            counted = sum(float(m.group(1)) for m in re.finditer(
                rb'playcation_http_request_duration_seconds_count\{endpoint="bench_bare",status="2xx"\} ([\d.e+]+)', body))
            print(f"requests counted by /metrics on the metrics server: {counted:.0f}")
            keys = ("rps", "p50", "p99", "cpu_us")
            med = {n: {k: statistics.median(x[k] for x in rs) for k in keys} for n, rs in results.items()}
            for n, m in med.items():
                print(f"median {n:8} {m['rps']:8.0f} req/s  p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms  "
                      f"worker CPU {m['cpu_us']:6.0f} µs/request")
            print(f"metrics cost: {med['metrics']['cpu_us'] - med['none']['cpu_us']:+.0f} µs of worker CPU per request "
                  f"(median of rounds), throughput {(med['metrics']['rps'] / med['none']['rps'] - 1) * 100:+.1f} %")
            print(f"observe_request alone (multiprocess mode, one process): {observe_floor():.2f} µs")
    finally:
        for proc, _ in servers.values():
            proc.stop()
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
