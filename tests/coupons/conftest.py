"""Coupon test fixtures: an open-event factory, claimers that click like a browser,
bulk users, private redis-server processes (a standalone one whose script cache may be
flushed, and a real 3-node Redis Cluster), and cleanup for multi-connection tests."""
import itertools
import random
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis as redis_lib
from redis.cluster import RedisCluster
from sqlalchemy import delete, select

from shop.accounts.models import User
from shop.coupons import services
from shop.coupons.models import Coupon, CouponEvent
from shop.coupons.redis_state import keys
from shop.extensions import db
from shop.timeutil import utcnow

from ..support.accounts import _hash
from ..support.browser import TOKEN_RE, Browser

_user_numbers = itertools.count(1)


# --- data ---------------------------------------------------------------------------------

def event_input(quantity=10, **kw) -> services.EventInput:
    now = utcnow()
    data = dict(name="Spring drop", discount_type="fixed", discount_value=3000, quantity=quantity,
                opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=1), valid_days=7)
    data.update(kw)
    return services.EventInput(**data)


@pytest.fixture
def open_event(app):
    """make(quantity=10, **fields) -> id of an event whose claim window is open now."""

    def make(quantity=10, **kw) -> int:
        with app.app_context():
            return services.create_event(event_input(quantity, **kw)).id

    return make


@pytest.fixture
def make_users(app):
    """make(n, verified=True) -> n users, inserted in one commit (argon2 hash shared)."""

    def make(n: int, verified: bool = True) -> list[SimpleNamespace]:
        with app.app_context():
            rows = []
            for _ in range(n):
                k = next(_user_numbers)
                rows.append(User(email=f"claimer{k}-{random.randrange(10**9)}@example.com", nickname=f"Claimer{k}",
                                 role="customer", status="active", password_hash=_hash("a long passphrase 1"),
                                 email_verified_at=utcnow() if verified else None))
            db.session.add_all(rows)
            db.session.commit()
            return [SimpleNamespace(id=u.id, email=u.email) for u in rows]

    return make


def coupon_rows(app, event_id: int) -> list[tuple[int, str]]:
    """(user id, status) of the event's persisted coupons."""
    with app.app_context():
        return [(c.user_id, c.status) for c in db.session.scalars(
            select(Coupon).where(Coupon.event_id == event_id).order_by(Coupon.id))]


def drop_event_keys(redis, event_id: int):
    """What a Redis restart without persistence does to one event: its keys are gone.
    Only this event's keys, never FLUSHALL: the test Redis DB is shared."""
    k = keys(event_id)
    redis.delete(k["meta"], k["stock"], k["claimed"], k["stream"])


def purge(app, user_ids=(), event_ids=()):
    """Clean-up for @pytest.mark.no_db_isolation tests, whose commits are real."""
    from shop.cart.models import CartItem
    from shop.catalog.models import Game
    from shop.orders.models import Order, SandboxPayment
    from shop.library.models import LibraryEntry

    with app.app_context():
        user_ids, event_ids = list(user_ids), list(event_ids)
        if event_ids:
            db.session.execute(delete(Coupon).where(Coupon.event_id.in_(event_ids)))
        if user_ids:
            public_ids = select(Order.public_id).where(Order.user_id.in_(user_ids))
            db.session.execute(delete(Coupon).where(Coupon.user_id.in_(user_ids)))
            db.session.execute(delete(SandboxPayment).where(SandboxPayment.order_public_id.in_(public_ids)))
            db.session.execute(delete(LibraryEntry).where(LibraryEntry.user_id.in_(user_ids)))
            db.session.execute(delete(CartItem).where(CartItem.user_id.in_(user_ids)))
            db.session.execute(delete(Order).where(Order.user_id.in_(user_ids)))  # lines, payment events cascade
        if event_ids:
            db.session.execute(delete(CouponEvent).where(CouponEvent.id.in_(event_ids)))
        if user_ids:
            db.session.execute(delete(Game).where(Game.publisher_id.in_(user_ids)))
            db.session.execute(delete(User).where(User.id.in_(user_ids)))
        db.session.commit()


def is_sqlite(app) -> bool:
    with app.app_context():
        return db.engine.dialect.name == "sqlite"


@pytest.fixture
def postgres_only(app):
    if is_sqlite(app):
        pytest.skip("needs PostgreSQL: several connections writing at once, with row locks "
                    "(SQLite has one writer and ignores SELECT … FOR UPDATE)")


# --- admins and others at the admin pages ----------------------------------------------------

def browser_as(app, make_user, role):
    """A browser logged in as a new user of `role` ("anonymous": not logged in)."""
    from ..support.orders import session_login

    browser = Browser(app)
    if role != "anonymous":
        session_login(app, browser, make_user(role=role).id)
    return browser


@pytest.fixture
def admin(app, make_user):
    return browser_as(app, make_user, "admin")


# --- people claiming ----------------------------------------------------------------------

