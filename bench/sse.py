#!/usr/bin/env python
"""SSE notifications benchmark: N concurrent streams against ONE gunicorn gevent worker.

    .venv/bin/python bench/sse.py --connections 5000 --db sqlite
    .venv/bin/python bench/sse.py --connections 5000 --db postgres
    .venv/bin/python bench/sse.py --connections 20 --rates 20 --broadcasts 1 --settle 1   # a quick look

Bounded (--time-limit), loopback only; stops what it started and drops its database
(SQLite file in a temp dir, or PostgreSQL --pg-db). Redis is a private redis-server
unless --redis-url names a DB it may flush. Setup and current figures:
docs/benchmarks.md, "SSE notifications".

N users with minted session cookies; `gunicorn -c gunicorn.conf.py bench.sse_wsgi:app`
with WEB_CONCURRENCY=1; N raw-socket streaming clients as greenlets in this process,
which also publishes, so one clock times both ends. With the N streams open:
(a) targeted: notification rows committed, then PUBLISHed on notify:user:<id> at each
--rates value; latency = the `event: notification` with that id received - the PUBLISH;
(b) broadcast: one PUBLISH on broadcast:site, time until all streams have it;
(c) memory: worker RSS with one stream and with N -> KB per stream.
Also the worker's Redis and DB connections while idle, and on PostgreSQL ten concurrent
pg_sleep(1) (psycopg must cooperate with gevent).

Baselines in the same run: `direct`, a plain redis-py subscriber in this process; and
`floor`, a bare gevent SSE server (--floor-server, below) measured with the same
clients, rates and N: app/floor ratios are the app's own overhead.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.lock  # noqa: E402
import gevent.queue  # noqa: E402
import psutil  # noqa: E402
import redis  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (Proc, bulk_users, fresh_database, free_port, host,  # noqa: E402
                           http_get_json, latency_summary, log, migrate, percentile, raise_nofile,
                           redis_or_private, start_gunicorn, stop_servers, table, tail, wait_for)

USER_ID_BASE = 9_000_001
UA = "playcation-sse-bench"
BASELINE_CHANNEL = "bench:sse:baseline"
BROADCAST_CHANNEL = "broadcast:site"
FLOOR_PREFIX = "bench:sse:floor:"  # the floor server's channels (the app never sees them)
clock = time.perf_counter


def ms(v):
    return None if v is None else round(v * 1000, 2)


def summary(values):
    return latency_summary(values, scale=1000, digits=2)


def ratio(a, b):
    return round(a / b, 1) if a is not None and b else None


LAG = {"max_ms": 0.0, "over_20ms": 0}


def lag_monitor():
    """How late this process's event loop wakes up from a 10 ms sleep: client-side stalls."""
    while True:
        t = clock()
        gevent.sleep(0.01)
        late = (clock() - t - 0.01) * 1000
        LAG["max_ms"] = max(LAG["max_ms"], round(late, 1))
        LAG["over_20ms"] += late > 20


def take_lag():
    lag = dict(LAG)
    LAG.update(max_ms=0.0, over_20ms=0)
    return lag


def bench_cpu():
    t = os.times()
    return t.user + t.system


def cpu_seconds(proc):
    t = proc.cpu_times()
    return t.user + t.system


# --------------------------------------------------------------------------- clients
class Results:
    def __init__(self):
        self.notif = {}  # notification id -> (recv time, stream index)
        self.broadcast = defaultdict(list)  # broadcast data -> [recv times]
        self.errors = []
        self.ready = 0


class Stream:
    """One SSE client: raw socket, HTTP/1.1 chunked decoding, SSE framing."""

    __slots__ = ("idx", "uid", "request", "sock", "ready_at", "started", "raw", "body", "need", "skip",
                 "heartbeats", "greenlet")

    def __init__(self, idx, uid, request):
        self.idx, self.uid, self.request = idx, uid, request
        self.sock = None
        self.ready_at = self.started = None
        self.raw = b""
        self.body = b""
        self.need = None  # bytes left in the current chunk; None = a size line comes next
        self.skip = 0  # the CRLF after a chunk
        self.heartbeats = 0
        self.greenlet = None

    def run(self, port, results, gate):
        released = True  # nothing to give back until the gate is ours
        try:
            gate.acquire()
            released = False
            self.started = clock()
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            self.sock.settimeout(None)
            self.sock.sendall(self.request)
            head = b""
            while b"\r\n\r\n" not in head:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed before the response headers")
                head += data
            head, _, self.raw = head.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                raise ConnectionError(f"status {status!r}")
            lower = head.lower()
            if b"text/event-stream" not in lower or b"transfer-encoding: chunked" not in lower:
                raise ConnectionError(f"unexpected headers {head!r}")
            t = clock()
            while True:
                if self.raw and not self.feed(t, results):
                    raise ConnectionError("server ended the stream")
                if not released and self.ready_at is not None:
                    gate.release()
                    released = True
                data = self.sock.recv(65536)
                t = clock()
                if not data:
                    raise ConnectionError("server closed the connection")
                self.raw += data
        except gevent.GreenletExit:
            pass
        except Exception as exc:  # noqa: BLE001 - every failure is a result
            results.errors.append((self.idx, repr(exc)))
        finally:
            if not released:
                gate.release()
            if self.sock is not None:
                self.sock.close()

    def feed(self, t, results):
        raw = self.raw
        body = []
        while raw:
            if self.skip:
                n = min(self.skip, len(raw))
                raw, self.skip = raw[n:], self.skip - n
                continue
            if self.need is None:
                i = raw.find(b"\r\n")
                if i < 0:
                    break
                size = int(raw[:i].split(b";", 1)[0], 16)
                raw = raw[i + 2:]
                if size == 0:
                    self.raw = raw
                    return False
                self.need = size
                continue
            piece = raw[:self.need]
            body.append(piece)
            raw = raw[len(piece):]
            self.need -= len(piece)
            if self.need == 0:
                self.need, self.skip = None, 2
        self.raw = raw
        if body:
            self.body += b"".join(body)
            if b"\n\n" in self.body:
                *blocks, self.body = self.body.split(b"\n\n")
                for block in blocks:
                    self.event(block, t, results)
        return True

    def event(self, block, t, results):
        kind, eid, data, comment = b"message", None, [], False
        for line in block.split(b"\n"):
            if line.startswith(b":"):
                comment = True
                continue
            field, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if field == b"event":
                kind = value
            elif field == b"id":
                eid = value
            elif field == b"data":
                data.append(value)
        if comment and not data and eid is None and kind == b"message":
            self.heartbeats += 1
        elif kind == b"ready":
            self.ready_at = t
            results.ready += 1
        elif kind == b"notification":
            results.notif.setdefault(int(eid), (t, self.idx))
        elif kind == b"broadcast":
            results.broadcast[b"\n".join(data).decode()].append(t)


