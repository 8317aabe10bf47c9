#!/usr/bin/env python
"""Coupon stampede benchmark: POST /coupons/<id>/claim through gunicorn over HTTP with
logged-in users, against four other ways of doing the same claim, in ONE run.

    .venv/bin/python bench/coupon_storm.py --workers 4          # the full run (~6 min)
    .venv/bin/python bench/coupon_storm.py --users 300 --quantity 50 --connections 10 \
        --duration 2 --workers 1 --rounds 1 --only bare,ours,kill   # a quick look

Needs `wrk` and PostgreSQL; Redis is a private redis-server unless --redis-url names a
DB 2 it may flush. Bounded (--time-limit), loopback only; stops what it started and
drops the database --pg-db (--keep keeps it). Setup, runs and current figures:
docs/benchmarks.md, "Coupon storm".

Setup: the real migrations plus the comparison tables bench_events / bench_claims (no
unique constraint, so oversells show as rows); --users verified users with minted
session cookies and X-CSRFToken headers (CSRF stays on); a fresh event of --quantity
coupons per measured run; `gunicorn -c gunicorn.conf.py bench.storm_app:app` and the
coupon consumer, APP_ENV=production, COUPON_IP_PER_SECOND raised (all load is 127.0.0.1).
Load: wrk with bench/storm.lua, each request a different user; latency from wrk's
histogram.

Runs (--duration each): calibration over --workers; at --connections bare and ours
interleaved (--rounds), the empty WSGI app, ours with a cold auth cache, naive, row lock,
Redis lock, ours on an event that never sells out; at --low-connections empty, bare and
ours; the same two under gunicorn's stock gevent worker; the kill run (the consumer is
SIGKILLed with entries read but not acknowledged, then restarted). After each run of
ours: issued == N, no duplicates, nothing lost (Redis claimed set and stream vs rows),
and the persistence lag of each claim (LagWatcher).
"""
import argparse
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (Proc, Timeout, bulk_users, drop_database, fresh_database, free_port,  # noqa: E402
                           host, http_get, latency_summary, log, migrate, raise_nofile, redis_or_private,
                           start_gunicorn, table, tail, time_limit, wait_serving)

USER_ID_BASE = 7_000_001
UA = "playcation-coupon-storm"
HOT_QUANTITY = 10_000_000
clock = time.perf_counter