class Claimer:
    """One logged-in user with their own test client (their own cookies and client IP),
    pressing the claim button the way the page does: POST with the session's CSRF token."""

    def __init__(self, app, user, ip="127.0.0.1", _session_cookie=None, _token=None):
        self.app, self.user = app, user
        self.browser = Browser(app)
        self.browser.client.environ_base["REMOTE_ADDR"] = ip
        if _session_cookie is None:
            [(_session_cookie, _token)] = _logged_in_sessions(app, [user.id])
        self.browser.client.set_cookie(app.config["SESSION_COOKIE_NAME"], _session_cookie)
        self.token = _token

    @classmethod
    def crowd(cls, app, users, ip=lambda n: "127.0.0.1") -> list["Claimer"]:
        """Claimers for many users at once (one query, no page renders); ip(n) picks the
        n-th claimer's client address."""
        sessions = _logged_in_sessions(app, [u.id for u in users])
        return [cls(app, u, ip(n), cookie, token) for n, (u, (cookie, token)) in enumerate(zip(users, sessions))]

    def open(self, event_id: int):
        """Load the event page, as a user would before pressing the button; its token is
        the one used from now on."""
        page = self.browser.get(f"/coupons/{event_id}")
        assert page.status_code == 200
        self.token = TOKEN_RE.search(page.get_data(as_text=True)).group(1)
        return page

    def claim(self, event_id: int, htmx: bool = False):
        """Press Claim; returns the response (JSON unless `htmx`)."""
        headers = {"HX-Request": "true"} if htmx else {"Accept": "application/json"}
        return self.browser.client.post(f"/coupons/{event_id}/claim", data={"csrf_token": self.token},
                                        headers=headers)

    def outcome(self, event_id: int) -> str:
        return self.claim(event_id).get_json()["outcome"]


def _logged_in_sessions(app, user_ids) -> list[tuple[str, str]]:
    """(session cookie, CSRF token) per user: the session Flask-Login writes after the
    login form (as tests/support/orders.session_login does) plus the CSRF token the
    event page would carry. flask_wtf documents the pair: the raw token in
    session["csrf_token"], the signed one from generate_csrf()."""
    from flask import g, session
    from flask_wtf.csrf import generate_csrf

    from ..support.browser import login_id

    ids = {user_id: login_id(app, user_id) for user_id in user_ids}
    field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    signer = app.session_interface.get_signing_serializer(app)
    out = []
    with app.test_request_context():
        for user_id in user_ids:
            session.clear()
            g.pop(field, None)
            token = generate_csrf()
            out.append((signer.dumps({"_user_id": ids[user_id], "_fresh": True, field: session[field]}), token))
    return out


def ip_of(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def stampede(jobs, fn, threads: int = 32):
    """Run fn(job) for every job on `threads` real threads released together; returns results in order."""
    import threading

    gate = threading.Barrier(threads)

    def started(_):
        gate.wait()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(started, range(threads)))  # every worker thread exists before the first job
        return list(pool.map(fn, jobs))


# --- private redis-server processes ---------------------------------------------------------

REDIS_SERVER, REDIS_CLI = shutil.which("redis-server"), shutil.which("redis-cli")
NO_REDIS_BINARIES = "redis-server and redis-cli are not on PATH (Debian: apt install redis-server)"


def _port_pair_free(port: int) -> bool:
    for p in (port, port + 10000):  # a cluster node also listens on its bus port, +10000
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def _free_ports(n: int) -> list[int]:
    ports = []
    while len(ports) < n:
        port = random.randrange(20000, 30000)
        if port not in ports and _port_pair_free(port):
            ports.append(port)
    return ports


def _start_server(folder: Path, port: int, *extra: str) -> subprocess.Popen:
    log = open(folder / f"redis-{port}.log", "wb")
    return subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder), "--daemonize", "no", *extra],
                            stdout=log, stderr=subprocess.STDOUT)


def _wait_for(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis_lib.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(processes):
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cluster_ok(node) -> bool:
    info = node.execute_command("CLUSTER INFO")
    if isinstance(info, dict):
        return info.get("cluster_state") == "ok"
    return "cluster_state:ok" in info


@pytest.fixture(scope="module")
def scratch_redis():
    """A private standalone redis-server (its script cache is ours to flush)."""
    if not REDIS_SERVER:
        pytest.skip(NO_REDIS_BINARIES)
    folder = Path(tempfile.mkdtemp(prefix="playcation-redis-"))
    port = _free_ports(1)[0]
    proc = _start_server(folder, port)
    client = redis_lib.Redis(host="127.0.0.1", port=port, decode_responses=True)
    try:
        _wait_for(client.ping, f"redis-server on port {port}")
        yield client
    finally:
        client.close()
        _stop([proc])
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_cluster():
    """A real 3-primary Redis Cluster on local ports; yields .client (a RedisCluster) and
    .nodes (a plain client per node)."""
    if not (REDIS_SERVER and REDIS_CLI):
        pytest.skip(NO_REDIS_BINARIES)
    folder = Path(tempfile.mkdtemp(prefix="playcation-cluster-"))
    ports = _free_ports(3)
    processes = [_start_server(folder, p, "--cluster-enabled", "yes", "--cluster-config-file",
                               str(folder / f"nodes-{p}.conf")) for p in ports]
    nodes = [redis_lib.Redis(host="127.0.0.1", port=p, decode_responses=True) for p in ports]
    client = None
    try:
        for node, port in zip(nodes, ports):
            _wait_for(node.ping, f"cluster node on port {port}")
        subprocess.run([REDIS_CLI, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=30)
        for node in nodes:
            _wait_for(lambda: _cluster_ok(node), "cluster_state:ok", timeout=20)
        client = RedisCluster(host="127.0.0.1", port=ports[0], decode_responses=True)
        yield SimpleNamespace(client=client, nodes=nodes, ports=ports)
    finally:
        if client is not None:
            client.close()
        for node in nodes:
            node.close()
        _stop(processes)
        shutil.rmtree(folder, ignore_errors=True)