class DirectSubscriber:
    """The `direct` baseline: a plain redis-py subscriber in this process."""

    def __init__(self, redis_url):
        self.received = {}
        self.redis_url = redis_url
        self.greenlet = None

    def start(self):
        ready = gevent.event.Event()
        self.greenlet = gevent.spawn(self._listen, ready)
        ready.wait(5)

    def _listen(self, ready):
        ps = redis.Redis.from_url(self.redis_url).pubsub(ignore_subscribe_messages=True)
        ps.subscribe(BASELINE_CHANNEL, BROADCAST_CHANNEL)
        ps.get_message(timeout=1)
        ready.set()
        try:
            for msg in ps.listen():
                t = clock()
                if msg.get("type") == "message":
                    key = msg["data"].decode()
                    if msg["channel"] == BROADCAST_CHANNEL.encode():
                        key = "broadcast:" + key
                    self.received.setdefault(key, t)
        finally:
            ps.close()

    def stop(self):
        if self.greenlet is not None:
            self.greenlet.kill(block=False)


# --------------------------------------------------------------------------- servers
class Server:
    """A process serving SSE on 127.0.0.1:port, measured as a black box."""

    name = "?"
    broadcast_channel = "?"

    def __init__(self, bench):
        self.bench = bench
        self.port = free_port()
        self.proc = None
        self.worker = None  # the psutil.Process that holds the streams
        self.streams = []
        self.warm = None
        self.results = Results()
        self.log_path = bench.tmp / f"{self.name}.log"

    def spawn(self, argv=None, env=None, app_spec=None):
        nofile = self.bench.nofile

        def limits():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        if app_spec:
            self.proc = start_gunicorn(app_spec, env, self.log_path, preexec_fn=limits)
        else:
            self.proc = Proc(self.name, argv, env, self.log_path, preexec_fn=limits)

    def wait_listening(self, probe, timeout=60):
        def check():
            if not self.proc.alive:
                raise RuntimeError(f"{self.name} server exited:\n{self.log_tail()}")
            try:
                return probe() or True
            except (OSError, RuntimeError, ValueError):
                return None

        return wait_for(check, f"{self.name} server", timeout=timeout, interval=0.2)

    def log_tail(self, lines=40):
        return tail(self.log_path, lines)

    def stop(self):
        for s in self.streams + ([self.warm] if self.warm else []):
            if s.greenlet is not None:
                s.greenlet.kill(block=False)
        if self.proc is not None:
            self.proc.kill(signal.SIGINT)  # gunicorn: quick shutdown (SIGTERM would wait for the streams)
            try:
                self.proc.popen.wait(timeout=20)
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: stop() ends it
                pass
            self.proc.stop()

    # what differs between the app and the floor server
    def request(self, idx) -> bytes:
        raise NotImplementedError

    def uid(self, idx) -> int:
        return USER_ID_BASE + idx

    def notify_channel(self, uid) -> str:
        raise NotImplementedError

    def prepare_notifications(self, uids):
        """[(uid, notification id)], committed before anything is published."""
        raise NotImplementedError

    def stats(self, reset=None):
        return None


