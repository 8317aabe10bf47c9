"""Browser harness: the store as `make run` starts it, driven by Debian's chromium.

`launched_store` (session scope) runs the README's launcher, `python -m shop.dev.server`,
in a temp instance folder on a free port (tests/support/launcher.py): in the SQLite
pass the embedded redis-server on its unix socket and SQLite, in the PostgreSQL pass
PostgreSQL and a redis-server over TCP; in both the SMTP sink, gunicorn with the
production worker class, the RQ worker, rq-scheduler and the coupon consumer. So a
default configuration that is broken (a client that fails on the unix socket, a
process that dies) fails these tests. When a test fails, the tail of the launcher's
log is attached to its report; at the end every process must be alive and no
traceback may have been logged.

`live_server` is its base URL. `live_cli` runs `flask --app wsgi ...` commands and small
Python snippets the way the README prints them (no APP_ENV or SECRET_KEY of their own:
they read the `.env` and `run.env` the launcher wrote), e.g. `flask seed demo`.
`shots_in("store", lang)` gives a numbered screenshot folder of its own
(artifacts/screenshots/<lang>/store/); each shot is taken 1280 and 390 px wide.

Every journey runs once per language, Korean then English (`lang`, a session fixture
with a fresh store per language): the browser's locale, hence its Accept-Language, is
that language, the accounts the journeys use speak it, and the journeys read the page
through `lang("msgid")` (tests/support/lang.py), the store's own catalog. The PostgreSQL
pass runs only Korean (BROWSER_LOCALES=ko, set by tests/run.py) to keep `make test` short;
BROWSER_LOCALES=en,ko (any order, any subset) chooses by hand.

Tests here are skipped (with the reason) when chromium or Playwright is missing, or
when SKIP_BROWSER_TESTS=1.
"""
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis as redis_lib


from shop.dev.seed import DEMO_USERS
from tests.support.env import REDIS_URL, free_port
from ..support.lang import MISSING, Language
from ..support.launcher import LaunchedStore, redis_server_binary
from .shots import LAYOUT, SCREENSHOTS, Shots, shots_in, write_layout_notes  # noqa: F401 (the journeys import them from here)

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT = 30
USERS = {role: {"email": email, "nickname": nickname, "password": password}
         for role, email, nickname, password in DEMO_USERS}


def browser_locales() -> list[str]:
    """The languages the journeys run in, in order: BROWSER_LOCALES, else Korean then English."""
    chosen = [code.strip() for code in os.environ.get("BROWSER_LOCALES", "ko,en").split(",") if code.strip()]
    unknown = [code for code in chosen if code not in Language.BROWSER_LOCALES]
    if unknown or not chosen:
        raise pytest.UsageError(f"BROWSER_LOCALES={os.environ.get('BROWSER_LOCALES')!r}: use ko, en or ko,en")
    return chosen


def chromium_path() -> str | None:
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def skip_reason() -> str | None:
    if os.environ.get("SKIP_BROWSER_TESTS") == "1":
        return "SKIP_BROWSER_TESTS=1"
    if not chromium_path():
        if os.environ.get("CI"):
            raise pytest.UsageError("CI must run the browser journeys, but chromium is not installed")
        return "chromium is not installed (/usr/bin/chromium); run `make browser-deps` as root"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -r requirements-dev.txt)"
    return None


# Journeys that stock the store with games of their own kind (builds, gifts and DLC,
# pre-orders and adults-only games, refunds, a waiting room) run after the ones that
# count the catalog from empty (test_store_journey.py, then test_store_lists.py), in
# each language's store.
LATER = ("test_builds_journey.py", "test_gift_journey.py", "test_preorder_journey.py", "test_refund_journey.py",
         "test_waiting_journey.py")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Order the journeys (see LATER) within each language, and skip before any fixture
    runs when the browser is missing, so no server starts for nothing."""
    mine = [i for i, item in enumerate(items) if HERE in Path(str(item.fspath)).resolve().parents]
    codes = browser_locales()

    def key(item):
        callspec = getattr(item, "callspec", None)
        code = callspec.params.get("lang") if callspec else None
        return (codes.index(code) if code in codes else -1, Path(str(item.fspath)).name in LATER)

    for slot, item in zip(mine, sorted((items[i] for i in mine), key=key)):
        items[slot] = item
    reason = skip_reason()
    if not reason:
        return
    marker = pytest.mark.skip(reason=reason)
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(marker)


_RUNNING: list[LaunchedStore] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the tail of the server's and worker's logs to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _RUNNING and "live_server" in getattr(item, "fixturenames", ()):
        report.sections.append(("`make run` log", _RUNNING[-1].log_tail()))


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


def _start_private_redis(procs: _Processes, folder: Path) -> str:
    binary = redis_server_binary()
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


def browser_stack() -> str:
    """`postgres` in the suite's PostgreSQL pass (tests/run.py), else `embedded`."""
    return "postgres" if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql") else "embedded"


@pytest.fixture(scope="module", autouse=True)
def _patient_expect():
    """Assertions wait 15 s, not Playwright's 5: the store shares a busy machine."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="session", params=browser_locales())
def lang(request) -> Language:
    """The language this round of journeys speaks ('ko', 'en'): `lang("Add to cart")` is the
    store's text for that msgid in it. Each language gets a store of its own."""
    return Language(request.param)


