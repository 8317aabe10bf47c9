"""Real processes for the bench scripts and the reliability tests: a private
redis-server, a fresh PostgreSQL database migrated with `flask db upgrade`, the SMTP
sink of shop/dev/mail.py, and any number of gunicorn nodes (gevent, as in
gunicorn.conf.py), RQ workers (`worker.py`) and coupon consumers
(`worker.py --coupons`), all configured through the environment as in production.

Every process runs in its own session (process group) and is stopped by its own pid
and group; nothing here looks processes up by name.
"""
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psycopg
import redis as redis_lib
import requests

from .database import ROOT, drop_database, fresh_database, migrate

PY = sys.executable
TOKEN_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
SECRET_KEY = "reliability-secret-key-0123456789abcdef"
PASSWORD = "a long passphrase 1"


_claimed_ports: set[int] = set()


def free_port() -> int:
    """A free TCP port: from BENCH_PORTS ("6421-6469") when set, so benches sharing a
    machine stay in their own ranges, else one the kernel picks."""
    span = os.environ.get("BENCH_PORTS", "")
    if span:
        low, _, high = span.partition("-")
        for port in range(int(low), int(high or low) + 1):
            if port in _claimed_ports:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _claimed_ports.add(port)
            return port
        raise RuntimeError(f"no free port left in BENCH_PORTS={span}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001  (whatever the check raises, try again)
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what} (last error: {last!r})")
        time.sleep(interval)


def postgres_url() -> str | None:
    """The PostgreSQL server of TEST_DATABASE_URL (or PLAYCATION_PG_URL), None for SQLite."""
    url = os.environ.get("PLAYCATION_PG_URL") or os.environ.get("TEST_DATABASE_URL") or ""
    return url if url.startswith("postgresql") else None


# --- processes --------------------------------------------------------------------------