class AppServer(Server):
    name = "app"
    broadcast_channel = BROADCAST_CHANNEL

    def start(self):
        b = self.bench
        env = b.child_env()
        env.update(WEB_CONCURRENCY="1", BIND=f"127.0.0.1:{self.port}")
        if b.args.worker_gc:
            env["BENCH_WORKER_GC"] = b.args.worker_gc
        self.spawn(env=env, app_spec="bench.sse_wsgi:app")
        st = self.wait_listening(lambda: self.stats())
        self.worker = psutil.Process(st["pid"])
        workers = psutil.Process(self.proc.pid).children()
        assert [w.pid for w in workers] == [self.worker.pid], (workers, st["pid"])
        log(f"gunicorn master {self.proc.pid}, ONE gevent worker {self.worker.pid} on 127.0.0.1:{self.port}")
        return {"cmd": "gunicorn -c gunicorn.conf.py bench.sse_wsgi:app  (WEB_CONCURRENCY=1)",
                "workers": len(workers), "worker_class": "gevent",
                "worker_nofile": self.worker.rlimit(psutil.RLIMIT_NOFILE)[0],
                "psycopg_wait_function": st["psycopg_wait"], "gevent_patched": st["gevent_patched"]}

    def request(self, idx):
        b = self.bench
        return (f"GET /notifications/stream HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUser-Agent: {UA}\r\n"
                f"Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
                f"Cookie: {b.cookie_name}={b.cookies[idx]}\r\n\r\n").encode()

    def notify_channel(self, uid):
        return f"notify:user:{uid}"

    def prepare_notifications(self, uids):
        return self.bench.insert_notifications(uids)

    def stats(self, reset=None):
        return http_get_json(self.port, "/__bench/stats" + (f"?reset={reset}" if reset else ""))


class FloorServer(Server):
    name = "floor"
    broadcast_channel = FLOOR_PREFIX + "broadcast"

    def start(self):
        self.spawn([sys.executable, str(Path(__file__).resolve()), "--floor-server", str(self.port),
                    "--redis-url", self.bench.redis_url], dict(os.environ, PYTHONUNBUFFERED="1"))

        def probe():
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()

        self.wait_listening(probe)
        self.worker = psutil.Process(self.proc.pid)
        self.next_id = 0
        log(f"floor server {self.proc.pid} on 127.0.0.1:{self.port}")

    def request(self, idx):
        return f"GET /floor/{self.uid(idx)} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()

    def notify_channel(self, uid):
        return f"{FLOOR_PREFIX}user:{uid}"

    def prepare_notifications(self, uids):
        pairs = [(uid, self.next_id + 1 + i) for i, uid in enumerate(uids)]
        self.next_id += len(uids)
        return pairs


def floor_server(port, redis_url):
    """The `floor` baseline: what a bare gevent process does with the same architecture
    (one Redis pattern subscription fanned out to a queue per stream) and nothing else."""
    from gevent.server import StreamServer

    by_channel = defaultdict(set)
    everyone = set()
    broadcast = FLOOR_PREFIX + "broadcast"

    def listener():
        ps = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
        ps.psubscribe(FLOOR_PREFIX + "*")
        for m in ps.listen():
            if m["type"] != "pmessage":
                continue
            channel, data = m["channel"].decode(), m["data"].decode()
            for q in list(everyone if channel == broadcast else by_channel.get(channel, ())):
                q.put_nowait((channel, data))

    def handle(sock, _addr):
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(4096)
            if not data:
                return
            head += data
        uid = head.split(b" ", 2)[1].decode().rsplit("/", 1)[-1]
        channel = f"{FLOOR_PREFIX}user:{uid}"
        q = gevent.queue.Queue()
        by_channel[channel].add(q)
        everyone.add(q)

        def send(text):
            b = text.encode()
            sock.sendall(b"%X\r\n%s\r\n" % (len(b), b))

        try:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n")
            send("retry: 3000\nevent: ready\ndata: connected\n\n")
            while True:
                try:
                    ch, data = q.get(timeout=15)
                except gevent.queue.Empty:
                    send(": heartbeat\n\n")
                    continue
                if ch == broadcast:
                    send(f"event: broadcast\ndata: {data}\n\n")
                else:
                    send(f"id: {data}\nevent: notification\ndata: <div class=\"toast\">{data}</div>\n\n")
        except OSError:
            pass
        finally:
            by_channel[channel].discard(q)
            everyone.discard(q)

    gevent.spawn(listener)
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    StreamServer(("127.0.0.1", port), handle, backlog=2048, spawn=10000).serve_forever()


