"""Two web nodes against a database that allows 30 connections.

PostgreSQL's `max_connections` is server-wide, so the limit here is a role's:
`CREATE ROLE … CONNECTION LIMIT 30`, which refuses the 31st session of that role with
the same "too many connections" error a full server gives. Both nodes log in as that
role and are told the budget through the environment (DB_MAX_CONNECTIONS=30, WEB_NODES=2,
WEB_CONCURRENCY=2), so each gunicorn worker's pool is (30 - 2 reserved) / 4 = 7.

Rules: under a storm of logged-in page views the nodes stay inside the limit and answer
200 or the 503 page, never a 500; with every connection of the role taken, logged-in
HTML pages get the 503 page (rendered without the database), and the nodes recover by
themselves once connections are free again."""
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from bench.harness.cluster import SECRET_KEY, make_users, wait_for
from .conftest import new_cluster

ROLE = "playcation_rel_budget"
LIMIT = 30
BUDGET_ENV = dict(DB_MAX_CONNECTIONS=LIMIT, DB_RESERVED_CONNECTIONS=2, WEB_NODES=2, WEB_CONCURRENCY=2,
                  WORKER_PROCESSES=0, DB_POOL_TIMEOUT=3)
PER_PROCESS = (LIMIT - 2) // (2 * 2)
PAGES = ("/account", "/cart", "/library", "/orders", "/wishlist", "/", "/games", "/healthz")
STORM_SECONDS = 8
CLIENTS = 48


@pytest.fixture(scope="module")
def limited():
    cluster = new_cluster("budget")
    admin = cluster._admin_dsn()
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {ROLE}")
            conn.execute(f"CREATE ROLE {ROLE} LOGIN CONNECTION LIMIT {LIMIT}")
        for grant in (f'GRANT CONNECT ON DATABASE "{cluster.db_name}" TO {ROLE}',
                      f"GRANT USAGE ON SCHEMA public TO {ROLE}",
                      f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}",
                      f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}"):
            cluster.sql(grant)
        cluster.role_url = cluster.database_url.replace("://postgres@", f"://{ROLE}@", 1)
        assert cluster.role_url != cluster.database_url, "expected TEST_DATABASE_URL to log in as postgres"
        for _ in range(2):
            cluster.start_node(wait=False, DATABASE_URL=cluster.role_url, **BUDGET_ENV)
        for node in cluster.nodes:
            cluster.wait_healthy(node)
        yield cluster
    finally:
        cluster.stop()
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP ROLE IF EXISTS {ROLE}")
        except psycopg.Error:
            pass


def role_sessions(cluster) -> int:
    return cluster.scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", ROLE)


def session_cookie(cluster, user_id: int) -> str:
    """The signed session cookie a browser holds after logging in (no argon2 per user)."""
    from ..support.browser import login_id

    app = cluster.app()
    with app.app_context():
        return app.session_interface.get_signing_serializer(app).dumps({"_user_id": login_id(app, user_id),
                                                                          "_fresh": True})


def logged_in_client(cluster, user) -> requests.Session:
    http = requests.Session()
    http.headers["Accept-Language"] = "en"  # the checks read the English 503 page
    http.cookies.set("session", session_cookie(cluster, user.id))
    return http


def is_503_page(res) -> bool:
    return res.status_code == 503 and "Temporarily unavailable" in res.text and "Traceback" not in res.text


def test_storm_stays_inside_the_limit_and_never_500s(limited):
    users = make_users(limited.app(), CLIENTS, prefix="storm")
    clients = [logged_in_client(limited, u) for u in users]
    # Each client's cookie really is a logged-in session.
    probe = clients[0].get(limited.nodes[0].url + "/account", timeout=10, allow_redirects=False)
    assert probe.status_code == 200 and users[0].nickname in probe.text

    results: list[tuple[str, int, bool]] = []
    lock = threading.Lock()
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], role_sessions(limited))
            time.sleep(0.05)

    def browse(index: int):
        http = clients[index]
        rng = random.Random(index)
        deadline = time.monotonic() + STORM_SECONDS
        mine = []
        while time.monotonic() < deadline:
            node = limited.nodes[rng.randrange(2)]
            path = rng.choice(PAGES)
            try:
                res = http.get(node.url + path, timeout=20, allow_redirects=False)
            except requests.RequestException as exc:
                mine.append((path, -1, False, repr(exc)))
                continue
            mine.append((path, res.status_code, is_503_page(res), res.text[:300] if res.status_code >= 500 else ""))
        with lock:
            results.extend(mine)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(browse, range(CLIENTS)))
    stop.set()
    sampler.join(5)

    statuses = Counter(status for _, status, _, _ in results)
    print(f"\nstorm: {len(results)} requests in {STORM_SECONDS} s from {CLIENTS} logged-in clients; "
          f"statuses {dict(statuses)}; peak sessions of the role {peak[0]} (limit {LIMIT})")
    assert len(results) >= CLIENTS, "the storm hardly ran"
    bad = [(p, s, body) for p, s, page, body in results if s not in (200, 302, 503)]
    assert not bad, bad[:5]
    pages_503 = [(p, body) for p, s, page, body in results if s == 503 and p != "/healthz" and not page]
    assert not pages_503, pages_503[:5]
    assert peak[0] <= 2 * 2 * PER_PROCESS
    for node in limited.nodes:
        assert "too many connections" not in node.proc.output()


def test_every_connection_taken_gives_the_503_page_then_recovers(limited):
    (user,) = make_users(limited.app(), 1, prefix="full")
    http = logged_in_client(limited, user)
    held: list[psycopg.Connection] = []
    role_dsn = limited.role_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        # End the nodes' pooled sessions and take every slot of the role ourselves.
        def take_all() -> bool:
            limited.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s "
                        "AND pid <> ALL(%s)", ROLE, [c.info.backend_pid for c in held])
            while len(held) < LIMIT:
                held.append(psycopg.connect(role_dsn, autocommit=True, connect_timeout=5))
            return True

        wait_for(take_all, "every connection of the role held by the test", timeout=20)
        with pytest.raises(psycopg.OperationalError, match="too many connections"):
            psycopg.connect(role_dsn, connect_timeout=5)

        for node in limited.nodes:
            for path in ("/account", "/cart", "/library", "/"):
                res = http.get(node.url + path, timeout=20, allow_redirects=False)
                assert is_503_page(res), (node.name, path, res.status_code, res.text[:300])
            # /healthz checks the database at most once a second per worker, so the
            # answer may lag the outage by that second: wait for it, a few seconds at most.
            def health_down(url=node.url + "/healthz") -> bool:
                health = requests.get(url, timeout=20)
                return health.status_code == 503 and health.json()["database"].startswith("down")

            wait_for(health_down, f"{node.name} /healthz reporting the database down", timeout=10, interval=0.3)
    finally:
        for conn in held:
            conn.close()

    for node in limited.nodes:
        wait_for(lambda: http.get(node.url + "/account", timeout=20, allow_redirects=False).status_code == 200,
                 f"{node.name} serving again", timeout=20, interval=0.2)
    assert user.nickname in http.get(limited.nodes[0].url + "/account", timeout=20).text
