"""Mixed load on two nodes: `make load` (LOAD_SECONDS=15) or
`.venv/bin/python -m bench.mixed_load` (LOAD_SECONDS, default 60).

Starts a private deployment with bench/harness (the cluster the reliability tests use too): a fresh PostgreSQL
database (LOAD_DB, default playcation_load, on the server of PLAYCATION_PG_URL /
TEST_DATABASE_URL, else postgres@127.0.0.1:5432), a private redis-server, the SMTP sink,
two gunicorn nodes (gevent), two RQ workers and the coupon consumer. Then, for
LOAD_SECONDS, LOAD_THREADS client threads (default 12) spread over both nodes:

  browse    GET /, /games, a game page
  search    GET /search?q=…
  cart      add a game to the cart, remove it again (htmx)
  checkout  cart → POST /checkout → sandbox "approve" → success redirect (4 requests)
  claim     a coupon storm a third of the way in: LOAD_STORM_USERS users (default 300)
            press Claim on both nodes at once for LOAD_COUPONS coupons (default 100)
  sse       LOAD_SSE listeners (default 40; the shoppers, so purchases notify them) keep
            /notifications/stream open throughout

and checks afterwards: zero 5xx, coupons in the database == N with nobody twice, every
paid order has its games in the library, no order stuck in flight, every receipt
email sent. Exit status 1 if a check fails.
"""
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (Cluster, Visitor, make_game, make_users, percentile, postgres_url, table,  # noqa: E402
                           wait_for)

WORDS = ["star", "dungeon", "racer", "knight", "farm", "space", "puzzle", "hollow", "city", "quest"]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency = defaultdict(list)
        self.status = defaultdict(lambda: defaultdict(int))
        self.errors = defaultdict(list)

    def record(self, kind: str, started: float, status: int | str):
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latency[kind].append(elapsed)
            self.status[kind][status] += 1

    def fail(self, kind: str, message: str):
        with self.lock:
            self.status[kind]["error"] += 1
            if len(self.errors[kind]) < 5:
                self.errors[kind].append(message)

    def server_errors(self) -> int:
        return sum(n for codes in self.status.values() for code, n in codes.items()
                   if isinstance(code, int) and code >= 500)


def timed(stats: Stats, kind: str, fn):
    started = time.perf_counter()
    try:
        res = fn()
    except Exception as exc:  # noqa: BLE001 - a client-side failure is counted, not fatal
        stats.fail(kind, f"{type(exc).__name__}: {exc}"[:200])
        return None
    stats.record(kind, started, res.status_code)
    return res


class Shopper:
    def __init__(self, visitor: Visitor, user, games):
        self.v, self.user, self.games = visitor, user, games
        self.owned: set[int] = set()

    def browse(self, stats):
        path = random.choice(["/", "/games", f"/games/{random.choice(self.games).slug}"])
        timed(stats, "browse", lambda: self.v.get(path))

    def search(self, stats):
        timed(stats, "search", lambda: self.v.get(f"/search?q={random.choice(WORDS)}"))

    def cart(self, stats):
        game = random.choice(self.games)
        timed(stats, "cart", lambda: self.v.post(f"/cart/{game.id}", htmx=True))
        timed(stats, "cart", lambda: self.v.post(f"/cart/{game.id}/remove", htmx=True))

    def checkout(self, stats):
        choices = [g for g in self.games if g.id not in self.owned]
        if not choices:
            return self.browse(stats)
        game = random.choice(choices)
        started = time.perf_counter()
        steps = [lambda: self.v.post(f"/cart/{game.id}", htmx=True), lambda: self.v.post("/checkout")]
        res = None
        try:
            for step in steps:
                res = step()
                if res.status_code >= 500:
                    return stats.record("checkout", started, res.status_code)
            if res.status_code != 302 or "/sandbox/pay/" not in res.headers.get("Location", ""):
                return stats.fail("checkout", f"checkout answered {res.status_code} {res.headers.get('Location')}")
            public_id = res.headers["Location"].rsplit("/", 1)[1]
            res = self.v.post(f"/sandbox/pay/{public_id}", {"action": "approve"})
            if res.status_code != 302:
                return stats.record("checkout", started, res.status_code)
            res = self.v.get(res.headers["Location"])
            if res.status_code == 302 and res.headers.get("Location") == f"/orders/{public_id}":
                self.owned.add(game.id)
            stats.record("checkout", started, res.status_code)
        except Exception as exc:  # noqa: BLE001
            stats.fail("checkout", f"{type(exc).__name__}: {exc}"[:200])


