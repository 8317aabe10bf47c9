#!/usr/bin/env python
"""SSE fan-out benchmark: N streams of ONE user (one channel) on one gunicorn gevent
worker, M notifications published at a fixed rate; every stream must get every one.

    .venv/bin/python bench/sse_fanout.py --connections 2000 --rate 5 --messages 50 --db sqlite
    .venv/bin/python bench/sse_fanout.py --connections 2000 --rate 5 --messages 50 --db postgres
    .venv/bin/python bench/sse_fanout.py --connections 50 --messages 5 --no-floor --no-before  # a quick look

The case of a publisher with many tabs and devices open while reviews arrive (issue
#21: 2,000 streams at 5 reviews/s reached delays of 34-114 s). Three servers, one after
the other, measured with the same clients in the same run:

  floor   a bare gevent SSE server (bench/sse.py --floor-server): one pattern
          subscription, a queue per stream, no Flask or database: the baseline;
  before  the store at --before (default `3f6764b`, the last revision that rendered per stream), exported with `git archive` into the
          temp dir and served from there (one query and one render per stream and
          message);
  after   this checkout (one query per process and message, one render per language).

Each notification row is committed just before its id is PUBLISHed on
`notify:user:<id>`, as the store does; latency = the stream received the frame with that
id - the PUBLISH, for every (stream, message). The worker's database pool is sampled
during the run (connections checked out). Bounded (--time-limit); stops what it started.
Setup and figures: docs/benchmarks.md, "SSE fan-out".
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.lock  # noqa: E402
import psutil  # noqa: E402
import redis  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (bulk_users, fresh_database, host, latency_summary, log,  # noqa: E402
                           migrate, raise_nofile, redis_or_private, stop_servers, table)
from bench.sse import UA, USER_ID_BASE, AppServer, FloorServer, Results, Stream, bench_cpu, cpu_seconds  # noqa: E402
from bench.sse import run_and_report  # noqa: E402

clock = time.perf_counter


class Receipts(dict):
    """Every receipt, not just the first: {notification id: [(time, stream index)]}
    (bench.sse.Stream records a notification with `results.notif.setdefault`)."""

    def setdefault(self, key, value):
        self.get(key) or dict.__setitem__(self, key, [])
        self[key].append(value)
        return value


FRAME = re.compile(rb"(?:id: (\d+)\n)?event: (notification|ready)\n")


class LightStream(Stream):
    """bench.sse.Stream with a cheaper reader: 2,000 streams x 5 messages/s is 10,000
    frames a second for this one process, and full chunked + SSE parsing made the
    client, not the server, the bottleneck. Each frame is one chunk of the response (one
    write per frame on every server here), so the `id:`/`event:` lines are contiguous;
    only bytes up to the last complete frame are scanned, the rest waits for more."""

    __slots__ = ()

    def feed(self, t, results):
        end = self.raw.rfind(b"\n\n")
        if end < 0:
            return True
        done, self.raw = self.raw[:end + 2], self.raw[end + 2:]
        for nid, kind in FRAME.findall(done):
            if kind == b"ready":
                if self.ready_at is None:
                    self.ready_at = t
                    results.ready += 1
            else:
                results.notif.setdefault(int(nid), (t, self.idx))
        return True  # the end of the response shows as the connection closing


def worker_cpu(server):
    """The worker's CPU seconds, or None once it is gone (gunicorn replaced a worker that
    stopped answering its heartbeat)."""
    try:
        return cpu_seconds(server.worker)
    except psutil.Error:
        return None


def fresh_results():
    results = Results()
    results.notif = Receipts()
    return results


class OneChannel:
    """Every stream is the same user's: one channel."""

    def uid(self, idx):
        return USER_ID_BASE


class FloorOne(OneChannel, FloorServer):
    pass