@pytest.fixture(scope="session")
def launched_store(lang):
    """The store as `make run` starts it (tests/support/launcher.py), on this pass's stack:
    the embedded one (SQLite, embedded Redis on a unix socket) or PostgreSQL with TCP
    Redis. The demo catalog is left out (DEMO_GAMES=0): the journeys stock the store
    themselves and count what they added. Every process must still be alive at the end,
    and none may have logged a traceback."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    store = LaunchedStore(f"browser_{lang.code}", browser_stack(), os.environ.get("TEST_DATABASE_URL"), DEMO_GAMES="0")
    _RUNNING.append(store)
    try:
        store.start()
        yield store
        assert store.alive(), f"`make run` died during the tests:\n{store.log_tail()}"
        assert store.tracebacks() == [], "tracebacks in the store's log:\n" + "\n---\n".join(store.tracebacks())
    finally:
        _RUNNING.remove(store)
        store.stop()


@pytest.fixture(scope="session")
def live_server(launched_store) -> str:
    """Base URL (http://127.0.0.1:<port>) of the launched store."""
    return launched_store.base


@pytest.fixture(scope="session")
def live_cli(launched_store) -> LaunchedStore:
    """`flask --app wsgi ...` and Python snippets against the launched store, as an operator runs them."""
    return launched_store


def speak(live_cli, lang: Language, *emails: str):
    """These accounts' language setting (which wins over the browser's) is `lang`."""
    live_cli.python(f"""
        from sqlalchemy import update
        from shop.accounts.models import User
        from shop.extensions import db
        db.session.execute(update(User).where(User.email.in_({list(emails)!r})).values(locale={lang.code!r}))
        db.session.commit()
    """)


@pytest.fixture(scope="session")
def demo_users(live_cli, lang):
    """`flask seed demo` against the live server's database: admin, publisher, customer,
    speaking this round's language (the demo accounts are Korean as seeded)."""
    out = live_cli.flask("seed", "demo")
    assert USERS["publisher"]["email"] in out, out
    speak(live_cli, lang, *(user["email"] for user in USERS.values()))
    return USERS


# The `chromium` fixture lives in tests/conftest.py: Playwright's sync API allows one
# instance per process, and the social-login journey needs the same browser.


@pytest.fixture(scope="session")
def shots(lang):
    """Numbered screenshots of the sign-up journey: artifacts/screenshots/<lang>/journey/."""
    return shots_in("journey", lang)


def pytest_terminal_summary(terminalreporter):
    """What the journeys looked for that the Korean catalog lacks (English on screen, or a
    msgid worded differently where it was wrapped; also in
    artifacts/screenshots/ko/untranslated-msgids.txt), and the layout notes at 390 px."""
    notes = write_layout_notes()
    if notes:
        terminalreporter.section("layout at 390 px (artifacts/screenshots/<lang>/layout.txt)")
        for note in notes:
            terminalreporter.write_line(note)
    missing = sorted(MISSING.get("ko", ()))
    if "ko" in MISSING or "ko" in LAYOUT:  # the Korean round ran: this run's list, even if empty
        (SCREENSHOTS / "ko").mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "ko" / "untranslated-msgids.txt").write_text("".join(f"{m!r}\n" for m in missing))
    if missing:
        terminalreporter.section(f"{len(missing)} msgid(s) the journeys read that have no Korean yet")
        for msgid in missing:
            terminalreporter.write_line(repr(msgid))


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
        # ERR_ABORTED is chromium cancelling what the page still had open (its event stream,
        # a lazy image) when it navigates away: nothing a user sees. Real failures of
        # sub-resources show up as 4xx/5xx responses below.
        page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "")
                else self.items.append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and r.request.resource_type != "document"
                and self.items.append(f"{r.status} for {r.request.resource_type} {r.url}"))
        return page


def _new_page(chromium, live_server, viewport, lang: Language, **kw):
    """A browser context speaking `lang` (its Accept-Language), in Korea time, and its page."""
    problems = PageProblems()
    context = chromium.new_context(base_url=live_server, viewport=viewport, locale=lang.browser_locale,
                                   timezone_id="Asia/Seoul", **kw)
    context.set_default_timeout(10_000)
    page = problems.watch(context.new_page())
    page.problems = problems
    page.lang = lang  # what the journeys' helpers read the page in
    return context, page


LOGIN_LIMIT_WAIT_SECONDS = 75  # RATELIMIT_LOGIN counts per minute; a little more than one


def log_in(page, email: str, password: str, nickname: str):
    """Log in through the form, in the page's language, as a person does. The journeys
    of one store all come from 127.0.0.1 and log in more often than RATELIMIT_LOGIN
    lets one address in a minute; when the store answers its 429 "Slow down" page, wait
    as it asks and log in again, as that person would."""
    from playwright.sync_api import expect

    say = page.lang
    deadline = time.monotonic() + LOGIN_LIMIT_WAIT_SECONDS
    while True:
        page.goto("/login")
        form = page.get_by_role("main").locator("form").first
        form.locator("[name=email]").fill(email)
        form.locator("[name=password]").fill(password)
        with page.expect_navigation():
            form.get_by_role("button", name=say("Log in")).click()
        if not page.get_by_role("heading", name=say("Slow down")).count() or time.monotonic() > deadline:
            break
        page.wait_for_timeout(5_000)
    expect(page.locator("#flashes")).to_contain_text(say("Logged in as %(nickname)s.", nickname=nickname))


@pytest.fixture
def page(chromium, live_server, lang):
    """A fresh desktop (1280x800) browser context and page; `page.problems` collects errors."""
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    yield page
    context.close()


@pytest.fixture
def mobile_page(chromium, live_server, lang):
    """A fresh phone-sized (390x844, touch) context and page."""
    context, page = _new_page(chromium, live_server, MOBILE, lang, is_mobile=True, has_touch=True,
                              device_scale_factor=1)
    yield page
    context.close()