def signed_visitors(cluster, users, ip_base: int) -> list[Visitor]:
    """Visitors holding the session cookie Flask-Login writes after the login form,
    signed with the nodes' SECRET_KEY (the login form itself is argon2: ~0.2 s of CPU a
    login, so only a sample of users logs in over HTTP; see run())."""
    from flask import g, session
    from flask_wtf.csrf import generate_csrf
    from sqlalchemy import select

    from shop.accounts import sessions
    from shop.accounts.models import User
    from shop.extensions import db

    app = cluster.app()
    with app.app_context():
        ids = {}
        for u in db.session.scalars(select(User).where(User.id.in_([u.id for u in users]))):
            # A login record, as the login form makes (a cookie without one logs nobody in).
            u.login_session_id = sessions.start(u, user_agent="bench mixed_load", remote_addr="127.0.0.1")
            ids[u.id] = u.get_id()
    signer = app.session_interface.get_signing_serializer(app)
    out = []
    with app.test_request_context():
        for n, user in enumerate(users):
            session.clear()
            g.pop("csrf_token", None)
            token = generate_csrf()
            k = ip_base + n
            v = Visitor(cluster.nodes, ip=f"10.{k // 65536 % 256}.{k // 256 % 256}.{k % 256}")
            v.http.cookies.set(app.config["SESSION_COOKIE_NAME"], signer.dumps(
                {"_user_id": ids[user.id], "_fresh": True, "csrf_token": session["csrf_token"]}))
            v.token = token
            v.user = user
            out.append(v)
    return out


def sse_listener(v: Visitor, stop: threading.Event, stats: Stats, counts: dict):
    started = time.perf_counter()
    try:
        res = v.http.get(v.node() + "/notifications/stream", stream=True, timeout=(5, 30))
        stats.record("sse-open", started, res.status_code)
        if res.status_code != 200:
            return
        for line in res.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                with stats.lock:
                    counts[line[6:].strip()] = counts.get(line[6:].strip(), 0) + 1
            if stop.is_set():
                break
    except Exception as exc:  # noqa: BLE001 - the stream ends when the nodes stop
        if not stop.is_set():
            stats.fail("sse-open", f"{type(exc).__name__}: {exc}"[:200])


def coupon_storm(cluster, visitors, quantity: int, stats: Stats) -> tuple[int, list[int]]:
    from shop.coupons import services
    from shop.timeutil import utcnow

    now = utcnow()
    with cluster.app().app_context():
        event_id = services.create_event(services.EventInput(
            name="Load drop", discount_type="fixed", discount_value=1000, quantity=quantity,
            opens_at=now - timedelta(seconds=1), closes_at=now + timedelta(hours=1), valid_days=7)).id
    attempts = [(v, node) for v in visitors for node in (0, 1)]
    random.shuffle(attempts)
    winners = []

    def claim(attempt):
        v, node = attempt
        res = timed(stats, "claim", lambda: v.post(f"/coupons/{event_id}/claim", node=node,
                                                    headers={"Accept": "application/json"}))
        if res is not None and res.status_code == 200 and res.json().get("outcome") == "claimed":
            with stats.lock:
                winners.append(v.user.id)

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(claim, attempts))
    return event_id, winners