# --------------------------------------------------------------------------- the run
class Bench:
    def __init__(self, args):
        self.args = args
        self.n = args.connections
        self.rates = [float(r) for r in args.rates.split(",") if r.strip()]
        self.tmp = Path(tempfile.mkdtemp(prefix="playcation-bench-sse-"))
        self.secret = secrets.token_hex(32)
        self.app = None
        self.servers = []
        self.redis_url, self.redis_server = redis_or_private(args.redis_url, self.tmp)
        self.admin = redis.Redis.from_url(self.redis_url)
        self.pub = redis.Redis.from_url(self.redis_url)
        self.direct = DirectSubscriber(self.redis_url)
        self.report = {"connections": self.n, "db": args.db, "host": host()}
        self.pg_db = args.pg_db
        if args.db == "sqlite":
            self.db_url = f"sqlite:///{self.tmp / 'bench.db'}"
        else:
            self.db_url = args.pg_url.rstrip("/") + "/" + args.pg_db

    # ---- setup
    def raise_nofile(self):
        self.nofile = raise_nofile(max(self.n + 2000, 20000))
        if self.nofile < self.n + 200:
            raise SystemExit(f"open-file limit {self.nofile} is too low for {self.n} connections")
        self.report["nofile"] = self.nofile

    def create_database(self):
        if self.args.db == "postgres":
            fresh_database(self.args.pg_url, self.pg_db)
        t = clock()
        migrate(self.child_env())
        log(f"database {self.db_url} migrated in {clock() - t:.1f}s")

    def child_env(self):
        env = dict(os.environ)
        env.update(APP_ENV="development", SECRET_KEY=self.secret, DATABASE_URL=self.db_url,
                   REDIS_URL=self.redis_url, PYTHONUNBUFFERED="1")
        return env

    def make_app(self):
        from shop import create_app
        from shop.config import DevelopmentConfig

        opts = {"pool_pre_ping": True}
        if self.args.db == "postgres":
            opts["connect_args"] = {"application_name": "sse-bench"}  # told apart from the worker's
        self.app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=self.db_url, REDIS_URL=self.redis_url,
                              SECRET_KEY=self.secret, SQLALCHEMY_ENGINE_OPTIONS=opts)

    def seed_users(self):
        t = clock()
        users = bulk_users(self.app, self.n + 1, USER_ID_BASE, "sse", UA)  # + the warm-up user
        self.cookies = [u.cookie for u in users]
        self.cookie_name = self.app.config["SESSION_COOKIE_NAME"]
        log(f"{len(users)} users inserted and their session cookies minted in {clock() - t:.1f}s")

    def insert_notifications(self, uids):
        from sqlalchemy import insert

        from shop.extensions import db
        from shop.notifications.models import Notification
        from shop.timeutil import utcnow

        table = Notification.__table__
        now = utcnow()
        # Kind and parameters, as the shop writes them: each stream writes the text out.
        rows = [{"user_id": uid, "kind": "review", "params": {"nickname": "Bench", "title": f"SSE game {uid}", "rating": 4},
                 "link": "/notifications", "created_at": now} for uid in uids]
        with self.app.app_context():
            result = db.session.execute(insert(table).returning(table.c.id, table.c.user_id,
                                                                sort_by_parameter_order=True), rows)
            pairs = [(r.user_id, r.id) for r in result]
            db.session.commit()
        return pairs

    # ---- streams
    def open_stream(self, server, idx, gate):
        s = Stream(idx, server.uid(idx), server.request(idx))
        s.greenlet = gevent.spawn(s.run, server.port, server.results, gate)
        return s

    def warm_up(self, server):
        """One stream, then publish a notification to it until it arrives: the server's
        Redis subscription is live and its code paths are warm."""
        server.warm = self.open_stream(server, self.n, gevent.lock.BoundedSemaphore(1))
        deadline = clock() + 30
        while server.warm.ready_at is None:
            if clock() > deadline or server.results.errors:
                raise RuntimeError(f"{server.name}: warm-up stream failed: {server.results.errors}\n"
                                   f"{server.log_tail()}")
            gevent.sleep(0.02)
        [(uid, nid)] = server.prepare_notifications([server.warm.uid])
        deadline = clock() + 30
        while nid not in server.results.notif:
            if clock() > deadline:
                raise RuntimeError(f"{server.name}: warm-up notification never arrived:\n{server.log_tail()}")
            self.pub.publish(server.notify_channel(uid), str(nid))
            gevent.sleep(0.3)

    def open_streams(self, server):
        """Open N streams, at most --connect-concurrency at a time. A stream whose request
        fails is retried once after the others (as a browser would reconnect); first-attempt
        failures are reported."""
        gate = gevent.lock.BoundedSemaphore(self.args.connect_concurrency)
        if self.args.profile_connect and server.name == "app":
            http_get_json(server.port, "/__bench/profile?action=start")
        cpu0 = cpu_seconds(server.worker)
        sessions0 = self.pg_sessions()
        t0 = clock()
        server.streams = [self.open_stream(server, i, gate) for i in range(self.n)]
        self.wait_streams(server, t0 + self.args.connect_timeout, sessions0)
        first_errors = list(server.results.errors)
        failed = sorted({i for i, _ in first_errors})
        if failed and len(failed) <= max(10, self.n // 100):
            log(f"{server.name}: {len(failed)} stream(s) failed on the first attempt; retrying them once")
            server.results.errors = []
            for i in failed:
                server.streams[i] = self.open_stream(server, i, gate)
            self.wait_streams(server, clock() + 60, sessions0)
        elapsed = clock() - t0
        cpu = cpu_seconds(server.worker) - cpu0
        if self.args.profile_connect and server.name == "app":
            prof = http_get_json(server.port, "/__bench/profile?action=stop", timeout=120)
            (self.tmp.parent / "sse-connect-profile.txt").write_text(prof["tottime"] + "\n" + prof["cumulative"])
            log(f"connect-phase profile written to {self.tmp.parent / 'sse-connect-profile.txt'}")
        ready = [s for s in server.streams if s.ready_at is not None]
        handshake = [s.ready_at - s.started for s in ready]
        out = {"ready": len(ready), "seconds": round(elapsed, 2),
               "first_attempt_errors": len(first_errors),
               "first_attempt_error_samples": sorted({e for _, e in first_errors})[:3],
               "errors_after_retry": len(server.results.errors),
               "postgres_sessions_opened": (self.pg_sessions() - sessions0) if sessions0 is not None else None,
               "rate_per_s": round(len(ready) / elapsed, 1), "concurrency": self.args.connect_concurrency,
               "worker_cpu_ms_per_stream": round(cpu / max(1, len(ready)) * 1000, 2),
               "request_to_ready_ms": {"p50": ms(percentile(handshake, 50)), "p99": ms(percentile(handshake, 99))}}
        log(f"{server.name}: {len(ready)}/{self.n} streams ready in {elapsed:.1f}s "
            f"({len(first_errors)} first-attempt errors, {len(server.results.errors)} after retry); "
            f"server CPU {out['worker_cpu_ms_per_stream']} ms per stream opened")
        if len(ready) < self.n:
            raise RuntimeError(f"{server.name}: only {len(ready)} of {self.n} streams opened; errors: "
                               f"{(first_errors + server.results.errors)[:5]}\n{server.log_tail()}")
        return out

    def wait_streams(self, server, deadline, sessions0):
        next_report = clock() + 10
        while clock() < deadline:
            pending = sum(1 for s in server.streams if s.ready_at is None and not s.greenlet.dead)
            if not pending or len(server.results.errors) > max(10, self.n // 100):
                return
            if clock() >= next_report:
                next_report += 10
                extra = ""
                st = server.stats()
                if st:
                    extra = (f"; pool: {st['pool']['checkedout']} checked out, overflow {st['pool']['overflow']}; "
                             f"GC gen2 passes {st['gc']['count'][2]} ({st['gc']['total_ms'][2]:.0f} ms); "
                             f"loop lag max {st['loop_lag']['max_ms']} ms")
                    if sessions0 is not None:
                        extra += f"; PostgreSQL sessions opened so far {self.pg_sessions() - sessions0}"
                log(f"  {server.name}: {self.n - pending}/{self.n} streams ready or failed, "
                    f"{len(server.results.errors)} errors{extra}")
            gevent.sleep(0.1)

    def pg_sessions(self):
        """Sessions ever opened on the bench database (pg_stat_database.sessions, PostgreSQL 14+)."""
        if self.args.db != "postgres" or self.app is None:
            return None
        from sqlalchemy import text

        from shop.extensions import db

        with self.app.app_context():
            n = db.session.execute(text("SELECT sessions FROM pg_stat_database WHERE datname = :d"),
                                   {"d": self.pg_db}).scalar()
            db.session.remove()
        return n

    def memory(self, server):
        info = server.worker.memory_full_info()
        return {"rss": info.rss, "uss": info.uss}

    # ---- observations of the app's worker
    def redis_clients_of_worker(self, server):
        ports = {c.laddr.port for c in server.worker.net_connections("tcp")
                 if c.raddr and c.raddr.port == self.admin.connection_pool.connection_kwargs["port"]
                 and c.status == psutil.CONN_ESTABLISHED}
        addrs = {f"127.0.0.1:{p}" for p in ports}
        clients = [c for c in self.admin.client_list() if c.get("addr") in addrs]
        return {"worker_tcp_connections_to_redis": len(ports), "clients": [
            {k: c.get(k) for k in ("addr", "db", "flags", "sub", "psub", "cmd", "age", "idle")} for c in clients]}

    def db_connections(self, server):
        out = {"pool": server.stats()["pool"]}
        if self.args.db == "postgres":
            from sqlalchemy import text

            from shop.extensions import db

            with self.app.app_context():
                rows = db.session.execute(text(
                    "SELECT coalesce(state, '?') AS state, count(*) AS n FROM pg_stat_activity "
                    "WHERE datname = :d AND application_name <> 'sse-bench' GROUP BY 1"), {"d": self.pg_db}).all()
                db.session.remove()
            out["pg_stat_activity_worker_backends_by_state"] = {r.state: r.n for r in rows}
            out["worker_tcp_connections_to_postgres"] = sum(
                1 for c in server.worker.net_connections("tcp")
                if c.raddr and c.raddr.port == 5432 and c.status == psutil.CONN_ESTABLISHED)
        else:
            path = self.db_url[len("sqlite:///"):]
            out["worker_open_handles_on_the_sqlite_file"] = sum(1 for f in server.worker.open_files() if f.path == path)
        return out

    # ---- (a) targeted
    def targeted(self, server, users, rate):
        pairs = server.prepare_notifications([server.streams[i].uid for i in users])
        expected = {nid: i for i, (_, nid) in zip(users, pairs)}
        period = 1.0 / rate
        with_direct = server.name == "app"
        sent, direct_sent, receivers = {}, {}, []
        server.stats(reset=1)
        take_lag()
        cpu0, bcpu0 = cpu_seconds(server.worker), bench_cpu()
        start = clock() + 0.05
        for j, (uid, nid) in enumerate(pairs):
            at = start + j * period
            if at > clock():
                gevent.sleep(at - clock())
            t = clock()
            receivers.append(self.pub.publish(server.notify_channel(uid), str(nid)))
            sent[nid] = t
            if with_direct:
                if at + period / 2 > clock():
                    gevent.sleep(at + period / 2 - clock())
                key = f"{server.name}-{rate}-{j}"
                t = clock()
                self.pub.publish(BASELINE_CHANNEL, key)
                direct_sent[key] = t
        publish_seconds = clock() - start
        deadline = clock() + 15
        while clock() < deadline and (any(n not in server.results.notif for n in sent)
                                      or any(k not in self.direct.received for k in direct_sent)):
            gevent.sleep(0.05)
        cpu = cpu_seconds(server.worker) - cpu0
        got = server.results.notif
        lat = [got[n][0] - t for n, t in sent.items() if n in got]  # in publish order
        out = {"rate_per_s": rate, "published": len(sent), "received": len(lat),
               "delivered_to_wrong_stream": sum(1 for n in sent if n in got and got[n][1] != expected[n]),
               "publish_seconds": round(publish_seconds, 2), "min_redis_receivers": min(receivers),
               "latency_ms": summary(lat),
               "p50_per_tenth_in_publish_order_ms": [ms(percentile(lat[i:i + max(1, len(lat) // 10)], 50))
                                                     for i in range(0, len(lat), max(1, len(lat) // 10))],
               "server_cpu_ms_per_notification": round(cpu / max(1, len(sent)) * 1000, 2),
               "server_cpu_share": round(cpu / (clock() - start), 2),
               "bench_cpu_seconds": round(bench_cpu() - bcpu0, 2), "bench_loop_lag": take_lag()}
        if with_direct:
            d = [self.direct.received[k] - t for k, t in direct_sent.items() if k in self.direct.received]
            out["direct_subscriber_ms"] = summary(d)
        st = server.stats(reset=1)
        if st:
            out["worker_gc"], out["worker_loop_lag"] = st["gc"], st["loop_lag"]
        a = out["latency_ms"]
        log(f"(a) {server.name} @ {rate:g}/s: p50 {a['p50']} ms, p95 {a['p95']} ms, p99 {a['p99']} ms, "
            f"max {a['max']} ms ({len(lat)}/{len(sent)}); server CPU {out['server_cpu_ms_per_notification']} ms "
            f"per notification" + (f"; direct subscriber p50 {out['direct_subscriber_ms']['p50']} ms, "
                                   f"p99 {out['direct_subscriber_ms']['p99']} ms" if with_direct else ""))
        return out

    # ---- (b) broadcast
    def broadcasts(self, server):
        rounds, run = [], secrets.token_hex(3)
        expected = self.n + 1  # the N streams + the warm-up stream
        for r in range(self.args.broadcasts):
            data = f"sse-bench broadcast {run}-{r}"
            gevent.sleep(1.0)
            server.stats(reset=1)
            take_lag()
            cpu0, bcpu0 = cpu_seconds(server.worker), bench_cpu()
            t0 = clock()
            self.pub.publish(server.broadcast_channel, data)
            got = server.results.broadcast[data]
            deadline = t0 + self.args.broadcast_timeout
            while len(got) < expected and clock() < deadline:
                gevent.sleep(0.005)
            cpu = cpu_seconds(server.worker) - cpu0
            times = [t - t0 for t in got]
            x = {"received": len(times), "t50_ms": ms(percentile(times, 50)), "t99_ms": ms(percentile(times, 99)),
                 "t100_ms": ms(max(times)) if len(times) >= expected else None,
                 "server_cpu_ms": round(cpu * 1000, 1), "bench_cpu_ms": round((bench_cpu() - bcpu0) * 1000, 1),
                 "bench_loop_lag": take_lag()}
            if server.name == "app":
                base = self.direct.received.get("broadcast:" + data)
                x["direct_subscriber_ms"] = ms(base - t0) if base else None
            st = server.stats(reset=1)
            if st:
                x["worker_gc"], x["worker_loop_lag"] = st["gc"], st["loop_lag"]
            rounds.append(x)
            log(f"(b) {server.name} broadcast {r + 1}: {x['received']}/{expected} streams; 50% {x['t50_ms']} ms, "
                f"99% {x['t99_ms']} ms, 100% {x['t100_ms']} ms; server CPU {x['server_cpu_ms']} ms")
        done = [r["t100_ms"] for r in rounds if r["t100_ms"] is not None]
        return {"streams": expected, "rounds": rounds,
                "t100_ms_median": percentile(done, 50) if len(done) == len(rounds) else None,
                "t100_ms_worst": max(done) if len(done) == len(rounds) else None}

    # ---- psycopg + gevent
    def pg_sleep_check(self, server, concurrent=10):
        if self.args.db != "postgres":
            return "n/a on SQLite (sqlite3 calls are short C calls that never yield)"
        t0 = clock()
        jobs = [gevent.spawn(http_get_json, server.port, "/__bench/pg_sleep?s=1", 60) for _ in range(concurrent)]
        gevent.sleep(0.3)
        tp = clock()
        http_get_json(server.port, "/__bench/stats")
        probe = clock() - tp
        gevent.joinall(jobs, timeout=60)
        wall = clock() - t0
        ok = sum(1 for j in jobs if j.successful())
        out = {"concurrent_pg_sleep_1s": concurrent, "succeeded": ok, "wall_seconds": round(wall, 2),
               "other_request_meanwhile_ms": ms(probe),
               "verdict": "cooperative" if ok == concurrent and wall < 3 else "BLOCKING"}
        log(f"psycopg/gevent: {ok}/{concurrent} concurrent pg_sleep(1) took {wall:.2f}s in total; another "
            f"request was answered in {probe * 1000:.1f} ms meanwhile -> {out['verdict']}")
        return out

    # ---- one server, all phases
    def measure(self, server, user_sets):
        rep = {}
        self.warm_up(server)
        gevent.sleep(1)
        mem0 = self.memory(server)
        st0 = server.stats(reset="census" if self.args.census else 1)
        rep["connect"] = self.open_streams(server)
        cpu0, t0 = cpu_seconds(server.worker), clock()
        gevent.sleep(self.args.settle)
        idle_share = (cpu_seconds(server.worker) - cpu0) / (clock() - t0)
        mem1 = self.memory(server)
        st1 = server.stats(reset="census" if self.args.census else "objects")
        rep["idle"] = {"seconds": self.args.settle, "server_cpu_share": round(idle_share, 3),
                       "heartbeats_per_s": round(self.n / 15, 1)}
        rep["memory"] = {
            "rss_one_stream_mb": round(mem0["rss"] / 2**20, 1), "rss_n_streams_mb": round(mem1["rss"] / 2**20, 1),
            "kb_per_stream_rss": round((mem1["rss"] - mem0["rss"]) / self.n / 1024, 1),
            "kb_per_stream_uss": round((mem1["uss"] - mem0["uss"]) / self.n / 1024, 1)}
        if st1:
            rep["memory"]["hub_streams"] = [st0["hub_streams"], st1["hub_streams"]]
            rep["memory"]["gc_objects_with_n_streams"] = st1["gc_objects"]
            if self.args.census:
                before = dict(st0["census"])
                rep["memory"]["gc_objects_per_stream"] = round((st1["gc_objects"] - st0["gc_objects"]) / self.n, 1)
                rep["memory"]["census_per_stream"] = [(name, round((n - before.get(name, 0)) / self.n, 2))
                                                      for name, n in st1["census"]]
            rep["while_connecting"] = {"worker_gc": st1["gc"], "worker_loop_lag": st1["loop_lag"]}
        m = rep["memory"]
        log(f"(c) {server.name}: RSS {m['rss_one_stream_mb']} MB -> {m['rss_n_streams_mb']} MB = "
            f"{m['kb_per_stream_rss']} KB per stream (USS {m['kb_per_stream_uss']} KB); idle with "
            f"{self.n} streams (heartbeats only) the server uses {idle_share:.1%} of a CPU")
        if server.name == "app":
            rep["redis_while_idle"] = self.redis_clients_of_worker(server)
            rep["db_while_idle"] = self.db_connections(server)
            log(f"    worker's Redis connections while idle: {rep['redis_while_idle']}")
            log(f"    worker's DB connections while idle: {rep['db_while_idle']}")
        gc.collect()
        gc.freeze()  # this process's own GC passes over 5,000 streams would delay receive timestamps
        gc.disable()
        try:
            rep["targeted"] = [self.targeted(server, users, rate) for rate, users in zip(self.rates, user_sets)]
            rep["broadcast"] = self.broadcasts(server)
        finally:
            gc.enable()
            gc.unfreeze()
        if server.name == "app":
            rep["psycopg_gevent"] = self.pg_sleep_check(server)
            st = server.stats()
            rep["after"] = {
                "streams_still_open": sum(1 for s in server.streams if not s.greenlet.dead),
                "stream_errors": len(server.results.errors), "first_errors": server.results.errors[:5],
                "hub_streams": st["hub_streams"], "heartbeats_received": sum(s.heartbeats for s in server.streams),
                "rss_mb": round(self.memory(server)["rss"] / 2**20, 1),
                "redis": self.redis_clients_of_worker(server), "db": self.db_connections(server)}
        return rep

    def run(self):
        self.raise_nofile()
        self.admin.flushdb()
        gevent.spawn(lag_monitor)
        self.direct.start()
        k = min(self.args.notifications, self.n // max(1, len(self.rates)))
        picks = random.Random(42).sample(range(self.n), k * len(self.rates))  # distinct: one row per user
        user_sets = [picks[i * k:(i + 1) * k] for i in range(len(self.rates))]
        if not self.args.no_floor:
            floor = FloorServer(self)
            self.servers.append(floor)
            floor.start()
            self.report["floor"] = self.measure(floor, user_sets)
            floor.stop()
        self.create_database()
        self.make_app()
        self.seed_users()
        app = AppServer(self)
        self.servers.append(app)
        self.report["server"] = app.start()
        self.report["app"] = self.measure(app, user_sets)
        self.report["host"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        self.report["verdict"] = self.verdict()
        return self.report

    def verdict(self):
        app, floor = self.report["app"], self.report.get("floor")
        out = {"targets": {"targeted_p99_ms": "< 100", "broadcast_all_ms": "< 2000"}, "targeted": [],
               "broadcast": {}}
        for i, t in enumerate(app["targeted"]):
            row = {"rate_per_s": t["rate_per_s"], "p50_ms": t["latency_ms"]["p50"], "p99_ms": t["latency_ms"]["p99"],
                   "pass": t["latency_ms"]["p99"] is not None and t["latency_ms"]["p99"] < 100
                   and t["received"] == t["published"],
                   "p50_vs_direct": ratio(t["latency_ms"]["p50"], t["direct_subscriber_ms"]["p50"]),
                   "p99_vs_direct": ratio(t["latency_ms"]["p99"], t["direct_subscriber_ms"]["p99"])}
            if floor:
                f = floor["targeted"][i]["latency_ms"]
                row.update(floor_p50_ms=f["p50"], floor_p99_ms=f["p99"],
                           p50_vs_floor=ratio(t["latency_ms"]["p50"], f["p50"]),
                           p99_vs_floor=ratio(t["latency_ms"]["p99"], f["p99"]),
                           cpu_per_notification_vs_floor=ratio(t["server_cpu_ms_per_notification"],
                                                               floor["targeted"][i]["server_cpu_ms_per_notification"]))
            out["targeted"].append(row)
        b = app["broadcast"]
        out["broadcast"] = {"median_ms": b["t100_ms_median"], "worst_ms": b["t100_ms_worst"],
                            "pass_worst": b["t100_ms_worst"] is not None and b["t100_ms_worst"] < 2000,
                            "pass_median": b["t100_ms_median"] is not None and b["t100_ms_median"] < 2000}
        if floor:
            fb = floor["broadcast"]
            cpu = [percentile([r["server_cpu_ms"] for r in x["rounds"]], 50) for x in (b, fb)]
            out["broadcast"].update(floor_median_ms=fb["t100_ms_median"],
                                    median_vs_floor=ratio(b["t100_ms_median"], fb["t100_ms_median"]),
                                    server_cpu_vs_floor=ratio(*cpu))
            out["memory_kb_per_stream"] = {"app": app["memory"]["kb_per_stream_rss"],
                                           "floor": floor["memory"]["kb_per_stream_rss"]}
        return out

    # ---- teardown
    def stop(self):
        self.direct.stop()
        keep = self.args.db != "postgres" or self.args.keep
        stop_servers(self.servers, self.app, None if keep else self.args.pg_url, self.pg_db)
        try:
            self.admin.flushdb()
        except redis.RedisError:
            pass
        if self.redis_server is not None:
            self.redis_server.stop()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def run_and_report(bench, args, stopping: str) -> dict:
    """Run `bench` within --time-limit, stop it whatever happens, print the report as JSON
    (and write it to --json). Shared by this script and bench/sse_fanout.py."""
    report = None
    try:
        with gevent.Timeout(args.time_limit, RuntimeError(f"time limit of {args.time_limit}s reached")):
            report = bench.run()
    finally:
        log(f"stopping: {stopping}")
        bench.stop()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=5000)
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/"),
                   help="server URL; the database --pg-db is (re)created on it and dropped after")
    p.add_argument("--pg-db", default="playcation_bench_sse")
    p.add_argument("--redis-url", help="a Redis DB the bench may flush (default: a private redis-server)")
    p.add_argument("--notifications", type=int, default=1000, help="targeted notifications per rate")
    p.add_argument("--rates", default="50,200", help="targeted publish rates per second, comma-separated")
    p.add_argument("--broadcasts", type=int, default=5)
    p.add_argument("--broadcast-timeout", type=float, default=15)
    p.add_argument("--connect-concurrency", type=int, default=100, help="streams being opened at once")
    p.add_argument("--connect-timeout", type=float, default=240)
    p.add_argument("--settle", type=float, default=15,
                   help="seconds of idling before measuring memory and idle CPU (15 = one heartbeat per stream)")
    p.add_argument("--no-floor", action="store_true", help="skip the bare-gevent floor server baseline")
    p.add_argument("--time-limit", type=float, default=900, help="the whole run, in seconds")
    p.add_argument("--worker-gc", help="experiment: 'freeze' and/or a gen0 threshold for the worker, "
                                       "e.g. 'freeze,50000' (applied by bench/sse_wsgi.py)")
    p.add_argument("--profile-connect", action="store_true", help="cProfile the worker while streams open")
    p.add_argument("--census", action="store_true", help="count the worker's objects per stream, by type")
    p.add_argument("--json", help="also write the report here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir and the PostgreSQL database")
    p.add_argument("--floor-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.floor_server:
        return floor_server(args.floor_server, args.redis_url)

    report = run_and_report(Bench(args), args, "closing streams, stopping the servers, dropping the bench database")
    v = report["verdict"]
    log("verdict: " + json.dumps(v))
    print(summary_table(report))


def summary_table(report) -> str:
    """The headline figures of the report (ms), app against the floor server."""
    v, app = report["verdict"], report["app"]
    rows = [[f"targeted @ {t['rate_per_s']:g}/s", t["p50_ms"], t["p99_ms"], t.get("floor_p50_ms"),
             t.get("floor_p99_ms"), "< 100 p99", "pass" if t["pass"] else "FAIL"] for t in v["targeted"]]
    b = v["broadcast"]
    rows.append([f"broadcast to {app['broadcast']['streams']}, 100 %", b["median_ms"], b["worst_ms"],
                 b.get("floor_median_ms"), None, "< 2000 worst", "pass" if b["pass_worst"] else "FAIL"])
    m = app["memory"]
    rows.append(["memory per stream (KB)", m["kb_per_stream_rss"], None,
                 v.get("memory_kb_per_stream", {}).get("floor"), None, "reported", ""])
    return "\n" + table(["figure", "app p50", "app p99", "floor p50", "floor p99", "target", ""], rows,
                        ["", "", "", "", "", "", ""]) + \
        "\n(broadcast: median / worst round in the p50 / p99 columns; memory: RSS growth per stream)"


if __name__ == "__main__":
    main()
