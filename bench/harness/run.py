"""Running a bench script: private Redis, gunicorn, raw HTTP probes, limits and a hard
time limit. Processes are stopped by their own pid and group, never looked up by name."""
import json
import resource
import signal
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

from .cluster import Proc, RedisServer, wait_for


class Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise Timeout after `seconds` (SIGALRM) and KeyboardInterrupt on SIGTERM, so the
    script's `finally` still stops what it started."""
    def on_alarm(*_):
        raise Timeout(f"time limit of {seconds} s reached")

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)


def raise_nofile(want: int) -> int:
    """Raise this process's open-file limit towards `want` (children inherit it); the
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def redis_or_private(url: str | None, folder: Path, db: int = 0) -> tuple[str, RedisServer | None]:
    """`url` if given; otherwise a private redis-server (no persistence) started in
    `folder`, which the caller stops. Returns (url, server or None)."""
    if url:
        return url, None
    server = RedisServer(Path(folder))
    server.start()
    return f"redis://127.0.0.1:{server.port}/{db}", server


def http_get(port: int, path: str, timeout: float = 5) -> tuple[bytes, bytes]:
    """GET over a raw socket (no client library in the measured process): (status line, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


def http_get_json(port: int, path: str, timeout: float = 30):
    status, body = http_get(port, path, timeout)
    if b" 200 " not in status + b" ":
        raise RuntimeError(f"GET {path}: {status[:200]!r}")
    return json.loads(body)


def start_gunicorn(app_spec: str, env: dict, log: Path, name: str = "gunicorn", **popen) -> Proc:
    """`gunicorn -c gunicorn.conf.py <app_spec>` in its own process group; BIND,
    WEB_CONCURRENCY and WORKER_CLASS come from `env` as in production."""
    return Proc(name, [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app_spec], env, log, **popen)


def wait_serving(proc: Proc, probe, what: str, timeout: float = 60):
    """Until `probe()` returns something true; fails at once with the log's tail if
    the process exits."""
    def check():
        if not proc.alive:
            raise SystemExit(f"{proc.name} exited:\n{tail(proc.log_path)}")
        return probe()

    try:
        return wait_for(check, what, timeout=timeout, interval=0.2)
    except TimeoutError as exc:
        raise RuntimeError(f"{exc}\n{tail(proc.log_path)}") from None


def tail(path, lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_servers(servers, app=None, pg_url: str | None = None, pg_db: str | None = None):
    """A bench's teardown: stop every server (one failing doesn't stop the rest), let go
    of the app's database connections, and drop the bench's PostgreSQL database."""
    from .database import drop_database
    from .stats import log

    for server in servers:
        try:
            server.stop()
        except Exception as exc:  # noqa: BLE001 - keep cleaning up
            log(f"could not stop {server.name}: {exc}")
    if app is not None:
        from shop.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if pg_url and pg_db:
        try:
            drop_database(pg_url, pg_db)
        except Exception as exc:  # noqa: BLE001
            log(f"could not drop {pg_db}: {exc}")