def run() -> int:
    seconds = float(os.environ.get("LOAD_SECONDS", 60))
    threads = int(os.environ.get("LOAD_THREADS", 12))
    storm_users = int(os.environ.get("LOAD_STORM_USERS", 300))
    quantity = int(os.environ.get("LOAD_COUPONS", 100))
    listeners = int(os.environ.get("LOAD_SSE", 40))
    pg = postgres_url() or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    folder = Path(tempfile.mkdtemp(prefix="playcation-load-"))
    cluster = Cluster(folder, pg, os.environ.get("LOAD_DB", "playcation_load"))
    print(f"* starting two nodes, two workers and the coupon consumer (logs in {folder})", flush=True)
    cluster.start_infrastructure()
    try:
        cluster.start_deployment(2)
        app = cluster.app()
        (publisher,) = make_users(app, 1, role="publisher", prefix="loadpub")
        games = [make_game(app, publisher.id, f"{random.choice(WORDS).title()} {n}", price=5000 + 1000 * (n % 20))
                 for n in range(40)]
        shoppers_users = make_users(app, threads * 4, prefix="shopper")
        storm = make_users(app, storm_users, prefix="storm")
        # A sample logs in through the form (argon2 on the nodes); the rest carry signed sessions.
        http_logins = shoppers_users[:threads]
        visitors = [Visitor(cluster.nodes, ip=f"172.16.{n // 250}.{n % 250 + 1}") for n in range(len(http_logins))]
        for v, u in zip(visitors, http_logins):
            assert v.login(u.email).status_code == 302
            v.user = u
        visitors += signed_visitors(cluster, shoppers_users[threads:], 1000)
        storm_visitors = signed_visitors(cluster, storm, 20000)
        shoppers = [Shopper(v, v.user, games) for v in visitors]

        stats, stop, sse_counts = Stats(), threading.Event(), {}
        sse_threads = [threading.Thread(target=sse_listener, args=(v, stop, stats, sse_counts), daemon=True)
                       for v in signed_visitors(cluster, (shoppers_users * 10)[:listeners], 40000)]
        for t in sse_threads:
            t.start()
        weights = {"browse": 35, "search": 20, "cart": 20, "checkout": 10}
        kinds = list(weights)
        deadline = time.monotonic() + seconds
        print(f"* {seconds:.0f} s of mixed traffic: {threads} client threads, {listeners} SSE listeners, "
              f"a storm of {storm_users} users for {quantity} coupons", flush=True)

        def client(n):
            own = shoppers[n::threads]
            while time.monotonic() < deadline:
                shopper = random.choice(own)
                getattr(shopper, random.choices(kinds, [weights[k] for k in kinds])[0])(stats)

        storm_result = {}

        def storm_later():
            time.sleep(seconds / 3)
            storm_result["event"], storm_result["winners"] = coupon_storm(cluster, storm_visitors, quantity, stats)

        began = time.monotonic()
        storm_thread = threading.Thread(target=storm_later)
        storm_thread.start()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(client, range(threads)))
        storm_thread.join()
        elapsed = time.monotonic() - began
        stop.set()

        # --- checks ---------------------------------------------------------------------
        event_id, winners = storm_result["event"], storm_result["winners"]
        wait_for(lambda: cluster.scalar("SELECT count(*) FROM coupons WHERE event_id = %s", event_id) >= quantity,
                 "the coupon rows", timeout=60)
        wait_for(lambda: cluster.scalar("SELECT count(*) FROM email_log WHERE status <> 'sent'") == 0,
                 "every receipt sent", timeout=90, interval=0.5)
        time.sleep(1)
        issued = [r[0] for r in cluster.sql("SELECT user_id FROM coupons WHERE event_id = %s", event_id)]
        paid = cluster.scalar("SELECT count(*) FROM orders WHERE status = 'PAID'")
        missing_grants = cluster.scalar(
            "SELECT count(*) FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.status = 'PAID' AND "
            "NOT EXISTS (SELECT 1 FROM library_entries e WHERE e.user_id = o.user_id AND e.game_id = l.game_id "
            "AND e.revoked_at IS NULL)")
        stuck = cluster.scalar("SELECT count(*) FROM orders WHERE status IN ('CONFIRMING', 'AWAITING_CONFIRMATION')")
        receipts = cluster.scalar("SELECT count(*) FROM email_log WHERE kind = 'receipt' AND status = 'sent'")
        checks = {
            "zero 5xx": stats.server_errors() == 0,
            f"coupons issued == {quantity}": len(issued) == quantity and sorted(issued) == sorted(winners),
            "no coupon holder twice": len(set(issued)) == len(issued),
            "every paid order has its library entries": missing_grants == 0,
            "no order stuck in flight": stuck == 0,
            "a receipt for every paid order": receipts == paid,
        }

        # --- summary --------------------------------------------------------------------
        print(f"\nmixed load, two nodes, {elapsed:.1f} s (LOAD_SECONDS={seconds:.0f}, LOAD_THREADS={threads})")
        rows, total = [], 0
        for kind in ["browse", "search", "cart", "checkout", "claim", "sse-open"]:
            lat = [x * 1000 for x in stats.latency.get(kind, [])]
            total += len(lat)
            codes = ", ".join(f"{code}: {n}" for code, n in sorted(stats.status[kind].items(), key=str))
            rows.append([kind, len(lat), len(lat) / max(elapsed, 1), percentile(lat, 50), percentile(lat, 99), codes])
        rows.append(["all", total, total / elapsed, None, None, ""])
        print(table(["kind", "requests", "req/s", "p50 ms", "p99 ms", "statuses"], rows,
                    ["", "", ".1f", ".0f", ".0f", ""]))
        print(f"(checkout = one whole purchase, 4 requests; cart = add or remove; claim = the storm's "
              f"{2 * storm_users} attempts)")
        print(f"SSE events received by {listeners} listeners: {dict(sorted(sse_counts.items()))}")
        print(f"paid orders {paid}, receipts sent {receipts}, coupons issued {len(issued)}/{quantity}")
        for kind, errs in stats.errors.items():
            for e in errs:
                print(f"  client error ({kind}): {e}")
        print()
        for name, ok in checks.items():
            print(f"  [{'ok' if ok else 'FAIL'}] {name}")
        return 0 if all(checks.values()) else 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(run())