class Proc:
    """One child process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path, **popen):
        self.name, self.argv, self.log_path = name, argv, log
        self._log = open(log, "ab")
        self.popen = subprocess.Popen(argv, cwd=popen.pop("cwd", ROOT), env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True, **popen)
        self.pid = self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """Signal the whole group (gunicorn's workers too)."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 3.0):
        if self.alive:
            self.kill(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill(signal.SIGKILL)  # whatever of the group is left
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


DURABLE_REDIS = ("--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction")


class RedisServer:
    """A private redis-server. Without persistence (the default) stopping it loses
    everything, as a restarted cache node without AOF/RDB would; `durable` runs it as the
    coupon Redis must run (an AOF fsynced before each reply, no eviction), so a restart in
    the same folder finds every acknowledged write."""

    def __init__(self, folder: Path, port: int | None = None, durable: bool = False):
        self.folder, self.port, self.durable = folder, port or free_port(), durable
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kw) -> redis_lib.Redis:
        return redis_lib.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kw)

    def start(self):
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not on PATH (Debian: apt install redis-server)")
        log = open(self.folder / f"redis-{self.port}.log", "ab")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--dir", str(self.folder), "--daemonize", "no",
                                      *(DURABLE_REDIS if self.durable else ("--appendonly", "no"))],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = self.client(socket_connect_timeout=1)
        wait_for(client.ping, f"redis-server on {self.port}", timeout=10, interval=0.05)
        client.close()

    def stop(self):
        """SIGKILL, like a crash: no SAVE, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class TcpProxy:
    """A TCP proxy in a thread (asyncio) that the tests can cut: `cut()` closes every
    connection and refuses new ones, as a dead network path or a stopped server does;
    `restore()` accepts again. `hold()` keeps connections open but stops forwarding
    (a server that hangs)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._server = None
        self._writers: set = set()
        self._flowing = asyncio.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._call(self._start)
        self._call(self._set_flowing, True)

    def _call(self, fn, *args):
        async def run():
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def _set_flowing(self, on: bool):
        (self._flowing.set if on else self._flowing.clear)()

    async def _start(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _handle(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._writers.update((writer, up_writer))

        async def pipe(src, dst):
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    await self._flowing.wait()
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)

    async def _cut(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()  # RST both ways: the server side rolls its transaction back
        self._writers.clear()

    @property
    def url_port(self) -> int:
        return self.port

    def cut(self):
        self._call(self._cut)

    def restore(self):
        self._call(self._set_flowing, True)
        if self._server is None:
            self._call(self._start)

    def hold(self):
        self._call(self._set_flowing, False)

    def close(self):
        try:
            self._call(self._cut)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


# --- the cluster ------------------------------------------------------------------------

class Cluster:
    """Shared infrastructure (Redis, PostgreSQL database, SMTP sink) plus processes.

    `env` is what every process gets; start_* accept per-process overrides."""

    def __init__(self, folder: Path, pg_url: str, db_name: str, durable_redis: bool = False, **env):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        base = pg_url.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
        self.db_name = db_name
        self.database_url = f"{base}/{db_name}"
        self.redis = RedisServer(self.folder, durable=durable_redis)
        self.mail_folder = self.folder / "mail"
        self.smtp = None
        self.smtp_port = free_port()
        self.procs: list[Proc] = []
        self.nodes: list[SimpleNamespace] = []
        self._app = None
        self.env = dict(os.environ)
        for name in ("TEST_DATABASE_URL", "TEST_REDIS_URL", "PLAYCATION_PG_URL", "PYTEST_CURRENT_TEST"):
            self.env.pop(name, None)
        self.env.update(APP_ENV="production", SECRET_KEY=SECRET_KEY, SESSION_COOKIE_SECURE="0",
                        DATABASE_URL=self.database_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(self.smtp_port),
                        MAIL_TIMEOUT="5", WEB_CONCURRENCY="1", TRUSTED_PROXIES="1", PYTHONUNBUFFERED="1",
                        UPLOAD_DIR=str(self.folder / "uploads"), DEV_INBOX_DIR=str(self.mail_folder),
                        PAYMENT_GATEWAY="sandbox",
                        # A Redis without AOF may host drops only where losing claims is the point.
                        COUPON_REQUIRE_DURABLE_REDIS="1" if durable_redis else "0")
        self.env.update({k: str(v) for k, v in env.items()})

    # infrastructure
    def start_infrastructure(self):
        from shop.dev.mail import start_sink

        self.redis.start()
        self.env["REDIS_URL"] = self.redis.url
        self.smtp = start_sink(self.mail_folder, port=self.smtp_port)
        self._create_database()
        migrate(self.env, timeout=120)

    def _admin_dsn(self) -> str:
        """The server's `postgres` database (for CREATE/DROP DATABASE, roles)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"

    def _create_database(self):
        fresh_database(self.database_url.rsplit("/", 1)[0], self.db_name)

    def drop_database(self):
        try:
            drop_database(self.database_url.rsplit("/", 1)[0], self.db_name)
        except psycopg.Error:
            pass

    def sql(self, query: str, *params):
        """One statement on a fresh connection (autocommit); rows for a SELECT."""
        dsn = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else cur.rowcount

    def connect(self) -> psycopg.Connection:
        """A psycopg connection of the test's own (a transaction it may keep open)."""
        return psycopg.connect(self.database_url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5)

    def redis_raw(self) -> redis_lib.Redis:
        return redis_lib.Redis(host="127.0.0.1", port=self.redis.port)

    def scalar(self, query: str, *params):
        rows = self.sql(query, *params)
        return rows[0][0] if rows else None

    # processes
    def _spawn(self, name: str, argv: list[str], **env) -> Proc:
        proc_env = dict(self.env)
        proc_env.update({k: str(v) for k, v in env.items()})
        proc = Proc(name, argv, proc_env, self.folder / f"{name}.log")
        self.procs.append(proc)
        return proc

    def start_node(self, wait: bool = True, **env) -> SimpleNamespace:
        port = free_port()
        name = f"node{len(self.nodes) + 1}"
        proc = self._spawn(name, [PY, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--access-logfile", "-",
                                  "wsgi:app"], BIND=f"127.0.0.1:{port}", **env)
        node = SimpleNamespace(name=name, port=port, url=f"http://127.0.0.1:{port}", proc=proc)
        self.nodes.append(node)
        if wait:
            self.wait_healthy(node)
        return node

    def wait_healthy(self, node, timeout: float = 60.0):
        def up():
            assert node.proc.alive, node.proc.output()[-3000:]
            return requests.get(node.url + "/healthz", timeout=5).status_code == 200

        wait_for(up, f"{node.name} /healthz", timeout=timeout, interval=0.2)

    def start_worker(self, name: str | None = None, **env) -> Proc:
        return self._spawn(name or f"worker{len(self.procs)}", [PY, "worker.py"], **env)

    def wait_workers(self, count: int, queue: str = "default", timeout: float = 60.0):
        """Until `count` RQ workers listen on `queue` (a worker still importing the app when
        Redis goes away exits at start-up: tests inject faults only once they are up)."""
        from rq import Worker

        raw = self.redis_raw()
        wait_for(lambda: len(Worker.all(connection=raw, queue=_queue(queue, raw))) >= count,
                 f"{count} RQ worker(s) on {queue}", timeout=timeout, interval=0.2)

    def wait_consumer(self, proc: "Proc", timeout: float = 60.0):
        wait_for(lambda: proc.alive and "coupon consumer" in proc.output() and "started" in proc.output(),
                 f"{proc.name} started", timeout=timeout, interval=0.2)

    def start_consumer(self, name: str | None = None, **env) -> Proc:
        return self._spawn(name or f"coupons{len(self.procs)}", [PY, "worker.py", "--coupons"], **env)

    def start_admissions(self, name: str = "admissions", **env) -> Proc:
        """`worker.py --admissions`: the waiting rooms' admission loop in a process of its own."""
        return self._spawn(name, [PY, "worker.py", "--admissions"], **env)

    def wait_admissions(self, proc: "Proc", timeout: float = 60.0):
        wait_for(lambda: proc.alive and "admissions started" in proc.output(), f"{proc.name} started",
                 timeout=timeout, interval=0.2)

    def stop_proc(self, proc: Proc):
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    # in-process access (services, factories) to the same database and Redis
    def app(self, **overrides):
        """An app object in this process on the cluster's database and Redis, for
        creating rows and calling services. Flask-Limiter is one module-level object that
        create_app re-points; it is put back so the test suite's own app keeps its limiter."""
        if self._app is None or overrides:
            from shop import create_app
            from shop.config import ProductionConfig
            from shop.extensions import limiter

            saved = dict(vars(limiter))
            try:
                cfg = dict(SECRET_KEY=SECRET_KEY, SQLALCHEMY_DATABASE_URI=self.database_url,
                           REDIS_URL=self.env["REDIS_URL"], MAIL_SERVER="127.0.0.1", MAIL_PORT=self.smtp_port,
                           RQ_QUEUE="default", SESSION_COOKIE_SECURE=False, UPLOAD_DIR=self.env["UPLOAD_DIR"],
                           SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
                           COUPON_REQUIRE_DURABLE_REDIS=self.env["COUPON_REQUIRE_DURABLE_REDIS"] == "1")
                cfg.update(overrides)
                app = create_app(ProductionConfig, **cfg)
            finally:
                vars(limiter).clear()
                vars(limiter).update(saved)
            if overrides:
                return app
            self._app = app
        return self._app

    def start_nodes(self, count: int = 2):
        """`count` web nodes started together, then waited for until healthy."""
        for _ in range(count):
            self.start_node(wait=False)
        for node in self.nodes:
            self.wait_healthy(node)

    def start_deployment(self, nodes: int = 2):
        """A deployment as production runs it: `nodes` web nodes, two RQ workers and the
        coupon consumer, each waited for until it serves."""
        self.start_nodes(nodes)
        self.start_worker("worker-a")
        self.start_worker("worker-b")
        self.wait_consumer(self.start_consumer("coupons"))
        self.wait_workers(2)

    def mail_to(self, address: str) -> list[dict]:
        from shop.dev.mail import read_messages

        return [m for m in read_messages(self.mail_folder) if address in m["to"]]

    def stop(self):
        for proc in self.procs:
            if proc.alive:
                proc.kill(signal.SIGTERM)
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None
        if self._app is not None:
            from shop.extensions import db

            with self._app.app_context():
                db.session.remove()
                db.engine.dispose()
            self._app = None
        self.redis.stop()
        self.drop_database()


def _queue(name, connection):
    from rq import Queue

    return Queue(name, connection=connection)


# --- data and clients -------------------------------------------------------------------

def make_users(app, n: int, role: str = "customer", verified: bool = True, prefix: str = "u") -> list:
    """n users in one commit (one argon2 hash shared); returns (id, email) namespaces."""
    import random

    from shop.accounts.models import User
    from shop.accounts.services import hash_password
    from shop.extensions import db
    from shop.timeutil import utcnow

    pw_hash = hash_password(PASSWORD)
    tag = random.randrange(10**9)
    with app.app_context():
        rows = [User(email=f"{prefix}{tag}-{i}@example.com", nickname=f"{prefix.title()}{tag % 10**6}x{i}",
                     role=role, status="active", password_hash=pw_hash,
                     email_verified_at=utcnow() if verified else None) for i in range(n)]
        db.session.add_all(rows)
        db.session.commit()
        return [SimpleNamespace(id=u.id, email=u.email, nickname=u.nickname) for u in rows]


def make_game(app, publisher_id: int, title: str, price: int = 15000) -> SimpleNamespace:
    from shop.accounts.models import User
    from shop.catalog import services as catalog
    from shop.extensions import db

    with app.app_context():
        publisher = db.session.get(User, publisher_id)
        game = catalog.create_game(publisher, catalog.GameInput(title=title, price=price))
        return SimpleNamespace(id=game.id, slug=game.slug, title=game.title, price=game.price)


def grant(app, user_id: int, game_id: int):
    """The user owns the game (a paid order and its library entry), bought elsewhere."""
    from shop.catalog.models import Game
    from shop.extensions import db
    from shop.library.models import LibraryEntry
    from shop.orders.models import Order, OrderLine
    from shop.timeutil import utcnow

    with app.app_context():
        game = db.session.get(Game, game_id)
        order = Order(user_id=user_id, status="PAID", subtotal=game.price, total=game.price, gateway="sandbox",
                      expires_at=utcnow(), paid_at=utcnow(),
                      lines=[OrderLine(game_id=game_id, title=game.title, list_price=game.price, price=game.price)])
        db.session.add(order)
        db.session.flush()
        db.session.add(LibraryEntry(user_id=user_id, game_id=game_id, order_id=order.id))
        db.session.commit()


class Visitor:
    """A browser behind the load balancer: one cookie jar (requests.Session), any node per
    request, its own client address in X-Forwarded-For (the nodes trust one proxy hop),
    and a language (Accept-Language; the checks read English pages by default)."""

    def __init__(self, nodes, ip: str = "203.0.113.7", timeout: float = 15.0, lang: str = "en"):
        self.nodes = list(nodes)
        self.ip = ip
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = ip
        self.http.headers["Accept-Language"] = lang
        self.token = None
        self._next = 0

    def node(self, which=None) -> str:
        if which is None:
            which = self._next % len(self.nodes)
            self._next += 1
        node = self.nodes[which] if isinstance(which, int) else which
        return node.url

    def get(self, path: str, node=None, **kw):
        kw.setdefault("timeout", self.timeout)
        kw.setdefault("allow_redirects", False)
        return self.http.get(self.node(node) + path, **kw)

    def post(self, path: str, data=None, node=None, htmx=False, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token or self.refresh_token(node))
        headers = dict(kw.pop("headers", {}))
        if htmx:
            headers["HX-Request"] = "true"
        kw.setdefault("timeout", self.timeout)
        kw.setdefault("allow_redirects", False)
        return self.http.post(self.node(node) + path, data=data, headers=headers, **kw)

    def refresh_token(self, node=None, path: str = "/login") -> str:
        page = self.get(path, node=node)
        match = TOKEN_RE.search(page.text)
        assert match, f"no CSRF token on {path}: {page.status_code}"
        self.token = match.group(1)
        return self.token

    def login(self, email: str, password: str = PASSWORD, node=None):
        self.refresh_token(node)
        res = self.post("/login", {"email": email, "password": password}, node=node)
        if res.status_code == 302:
            self.token = None  # a fresh session on login: a new CSRF token
            self.refresh_token(node, "/cart")
        return res