class LagWatcher(threading.Thread):
    """Persistence lag of each claim: from its stream entry (the id is Redis's clock, in
    ms, when the Lua script appended it) to the moment its row is seen committed in the
    database. Polls every POLL seconds on its own connection, so each figure is at most
    POLL (+ one query) late; the same clock on one box."""

    POLL = 0.02

    def __init__(self, db_url, event_id):
        super().__init__(daemon=True)
        import psycopg

        self.conn = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        self.event_id, self.last_id, self.lags = event_id, 0, []
        self.halt = threading.Event()
        self.start()

    def run(self):
        while not self.halt.is_set():
            rows = self.conn.execute("SELECT id, stream_id FROM coupons WHERE event_id = %s AND id > %s ORDER BY id",
                                     (self.event_id, self.last_id)).fetchall()
            seen = time.time()
            for row_id, stream_id in rows:
                self.last_id = row_id
                if stream_id:
                    self.lags.append(seen - int(stream_id.split("-")[0]) / 1000)
            self.halt.wait(self.POLL)

    def stop(self, expected, timeout=10):
        deadline = clock() + timeout
        while len(self.lags) < expected and clock() < deadline:
            time.sleep(self.POLL)
        self.halt.set()
        self.join(5)
        self.conn.close()
        if not self.lags:
            return None
        lag = latency_summary(self.lags, scale=1000, digits=1)
        return {"rows": lag["n"], "p50": lag["p50"], "p99": lag["p99"], "max": lag["max"], "poll_ms": self.POLL * 1000}


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="playcation-coupon-storm-"))
        self.secret = secrets.token_hex(32)
        self.port = free_port()
        self.db_url = args.pg_url.rstrip("/") + "/" + args.pg_db
        self.redis_url, self.redis_server = redis_or_private(args.redis_url, self.tmp, db=2)
        self.r = redis.Redis.from_url(self.redis_url, decode_responses=True)
        self.gunicorn: Proc | None = None
        self.consumer: Proc | None = None
        self.workers = None
        self.app = None
        self.runs = []
        self.report = {"host": host(), "args": vars(args)}

    # ------------------------------------------------------------------ setup
    def env(self, workers=None, worker_class=None):
        env = dict(os.environ)
        env.update(APP_ENV="production", SECRET_KEY=self.secret, DATABASE_URL=self.db_url,
                   REDIS_URL=self.redis_url, BIND=f"127.0.0.1:{self.port}", PYTHONUNBUFFERED="1",
                   COUPON_IP_PER_SECOND=str(self.args.ip_per_second),
                   STORM_LOCK_SLEEP=str(self.args.lock_sleep), SESSION_COOKIE_SECURE="0",
                   # the bench measures; whether its Redis is durable is the `aof` run's subject
                   COUPON_REQUIRE_DURABLE_REDIS="0")
        if workers is not None:
            env["WEB_CONCURRENCY"] = str(workers)
        if worker_class:
            env["WORKER_CLASS"] = worker_class
        return env

    def check_tools(self):
        self.wrk_bin = shutil.which("wrk")
        if not self.wrk_bin:
            raise SystemExit("wrk not found: apt-get install wrk (Debian) - it is the load generator")
        if not re.search(r"/2/?$", self.redis_url) and not self.args.allow_any_redis_db:
            raise SystemExit(f"refusing to FLUSHDB {self.redis_url}: the benchmark uses Redis DB 2")
        raise_nofile(4096)

    def create_database(self):
        import psycopg

        fresh_database(self.args.pg_url, self.args.pg_db)
        t = clock()
        migrate(self.env())
        with psycopg.connect(self.db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_events (id integer PRIMARY KEY, quantity integer NOT NULL, "
                         "issued integer NOT NULL DEFAULT 0)")
            conn.execute("CREATE TABLE bench_claims (id bigserial PRIMARY KEY, event_id integer NOT NULL, "
                         "user_id integer NOT NULL, approach text NOT NULL, "
                         "claimed_at timestamptz NOT NULL DEFAULT now())")
            conn.execute("CREATE INDEX bench_claims_event_user ON bench_claims (event_id, user_id)")
        log(f"database {self.args.pg_db} created and migrated in {clock() - t:.1f}s (+ bench_events, bench_claims)")

    def make_app(self):
        os.environ.update({k: v for k, v in self.env().items() if k in (
            "APP_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "COUPON_IP_PER_SECOND", "SESSION_COOKIE_SECURE",
            "COUPON_REQUIRE_DURABLE_REDIS")})
        from shop import create_app

        self.app = create_app()
        assert self.app.config["SQLALCHEMY_DATABASE_URI"] == self.db_url
        assert self.app.config["REDIS_URL"] == self.redis_url

    def seed_users(self):
        t = clock()
        users = bulk_users(self.app, self.args.users, USER_ID_BASE, "storm", UA, csrf=True)
        self.users_file = self.tmp / "users.tsv"
        self.users_file.write_text("".join(f"{u.cookie}\t{u.csrf}\n" for u in users))
        self.user_ids = [u.id for u in users]
        log(f"{len(users)} verified users inserted, session cookies + CSRF tokens minted in {clock() - t:.1f}s")

    def warm_auth(self):
        """Write every bench user's Redis auth copy with the app's own helpers: what
        auth_cache.remember() does when a user opens the event page before the drop."""
        from sqlalchemy import text

        from shop.accounts import auth_cache
        from shop.extensions import db

        t = clock()
        with self.app.app_context():
            rows = db.session.execute(text(
                "SELECT id, session_token, email_verified_at IS NOT NULL, status = 'active' FROM users "
                "WHERE id >= :lo AND id < :hi"), {"lo": USER_ID_BASE, "hi": USER_ID_BASE + self.args.users}).all()
            db.session.rollback()
        with self.r.pipeline(transaction=False) as pipe:
            for uid, token, verified, active in rows:
                pipe.set(auth_cache._key(uid), auth_cache._value(token, verified, active), ex=auth_cache.TTL)
            pipe.execute()
        log(f"auth copies of {len(rows)} users written to Redis in {clock() - t:.1f}s")

    def drop_auth(self):
        """Forget every bench user's Redis auth copy: each user's first claim reads the DB."""
        from shop.accounts import auth_cache

        with self.r.pipeline(transaction=False) as pipe:
            for uid in self.user_ids:
                pipe.delete(auth_cache._key(uid))
            pipe.execute()

    def create_event(self, quantity, label):
        from shop.coupons import services
        from shop.timeutil import utcnow

        with self.app.app_context():
            data = services.EventInput(name=f"storm {label}", discount_type="fixed", discount_value=1000,
                                       quantity=quantity, opens_at=utcnow() - timedelta(minutes=1),
                                       closes_at=utcnow() + timedelta(hours=2), valid_days=7)
            event_id = services.create_event(data).id
        assert self.r.get(f"coupon:{{{event_id}}}:stock") == str(quantity), "create_event did not sync Redis"
        return event_id

    def warmup_event(self):
        """An event that opens in an hour (claims answer not_open), created once; its
        window is moved into the past afterwards so the consumer ignores it."""
        if getattr(self, "_warmup_event", None) is None:
            from shop.coupons import services
            from shop.timeutil import utcnow

            with self.app.app_context():
                data = services.EventInput(name="storm warm-up", discount_type="fixed", discount_value=1000,
                                           quantity=1, opens_at=utcnow() + timedelta(hours=1),
                                           closes_at=utcnow() + timedelta(hours=2), valid_days=7)
                self._warmup_event = services.create_event(data).id
            self.retire(self._warmup_event)  # the database only; Redis still says "opens in an hour"
        return self._warmup_event

    def create_bench_event(self, quantity):
        from sqlalchemy import text

        from shop.extensions import db

        with self.app.app_context():
            event_id = db.session.execute(text(
                "INSERT INTO bench_events (id, quantity) SELECT coalesce(max(id), 0) + 1, :q FROM bench_events "
                "RETURNING id"), {"q": quantity}).scalar()
            db.session.commit()
        return event_id

    # ------------------------------------------------------------------ processes
    def start_gunicorn(self, workers, worker_class=None):
        self.stop_gunicorn()
        self.gunicorn = start_gunicorn("bench.storm_app:app", self.env(workers, worker_class),
                                       self.tmp / f"gunicorn-{workers}.log")
        wait_serving(self.gunicorn, lambda: b" 200 " in http_get(self.port, "/healthz")[0] + b" ",
                     "gunicorn /healthz")
        master = psutil.Process(self.gunicorn.pid)
        deadline = clock() + 30
        while len(master.children()) < workers and clock() < deadline:
            time.sleep(0.1)
        self.workers = workers
        log(f"gunicorn {self.gunicorn.pid}: {len(master.children())} worker(s) "
            f"({worker_class or 'gunicorn.conf.py worker_class'}) on 127.0.0.1:{self.port}")
        # warm every worker as a long-running one would be: imports, the Redis pool, the Lua
        # script cache (claims on an event that is not open yet: auth + one Lua call, no claim)
        self.wrk("/__storm/bare", duration=2, connections=self.args.connections, label="warm-up", quiet=True)
        self.wrk(f"/coupons/{self.warmup_event()}/claim", duration=3, connections=self.args.connections,
                 label="warm-up", quiet=True)

    def stop_gunicorn(self):
        if self.gunicorn is not None:
            self.gunicorn.stop(timeout=15)
        self.gunicorn = None

    def start_consumer(self):
        n = getattr(self, "_consumer_starts", 0) + 1
        self._consumer_starts = n
        self.consumer = Proc(f"consumer-{n}", [sys.executable, "worker.py", "--coupons"], self.env(),
                             self.tmp / f"consumer-{n}.log")
        log(f"coupon consumer started (pid {self.consumer.pid})")

    def stop_consumer(self):
        if self.consumer is not None:
            self.consumer.stop(timeout=10)
        self.consumer = None

    # ------------------------------------------------------------------ CPU accounting
    def processes(self):
        groups = {"gunicorn": [], "redis": [], "postgres": [], "consumer": []}
        if self.gunicorn is not None:
            try:
                master = psutil.Process(self.gunicorn.pid)
                groups["gunicorn"] = [master, *master.children()]
            except psutil.NoSuchProcess:
                pass
        try:
            groups["redis"] = [psutil.Process(int(self.r.info("server")["process_id"]))]
        except (psutil.NoSuchProcess, redis.RedisError):
            pass
        groups["postgres"] = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        if self.consumer is not None:
            try:
                groups["consumer"] = [psutil.Process(self.consumer.pid)]
            except psutil.NoSuchProcess:
                pass
        return groups

    @staticmethod
    def cpu_of(groups):
        out = {}
        for name, procs in groups.items():
            for p in procs:
                try:
                    t = p.cpu_times()
                    out[(name, p.pid)] = t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        return out

    # ------------------------------------------------------------------ load
    def wrk(self, path, duration, connections, label, quiet=False, on_start=None):
        threads = min(self.args.wrk_threads, connections)
        cmd = [self.wrk_bin, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "20s",
               "-s", str(ROOT / "bench" / "storm.lua"), f"http://127.0.0.1:{self.port}", "--",
               path, str(self.users_file), str(threads), str(random.randint(1, 10**6))]
        groups = self.processes()
        before = self.cpu_of(groups)
        wall0 = time.time()
        cpu0 = psutil.cpu_times()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        self._wrk = proc
        spies = self.profile(label, duration) if self.args.profile and not quiet else []
        extra = on_start(proc) if on_start else None
        out, _ = proc.communicate(timeout=duration + 60)
        self._wrk = None
        for spy in spies:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(5)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = self.cpu_of(groups)
        cpu1 = psutil.cpu_times()
        line = next((ln for ln in out.splitlines() if ln.startswith("STORMJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result for {label}:\n{out}\n" + tail(self.gunicorn.log_path))
        res = json.loads(line[len("STORMJSON "):])
        secs = res["duration_us"] / 1e6
        cpu = {}
        for key, t in after.items():
            cpu[key[0]] = cpu.get(key[0], 0.0) + t - before.get(key, 0.0)
        busy = sum(getattr(cpu1, f) - getattr(cpu0, f) for f in ("user", "system", "nice", "irq", "softirq"))
        gcpu = sum(t - before.get(key, 0.0) for key, t in after.items() if key[0] == "gunicorn")
        res.update(label=label, path=path, connections=connections, threads=threads, workers=self.workers,
                   rps=res["requests"] / secs if secs else 0.0, seconds=round(secs, 2), started=wall0,
                   per_worker_cpu_s=round(res["requests"] / gcpu) if gcpu > 0 else None,
                   cpu_seconds={k: round(v, 2) for k, v in cpu.items()},
                   machine_busy_cores=round(busy / secs, 2) if secs else None, extra=extra)
        # children reaped during the run: wrk (and, in the kill run, the killed consumer)
        reaped = (extra or {}).get("killed_consumer_cpu_s", 0.0) if isinstance(extra, dict) else 0.0
        res["cpu_seconds"]["wrk"] = round(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime - reaped, 2)
        if not quiet:
            lat = res["latency_us"]
            log(f"{label:<26} c={connections:<4} {res['rps']:>8.0f} req/s  {res['per_worker_cpu_s']} req/CPU-s  "
                f"p50 {lat['p50'] / 1000:6.2f} ms  "
                f"p99 {lat['p99'] / 1000:7.2f} ms  outcomes {res['outcomes']}  "
                f"errors {({k: v for k, v in res['errors'].items() if v})}  cpu {res['cpu_seconds']}")
        return res

    def profile(self, label, duration):
        """py-spy (if installed) on every gunicorn worker for the run: collapsed stacks."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            return []
        out = Path(self.args.profile)
        out.mkdir(parents=True, exist_ok=True)
        procs = []
        name = re.sub(r"[^A-Za-z0-9=]+", "-", label).strip("-")
        for w in psutil.Process(self.gunicorn.pid).children():
            procs.append(subprocess.Popen(
                [spy, "record", "--pid", str(w.pid), "--duration", str(max(1, duration - 1)), "--rate", "200",
                 "--format", "raw", "--nonblocking", "-o", str(out / f"{name}-{w.pid}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return procs

    # ------------------------------------------------------------------ checks
    def wait_drained(self, event_ids, timeout=120):
        """Until every entry of each event's stream is acknowledged by the consumer group."""
        deadline = clock() + timeout
        t = clock()
        while True:
            left = 0
            for e in event_ids:
                stream = f"coupon:{{{e}}}:issued"
                try:
                    groups = self.r.xinfo_groups(stream)
                except redis.ResponseError:
                    groups = []
                g = next((g for g in groups if g["name"] == "persist"), None)
                if g is None:
                    left += self.r.xlen(stream)
                    continue
                lag = g.get("lag")
                if lag is None:  # Redis < 7: compare the last delivered id
                    info = self.r.xinfo_stream(stream)
                    lag = 0 if info["last-generated-id"] == g["last-delivered-id"] else 1
                left += g["pending"] + (lag or 0)
            if left == 0:
                return round(clock() - t, 2)
            if clock() > deadline:
                return None
            time.sleep(0.1)

    def quiesce(self, key, timeout=60):
        """wrk has stopped, but the server may still be answering requests it had
        accepted: wait until `key` (a set) has not grown for a second."""
        deadline = clock() + timeout
        last, since = self.r.scard(key), clock()
        while clock() < deadline:
            time.sleep(0.1)
            now = self.r.scard(key)
            if now != last:
                last, since = now, clock()
            elif clock() - since >= 1.0:
                break

    def count_rows(self, table, event_id):
        """(rows, users holding more than one) of an event in `table`."""
        from sqlalchemy import text

        from shop.extensions import db

        with self.app.app_context():
            issued = db.session.execute(text(f"SELECT count(*) FROM {table} WHERE event_id = :e"),
                                        {"e": event_id}).scalar()
            dups = db.session.execute(text(
                f"SELECT count(*) FROM (SELECT user_id FROM {table} WHERE event_id = :e "
                "GROUP BY user_id HAVING count(*) > 1) d"), {"e": event_id}).scalar()
            db.session.rollback()
        return issued, dups

    def check_ours(self, event_id, quantity):
        self.quiesce(f"coupon:{{{event_id}}}:claimed")
        drained = self.wait_drained([event_id])
        issued, dups = self.count_rows("coupons", event_id)
        claimed_set = self.r.scard(f"coupon:{{{event_id}}}:claimed")
        stream_len = self.r.xlen(f"coupon:{{{event_id}}}:issued")
        stock = int(self.r.get(f"coupon:{{{event_id}}}:stock"))
        return {"event": event_id, "quantity": quantity, "sold_out": stock == 0, "drain_seconds": drained,
                "issued_db": issued, "duplicates": dups, "claimed_redis": claimed_set, "stream_entries": stream_len,
                "stock_left": stock, "lost": claimed_set - issued, "lost_vs_stream": stream_len - issued,
                "oversold": max(0, issued - quantity), "exactly_n": issued == quantity}

    def check_bench(self, event_id, quantity):
        issued, dups = self.count_rows("bench_claims", event_id)
        return {"event": event_id, "quantity": quantity, "issued_db": issued, "duplicates": dups,
                "oversold": max(0, issued - quantity), "exactly_n": issued == quantity}

    def wait_consumer(self, event_id, timeout=30):
        """Until the persistence consumer reads this event's stream (it refreshes its list of
        events every few seconds), so persistence is live from the first claim."""
        stream = f"coupon:{{{event_id}}}:issued"
        deadline = clock() + timeout
        while clock() < deadline:
            try:
                if self.r.xinfo_consumers(stream, "persist"):
                    return True
            except redis.ResponseError:
                pass
            time.sleep(0.1)
        log(f"warning: no consumer read event {event_id}'s stream within {timeout} s")
        return False

    def retire(self, event_id):
        """Move a measured event's window into the past (beyond the consumer's grace hour),
        so the consumer polls only the event of the current run."""
        from sqlalchemy import text

        from shop.extensions import db

        with self.app.app_context():
            db.session.execute(text("UPDATE coupon_events SET opens_at = now() - interval '5 hours', "
                                    "closes_at = now() - interval '4 hours' WHERE id = :e"), {"e": event_id})
            db.session.commit()

    def settle(self):
        """Before a run: the consumer has nothing left to do, and a breath for the box."""
        if self.our_events:
            self.wait_drained(self.our_events, timeout=60)
        time.sleep(self.args.pause)

    # ------------------------------------------------------------------ runs
    def run_ours(self, label, connections, quantity=None, duration=None, on_start=None, cold=False):
        quantity = quantity or self.args.quantity
        event_id = self.create_event(quantity, label)
        self.our_events.append(event_id)
        self.wait_consumer(event_id)
        self.settle()
        if cold:
            self.drop_auth()
        watcher = LagWatcher(self.db_url, event_id)
        res = self.wrk(f"/coupons/{event_id}/claim", duration or self.args.duration, connections, label,
                       on_start=on_start)
        res["approach"] = "ours-hot" if quantity == HOT_QUANTITY else ("ours-cold" if cold else "ours")
        res["auth_cache"] = "cold" if cold else "warm"
        if cold:
            self.warm_auth()  # back to warm for what follows
        res["check"] = self.check_ours(event_id, quantity)
        res["check"]["persist_lag_ms"] = watcher.stop(res["check"]["issued_db"])
        self.retire(event_id)
        log(f"{'':<26} after drain: {res['check']}")
        self.runs.append(res)
        return res

    def run_bench(self, approach, connections):
        event_id = self.create_bench_event(self.args.quantity)
        self.settle()
        res = self.wrk(f"/__storm/{approach}/{event_id}", self.args.duration, connections, approach)
        res["approach"] = approach
        res["check"] = self.check_bench(event_id, self.args.quantity)
        log(f"{'':<26} rows: {res['check']}")
        self.runs.append(res)
        return res

    def run_bare(self, connections, label="bare", approach="bare"):
        self.settle()
        res = self.wrk(f"/__storm/{approach}", self.args.duration, connections, label)
        res["approach"] = approach
        self.runs.append(res)
        return res

    def calibrate(self):
        counts = [int(w) for w in str(self.args.workers).split(",") if w.strip()]
        if len(counts) == 1:
            return counts[0]
        scores = {}
        for w in counts:
            self.start_gunicorn(w)
            res = self.run_ours(f"calibrate W={w}", self.args.connections, quantity=HOT_QUANTITY,
                                duration=self.args.calibration_duration)
            res["calibration"] = True
            scores[w] = res["rps"]
        best = max(scores, key=scores.get)
        self.report["calibration"] = {"claims_per_second_by_workers": {str(k): round(v) for k, v in scores.items()},
                                      "picked": best}
        log(f"calibration (hot claim path, c={self.args.connections}): "
            f"{ {k: round(v) for k, v in scores.items()} } -> WEB_CONCURRENCY={best}")
        return best

    def set_aof(self, always: bool):
        """Switch the (private) Redis between no AOF and appendonly yes + appendfsync
        always with CONFIG SET, waiting for the AOF rewrite that turning it on starts."""
        if always:
            self.r.config_set("appendfsync", "always")
            self.r.config_set("appendonly", "yes")
            deadline = clock() + 120
            while clock() < deadline:
                info = self.r.info("persistence")
                if info["aof_enabled"] and not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                    break
                time.sleep(0.1)
        else:
            self.r.config_set("appendonly", "no")
        got = self.r.config_get("appendonly")["appendonly"], self.r.config_get("appendfsync")["appendfsync"]
        log(f"Redis persistence now appendonly={got[0]} appendfsync={got[1]}")
        return got

    def aof_runs(self, c):
        """What the durable setting costs: the hot claim (every request runs the whole
        script, so every request writes) with no AOF and with appendfsync always,
        interleaved over --rounds rounds. Needs a Redis whose CONFIG SET is allowed."""
        for i in range(1, self.args.rounds + 1):
            for always in (False, True):
                appendonly, appendfsync = self.set_aof(always)
                name = "AOF always" if always else "no AOF"
                res = self.run_ours(f"hot, {name} #{i}", c, quantity=HOT_QUANTITY)
                res["approach"] = "aof-always" if always else "aof-off"
                res["redis_persistence"] = {"appendonly": appendonly, "appendfsync": appendfsync}
        self.set_aof(False)

    def kill_run(self):
        """Our claim at full concurrency; SIGKILL the consumer mid-batch, restart it."""
        info = {}

        def on_start(_proc):
            from sqlalchemy import text

            from shop.extensions import db

            t0 = clock()
            event_id = self.our_events[-1]
            stream = f"coupon:{{{event_id}}}:issued"
            # 1. the storm has started claiming (entries are arriving in the stream)
            while clock() - t0 < self.args.kill_duration / 2 and self.r.xlen(stream) == 0:
                time.sleep(0.005)
            # 2. kill on the first batch the consumer has read but not acknowledged yet
            t1, pending = clock(), 0
            while clock() - t1 < self.args.kill_after:
                pending = self.r.xpending(stream, "persist")["pending"]
                if pending > 0:
                    break
            try:
                t = psutil.Process(self.consumer.pid).cpu_times()
                info["killed_consumer_cpu_s"] = t.user + t.system  # reaped below: not wrk's CPU
            except psutil.NoSuchProcess:
                pass
            self.consumer.kill()  # SIGKILL to its group
            self.consumer.popen.wait(5)
            with self.app.app_context():
                rows = db.session.execute(text("SELECT count(*) FROM coupons WHERE event_id = :e"),
                                          {"e": event_id}).scalar()
                db.session.rollback()
            info.update(killed_at_s=round(clock() - t0, 3), pending_at_kill=pending, rows_at_kill=rows,
                        stream_len_at_kill=self.r.xlen(stream), killed_pid=self.consumer.pid,
                        killed_mid_batch=pending > 0)
            time.sleep(self.args.restart_after)
            self.start_consumer()
            info.update(restarted_at_s=round(clock() - t0, 3), new_pid=self.consumer.pid)
            log(f"consumer SIGKILLed at {info['killed_at_s']} s with {pending} entries read but not acknowledged "
                f"({rows} rows in DB, {info['stream_len_at_kill']} claims in the stream); restarted at "
                f"{info['restarted_at_s']} s")
            return info

        res = self.run_ours("ours, consumer killed", self.args.connections, on_start=on_start,
                            duration=max(self.args.duration, self.args.kill_duration))
        res["approach"] = "ours-kill"
        stream = f"coupon:{{{self.our_events[-1]}}}:issued"
        info["consumers_after_drain"] = [{"name": c["name"], "pending": c["pending"]}
                                         for c in self.r.xinfo_consumers(stream, "persist")]
        info["group_pending_after_drain"] = self.r.xpending(stream, "persist")["pending"]
        log(f"{'':<26} after drain, consumers of the group: {info['consumers_after_drain']}")
        res["kill"] = info
        return res

    def run(self):
        self.our_events = []
        self.check_tools()
        self.r.flushdb()
        self.create_database()
        self.make_app()
        self.seed_users()
        self.warm_auth()
        self.start_consumer()
        best = self.calibrate()
        if self.workers != best:
            self.start_gunicorn(best)
        self.report["workers"] = best
        c, lo = self.args.connections, self.args.low_connections
        only = set(self.args.only.split(",")) if self.args.only else None

        def want(name):
            return only is None or name in only

        # bare and ours interleaved, so both see the same background load on average
        for i in range(1, self.args.rounds + 1):
            if want("bare"):
                self.run_bare(c, label=f"bare #{i}")
            if want("ours"):
                self.run_ours(f"ours #{i}", c)
        if want("empty"):
            self.run_bare(c, label="empty WSGI app", approach="empty")
        if want("cold"):
            self.run_ours("ours, cold auth cache", c, cold=True)
        for approach in ("naive", "rowlock", "redislock"):
            if want(approach):
                self.run_bench(approach, c)
        if want("hot"):
            self.run_ours("ours, never sells out", c, quantity=HOT_QUANTITY)
        if only is not None and "aof" in only:
            self.aof_runs(c)
        if want("low"):
            if want("empty"):
                self.run_bare(lo, label=f"empty WSGI app c={lo}", approach="empty")
            self.run_bare(lo, label=f"bare c={lo}")
            self.run_ours(f"ours c={lo}", lo)
        if want("stock"):
            # the same two runs under gunicorn's own gevent worker (the baseline for
            # shop/infra/serving.py's FairGeventWorker), then back to the configured one
            self.start_gunicorn(best, worker_class="gevent")
            self.run_bare(lo, label=f"bare c={lo}, stock worker")["approach"] = "bare-stock"
            self.run_ours(f"ours c={lo}, stock worker", lo)["approach"] = "ours-stock"
            self.start_gunicorn(best)
        if want("kill"):
            self.kill_run()
        self.report["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    # ------------------------------------------------------------------ report
    def summary(self):
        from statistics import median

        runs = [r for r in self.runs if not r.get("calibration")]
        c = self.args.connections

        def of(approach, conns=c):
            return [r for r in runs if r["approach"] == approach and r["connections"] == conns]

        ours_runs, bare_runs = of("ours"), of("bare")
        ours_rps = median(r["rps"] for r in ours_runs) if ours_runs else None
        rows = []
        for r in runs:
            chk = r.get("check", {})
            ratio = (ours_rps / r["rps"]) if ours_rps and r["rps"] else None
            rows.append([r["label"], r["connections"], r["rps"], r.get("per_worker_cpu_s"),
                         r["latency_us"]["p50"] / 1000, r["latency_us"]["p99"] / 1000, r["outcomes"].get("claimed", 0),
                         chk.get("issued_db"), chk.get("oversold"), chk.get("duplicates"), chk.get("lost"),
                         f"{ratio:.2f}x" if ratio else None])
        print("\n" + table(["run", "conns", "req/s", "req/CPU-s", "p50 ms", "p99 ms", "claimed", "in DB", "oversold",
                            "dups", "lost", "ours/x"], rows,
                           ["", "", ".0f", "", ".1f", ".1f", "", "", "", "", "", ""]), flush=True)
        print(f"(ours/x: the median req/s of the ours #i runs, {ours_rps and round(ours_rps)}, over that row's req/s)",
              flush=True)
        targets = {}
        if ours_rps:
            targets["ours: claims/s >= 5000 (median of rounds)"] = [round(ours_rps), ours_rps >= 5000]
        pairs = [(o, b) for o, b in zip(ours_runs, bare_runs)]
        if pairs:
            ratios = [o["rps"] / b["rps"] for o, b in pairs]
            cpu = [o["per_worker_cpu_s"] / b["per_worker_cpu_s"] for o, b in pairs
                   if o.get("per_worker_cpu_s") and b.get("per_worker_cpu_s")]
            targets["ours/bare >= 0.45 (median of per-round ratios)"] = [
                f"{median(ratios):.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)})", median(ratios) >= 0.45]
            if cpu:
                targets["ours/bare per worker CPU-second (info)"] = [
                    f"{median(cpu):.2f} (rounds: {', '.join(f'{x:.2f}' for x in cpu)})", None]
        bare_rps = median(r["rps"] for r in bare_runs) if bare_runs else None
        empty = of("empty")
        if empty and ours_rps:
            targets["ours/empty WSGI app: how near the server's own floor (info)"] = [
                f"{ours_rps / empty[0]['rps']:.2f} ({round(empty[0]['rps'])} req/s empty)", None]
        for approach in ("ours-cold", "ours-hot"):
            rows = of(approach)
            if rows and bare_rps:
                targets[f"{approach}/bare (median bare; info)"] = [round(rows[0]["rps"] / bare_rps, 2), None]
        for name, k in (("redislock", 5), ("rowlock", 20), ("naive", None)):
            rows = of(name)
            if ours_rps and rows and rows[0]["rps"]:
                x = ours_rps / rows[0]["rps"]
                targets[f"ours/{name}" + (f" >= {k}" if k else " (info)")] = [round(x, 1), (x >= k) if k else None]
        low = of("ours", self.args.low_connections)
        if low:
            p99 = low[0]["latency_us"]["p99"] / 1000
            targets[f"ours p99 at {self.args.low_connections} connections < 50 ms"] = [f"{p99:.1f} ms", p99 < 50]
        for approach, what in (("empty", "empty WSGI app"), ("ours-stock", "ours, gunicorn's gevent worker"),
                               ("bare-stock", "bare, gunicorn's gevent worker")):
            rows = of(approach, self.args.low_connections)
            if rows:
                lat = rows[0]["latency_us"]
                targets[f"{what} at {self.args.low_connections} connections (info)"] = [
                    f"p50 {lat['p50'] / 1000:.1f} ms, p99 {lat['p99'] / 1000:.1f} ms, {rows[0]['rps']:.0f} req/s", None]
        normal = [r for r in runs if r["approach"] in ("ours", "ours-cold", "ours-stock")
                  and r["check"].get("persist_lag_ms")]
        if normal:
            worst = max(r["check"]["persist_lag_ms"]["p99"] for r in normal)
            targets["persistence lag p99 < 2 s in normal running (worst run; kill run excluded)"] = [
                f"{worst:.0f} ms (runs: {', '.join(str(r['check']['persist_lag_ms']['p99']) for r in normal)})",
                worst < 2000]
        ok = [r for r in runs if r["approach"].startswith("ours")]
        sold = [r for r in ok if r["check"]["sold_out"]]
        targets["sold-out runs of ours: exactly N in DB"] = [
            [(r["label"], r["check"]["issued_db"]) for r in sold],
            all(r["check"]["issued_db"] == r["check"]["quantity"] for r in sold) if sold else None]
        targets["every run of ours: 0 duplicates, 0 lost (Redis set and stream vs DB)"] = [
            [(r["label"], r["check"]["duplicates"], r["check"]["lost"], r["check"]["lost_vs_stream"]) for r in ok],
            all(r["check"]["duplicates"] == 0 and r["check"]["lost"] == 0 and r["check"]["lost_vs_stream"] == 0
                for r in ok)]
        not_sold = [r["label"] for r in ok if not r["check"]["sold_out"] and r["approach"] != "ours-hot"]
        if not_sold:
            targets["runs that did not sell out within their duration (info)"] = [not_sold, None]
        aof_on, aof_off = of("aof-always"), of("aof-off")
        if aof_on and aof_off:
            on, off = median(r["rps"] for r in aof_on), median(r["rps"] for r in aof_off)
            rounds = ", ".join(f"{a['rps']:.0f}/{b['rps']:.0f}" for a, b in zip(aof_on, aof_off))
            targets["hot claim, appendfsync always vs no AOF (median req/s; info)"] = [
                f"{on:.0f} vs {off:.0f} = {on / off:.2f} (rounds, always/none: {rounds})", None]
        kill = of("ours-kill")
        if kill:
            k = kill[0]
            targets["consumer SIGKILLed mid-batch and restarted: exactly N, 0 lost"] = [
                f"{k['check']['issued_db']} in DB, lost {k['check']['lost']}, pending at kill "
                f"{k['kill'].get('pending_at_kill')}", k["check"]["exactly_n"] and k["check"]["lost"] == 0]
        self.report["targets"] = targets
        print("\ntargets:", flush=True)
        for name, v in targets.items():
            print(f"  {name:<66} {v[0]}  {'PASS' if v[1] else ('FAIL' if v[1] is False else '')}", flush=True)

    # ------------------------------------------------------------------ cleanup
    def cleanup(self):
        if getattr(self, "_wrk", None) is not None and self._wrk.poll() is None:
            os.killpg(self._wrk.pid, signal.SIGKILL)
        self.stop_gunicorn()
        self.stop_consumer()
        if self.args.keep:
            if self.redis_server is not None:
                self.redis_server.stop()  # a private server keeps nothing anyway
            log(f"kept: database {self.args.pg_db}, Redis {self.redis_url}, logs in {self.tmp}")
            return
        try:
            if self.app is not None:
                from shop.extensions import db

                with self.app.app_context():
                    db.engine.dispose()
            drop_database(self.args.pg_url, self.args.pg_db)
        except Exception as exc:  # noqa: BLE001
            log(f"could not drop {self.args.pg_db}: {exc!r}")
        try:
            self.r.flushdb()
        except redis.RedisError as exc:
            log(f"could not flush {self.redis_url}: {exc!r}")
        if self.redis_server is not None:
            self.redis_server.stop()
        if self.args.logs_dir:
            dest = Path(self.args.logs_dir)
            dest.mkdir(parents=True, exist_ok=True)
            for p in self.tmp.glob("*.log"):
                shutil.copy(p, dest / p.name)
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--quantity", type=int, default=1_000, help="N coupons per event")
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--low-connections", type=int, default=50)
    p.add_argument("--duration", type=int, default=12, help="seconds per measured run")
    p.add_argument("--kill-duration", type=int, default=20, help="seconds of the consumer-kill run")
    p.add_argument("--calibration-duration", type=int, default=8)
    p.add_argument("--workers", default="1,2", help="WEB_CONCURRENCY candidates (comma list); best is kept")
    p.add_argument("--only", help="comma list of runs: bare,ours,cold,naive,rowlock,redislock,empty,hot,low,stock,kill "
                                  "(default all); and aof (only when named: no AOF vs appendfsync always, "
                                  "switched with CONFIG SET on --redis-url)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved bare/ours rounds at --connections")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--ip-per-second", type=int, default=1_000_000,
                   help="COUPON_IP_PER_SECOND for the server (all load comes from 127.0.0.1)")
    p.add_argument("--lock-sleep", type=float, default=0.5,
                   help="redis-py Lock poll interval (s); 0.5 measured best of 0.02-1.0 with 200 waiters")
    p.add_argument("--kill-after", type=float, default=5.0,
                   help="kill run: once claims flow, SIGKILL the consumer on its first batch read but not yet "
                        "acknowledged, or after this many seconds anyway")
    p.add_argument("--restart-after", type=float, default=1.0, help="kill run: seconds before the restart")
    p.add_argument("--pause", type=float, default=2.0, help="seconds of quiet before each run")
    p.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    p.add_argument("--pg-db", default="playcation_bench_coupons",
                   help="PostgreSQL database to create, use and drop (it is dropped first if it exists)")
    p.add_argument("--redis-url", help="a Redis DB 2 the bench may flush (default: a private redis-server)")
    p.add_argument("--allow-any-redis-db", action="store_true")
    p.add_argument("--time-limit", type=int, default=1200, help="hard stop (seconds) for the whole run")
    p.add_argument("--json", help="write the full results here")
    p.add_argument("--logs-dir", help="copy gunicorn/consumer logs here before cleaning up")
    p.add_argument("--profile", help="run py-spy on every worker during each run; collapsed stacks go here")
    p.add_argument("--keep", action="store_true", help="keep the database, Redis DB and logs")
    args = p.parse_args()

    bench = Bench(args)

    t = clock()
    failed = False
    try:
        with time_limit(args.time_limit):
            bench.run()
            bench.summary()
    except (Timeout, KeyboardInterrupt) as exc:
        failed = True
        log(f"stopped: {exc!r}")
    finally:
        bench.report["runs"] = bench.runs
        bench.report["total_seconds"] = round(clock() - t, 1)
        if args.json:
            Path(args.json).write_text(json.dumps(bench.report, indent=1, default=str))
            log(f"results written to {args.json}")
        bench.cleanup()
        log(f"done in {clock() - t:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