class AppOne(OneChannel, AppServer):
    def __init__(self, bench, name, root):
        self.name, self.root = name, root  # before Server.__init__, which names the log after it
        super().__init__(bench)

    def spawn(self, argv=None, env=None, app_spec=None):
        from bench.harness import start_gunicorn

        nofile = self.bench.nofile

        def limits():
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.proc = start_gunicorn(app_spec, env, self.log_path, name=self.name, preexec_fn=limits, cwd=self.root)

    def request(self, idx):
        return (f"GET /notifications/stream HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUser-Agent: {UA}\r\n"
                f"Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
                f"Cookie: {self.bench.cookie_name}={self.bench.cookie}\r\n\r\n").encode()


class FanoutBench:
    def __init__(self, args):
        self.args = args
        self.n = args.connections
        self.tmp = Path(tempfile.mkdtemp(prefix="playcation-bench-fanout-"))
        self.secret = secrets.token_hex(32)
        self.redis_url, self.redis_server = redis_or_private(args.redis_url, self.tmp)
        self.pub = redis.Redis.from_url(self.redis_url)
        self.app = None
        self.servers = []
        self.report = {"connections": self.n, "rate_per_s": args.rate, "messages": args.messages, "db": args.db,
                       "host": host()}
        if args.db == "sqlite":
            self.db_url = f"sqlite:///{self.tmp / 'bench.db'}"
        else:
            self.db_url = args.pg_url.rstrip("/") + "/" + args.pg_db

    def child_env(self):
        env = dict(os.environ)
        env.update(APP_ENV="development", SECRET_KEY=self.secret, DATABASE_URL=self.db_url,
                   REDIS_URL=self.redis_url, PYTHONUNBUFFERED="1")
        return env

    # ---- setup
    def setup_store(self):
        if self.args.db == "postgres":
            fresh_database(self.args.pg_url, self.args.pg_db)
        migrate(self.child_env())
        from shop import create_app
        from shop.config import DevelopmentConfig

        self.app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=self.db_url, REDIS_URL=self.redis_url,
                              SECRET_KEY=self.secret, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True})
        [user] = bulk_users(self.app, 1, USER_ID_BASE, "fanout", UA)
        self.cookie, self.cookie_name = user.cookie, self.app.config["SESSION_COOKIE_NAME"]
        self.next_floor_id = 0

    def export_before(self) -> Path:
        """The store at --before, as files (git archive: the repository is not touched)."""
        rev = subprocess.run(["git", "rev-parse", "--short", self.args.before], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        root = self.tmp / "before"
        root.mkdir()
        archive = subprocess.Popen(["git", "archive", rev], cwd=ROOT, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(root)], stdin=archive.stdout, check=True)
        archive.wait()
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile", "-d", "translations", "-l", "ko"],
                       cwd=root, check=True, capture_output=True)
        self.report["before_revision"] = rev
        return root

    def insert_notifications(self, uids):
        from sqlalchemy import insert

        from shop.extensions import db
        from shop.notifications.models import Notification
        from shop.timeutil import utcnow

        table = Notification.__table__
        rows = [{"user_id": uid, "kind": "review", "params": {"nickname": "Bench", "title": "Fan-out", "rating": 4},
                 "link": "/notifications", "created_at": utcnow()} for uid in uids]
        with self.app.app_context():
            ids = db.session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars()
            pairs = [(uid, nid) for uid, nid in zip(uids, ids)]
            db.session.commit()
            db.session.remove()
        return pairs

    # ---- one server
    def open_stream(self, server, idx, gate):
        s = LightStream(idx, server.uid(idx), server.request(idx))
        s.greenlet = gevent.spawn(s.run, server.port, server.results, gate)
        return s

    def warm_up(self, server):
        server.warm = self.open_stream(server, self.n, gevent.lock.BoundedSemaphore(1))
        deadline = clock() + 60
        while server.warm.ready_at is None:
            if clock() > deadline or server.results.errors:
                raise RuntimeError(f"{server.name}: warm-up failed {server.results.errors}\n{server.log_tail()}")
            gevent.sleep(0.02)
        [(uid, nid)] = server.prepare_notifications([server.uid(0)])
        while nid not in server.results.notif:
            if clock() > deadline:
                raise RuntimeError(f"{server.name}: warm-up notification never arrived\n{server.log_tail()}")
            self.pub.publish(server.notify_channel(uid), str(nid))
            gevent.sleep(0.3)

    def measure(self, server):
        server.results = fresh_results()
        if isinstance(server, AppServer):
            out = {"server": server.start()}
            server.prepare_notifications = self.insert_notifications
        else:
            server.start()
            out = {}
        self.warm_up(server)
        gate = gevent.lock.BoundedSemaphore(self.args.connect_concurrency)
        t0 = clock()
        server.streams = [self.open_stream(server, i, gate) for i in range(self.n)]
        deadline = t0 + self.args.connect_timeout
        while clock() < deadline and any(s.ready_at is None and not s.greenlet.dead for s in server.streams):
            gevent.sleep(0.1)
        failed = sorted({i for i, _ in server.results.errors})
        first_errors = list(server.results.errors)
        if failed and len(failed) <= max(10, self.n // 100):  # retried once, as bench/sse.py does
            log(f"{server.name}: {len(failed)} stream(s) failed on the first attempt ({first_errors[0][1]}); retrying")
            server.results.errors = []
            for i in failed:
                server.streams[i] = self.open_stream(server, i, gate)
            while clock() < deadline and any(s.ready_at is None and not s.greenlet.dead for s in server.streams):
                gevent.sleep(0.1)
        ready = sum(1 for s in server.streams if s.ready_at is not None)
        out["connect"] = {"ready": ready, "seconds": round(clock() - t0, 1), "errors": len(server.results.errors),
                          "first_attempt_errors": len(first_errors),
                          "first_attempt_error_samples": sorted({e for _, e in first_errors})[:3]}
        log(f"{server.name}: {ready}/{self.n} streams ready in {clock() - t0:.1f}s")
        if ready < self.n:
            raise RuntimeError(f"{server.name}: {self.n - ready} streams failed: {server.results.errors[:3]}\n"
                               f"{server.log_tail()}")
        gevent.sleep(self.args.settle)
        out.update(self.publish_and_wait(server))
        server.stop()
        return out

    def publish_and_wait(self, server):
        expected = self.n + 1  # the N streams and the warm-up stream
        pool, sampling = {"max_checked_out": 0, "samples": 0}, [True]

        def sample_pool():
            while sampling[0] and isinstance(server, AppServer):
                try:
                    checked = server.stats()["pool"].get("checkedout", 0)
                    pool["max_checked_out"] = max(pool["max_checked_out"], checked)
                    pool["samples"] += 1
                except Exception:  # noqa: BLE001 - a busy worker answers late; keep sampling
                    pass
                gevent.sleep(0.5)

        sampler = gevent.spawn(sample_pool)
        sent = {}
        period = 1.0 / self.args.rate
        cpu0, bcpu0 = worker_cpu(server), bench_cpu()
        start = clock() + 0.1
        for j in range(self.args.messages):
            [(uid, nid)] = server.prepare_notifications([server.uid(0)])
            at = start + j * period
            if at > clock():
                gevent.sleep(at - clock())
            self.pub.publish(server.notify_channel(uid), str(nid))
            sent[nid] = clock()
        last = clock()
        receipts = server.results.notif
        while clock() < last + self.args.drain_timeout:
            if all(len(receipts.get(nid, ())) >= expected for nid in sent):
                break
            gevent.sleep(0.05)
        drained = clock() - last
        sampling[0] = False
        sampler.join(timeout=5)
        cpu_now = worker_cpu(server)
        cpu = None if cpu_now is None else cpu_now - cpu0
        bench_cpu_s = bench_cpu() - bcpu0
        lat = [t - sent[nid] for nid in sent for t, _ in receipts.get(nid, ())]
        per_stream = defaultdict(int)
        for nid in sent:
            for _, idx in receipts.get(nid, ()):
                per_stream[idx] += 1
        complete = sum(1 for i in list(range(self.n)) + [self.n] if per_stream[i] == len(sent))
        out = {"published": len(sent), "deliveries_expected": len(sent) * expected, "deliveries": len(lat),
               "streams_with_every_message": complete, "streams": expected,
               "latency_ms": latency_summary(lat, scale=1000, digits=1),
               "after_last_publish_s": round(drained, 1), "worker_cpu_s": None if cpu is None else round(cpu, 1),
               "worker_cpu_ms_per_message": None if cpu is None else round(cpu / len(sent) * 1000, 1),
               "worker_died": cpu is None, "db_pool": pool,
               "bench_client_cpu_s": round(bench_cpu_s, 1),
               "stream_errors": len(server.results.errors)}
        if cpu is None:
            out["server_log_tail"] = server.log_tail(30)
            log(f"{server.name}: its worker process died during the run:\n{out['server_log_tail']}")
        log(f"{server.name}: {len(lat)}/{len(sent) * expected} deliveries, {complete}/{expected} streams got every "
            f"message; p50 {out['latency_ms']['p50']} ms, p99 {out['latency_ms']['p99']} ms, max "
            f"{out['latency_ms']['max']} ms; worker CPU {out['worker_cpu_ms_per_message']} ms per message")
        return out

    def run(self):
        self.nofile = raise_nofile(max(self.n + 2000, 8000))
        self.pub.flushdb()
        if not self.args.no_floor:
            floor = FloorOne(self)
            self.servers.append(floor)
            self.report["floor"] = self.measure(floor)
        self.setup_store()
        if not self.args.no_before:
            before = AppOne(self, "before", self.export_before())
            self.servers.append(before)
            self.report["before"] = self.measure(before)
        after = AppOne(self, "after", ROOT)
        self.servers.append(after)
        self.report["after"] = self.measure(after)
        self.report["host"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return self.report

    def stop(self):
        stop_servers(self.servers, self.app, self.args.pg_url if self.args.db == "postgres" else None,
                     self.args.pg_db)
        if self.redis_server is not None:
            self.redis_server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def summary(report) -> str:
    rows, floor = [], report.get("floor")
    for name in ("floor", "before", "after"):
        r = report.get(name)
        if not r:
            continue
        lat = r["latency_ms"]
        rows.append([name, f"{r['deliveries']}/{r['deliveries_expected']}",
                     f"{r['streams_with_every_message']}/{r['streams']}", lat["p50"], lat["p99"], lat["max"],
                     round(lat["p99"] / floor["latency_ms"]["p99"], 1) if floor and lat["p99"] else None,
                     r["worker_cpu_ms_per_message"], r["db_pool"]["max_checked_out"] if name != "floor" else None])
    return table(["server", "deliveries", "complete streams", "p50 ms", "p99 ms", "max ms", "p99 / floor",
                  "CPU ms/msg", "DB conns max"], rows, [""] * 9)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--rate", type=float, default=5.0, help="messages per second")
    p.add_argument("--messages", type=int, default=50)
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/"))
    p.add_argument("--pg-db", default="playcation_bench_fanout")
    p.add_argument("--redis-url", help="a Redis DB the bench may flush (default: a private redis-server)")
    p.add_argument("--before", default="3f6764b", help="the revision measured as `before` (default: the last one rendering per stream)")
    p.add_argument("--no-before", action="store_true")
    p.add_argument("--no-floor", action="store_true")
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument("--connect-timeout", type=float, default=300)
    p.add_argument("--settle", type=float, default=3)
    p.add_argument("--drain-timeout", type=float, default=60, help="seconds to wait after the last publish")
    p.add_argument("--time-limit", type=float, default=1500)
    p.add_argument("--json", help="also write the report here")
    args = p.parse_args()
    args.worker_gc = None  # bench.sse.AppServer reads it
    report = run_and_report(FanoutBench(args), args, "closing streams and servers")
    print(summary(report))


if __name__ == "__main__":
    main()
