"""The social login journey in a real browser: chromium → our gunicorn server → the
local identity provider → back, with the token and profile calls made by the server
over HTTP. Sign up with Google, link Kakao on the account page, unlink Google, log
out, log in with Kakao.

The server is the same harness as tests/browser (gunicorn + RQ worker on a fresh
SQLite database and a private Redis), started here with the provider variables set,
exactly as an operator would configure a real deployment.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from shop.dev.mail import start_sink

from ..browser.conftest import (DESKTOP, ROOT, PageProblems, _healthy, _Processes,
                                _start_private_redis, _wait_until, browser_locales, skip_reason)
from tests.support.env import free_port
from tests.support.lang import Language

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "artifacts" / "screenshots") / "social"


@pytest.fixture(scope="module")
def social_server(local_provider):
    """Base URL of gunicorn + an RQ worker with all four providers pointed at the local one."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = Path(tempfile.mkdtemp(prefix="playcation-social-live-"))
    smtp_port = free_port()
    sink = start_sink(tmp / "mail", port=smtp_port)
    procs = _Processes(tmp)
    try:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "TEST_DATABASE"))}
        env.update(
            APP_ENV="development", SECRET_KEY="social-browser-tests-secret-key",
            DATABASE_URL=f"sqlite:///{tmp / 'live.db'}", REDIS_URL=_start_private_redis(procs, tmp / "redis"),
            MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp_port), DEV_INBOX_DIR=str(tmp / "mail"),
            UPLOAD_DIR=str(tmp / "uploads"), RQ_QUEUE=f"social-browser-{os.getpid()}-{port}",
            SESSION_COOKIE_SECURE="0", BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", PYTHONUNBUFFERED="1",
            SOCIAL_HTTP_TIMEOUT="5", **local_provider.app_config())
        upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=60)
        if upgrade.returncode:
            pytest.fail(f"`flask db upgrade` failed:\n{upgrade.stdout}\n{upgrade.stderr}")
        procs.start("gunicorn", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env,
                    stop_signal=signal.SIGINT)
        procs.start("worker", [sys.executable, "worker.py"], env)
        base = f"http://127.0.0.1:{port}"
        _wait_until(lambda: _healthy(base + "/healthz"), "/healthz to answer 200", procs)
        yield base
        assert not procs.dead(), f"{', '.join(procs.dead())} died during the tests:\n{procs.report()}"
    finally:
        procs.stop_all()
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(params=browser_locales())
def page(request, social_server, chromium):
    """A browser speaking the round's language (Korean, then English: BROWSER_LOCALES);
    `page.say(msgid)` is the store's text for it."""
    say = Language(request.param)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(base_url=social_server, viewport=DESKTOP, locale=say.browser_locale,
                                   timezone_id="Asia/Seoul")
    context.set_default_timeout(10_000)
    problems = PageProblems()
    page = problems.watch(context.new_page())
    page.problems, page.say = problems, say
    yield page
    context.close()


def _shot(page, name):
    page.screenshot(path=str(SCREENSHOTS / f"{page.say.code}-{name}.png"), full_page=True)


def test_sign_up_link_unlink_and_log_in_with_providers(page, local_provider):
    say = page.say
    # Each language's round is a new person (the store keeps the first round's accounts).
    first_sub = {"ko": "10101", "en": "10202"}[say.code]
    local_provider.person.sub = first_sub
    local_provider.person.name = "Journey Gamer"
    local_provider.person.email = f"journey.social.{say.code}@example.com"

    page.goto("/login")
    buttons = page.get_by_role("main").locator(".social-login")
    for label in ("Google", "GitHub", "Kakao", "Naver"):
        expect(buttons.get_by_role("button", name=say("Continue with %(provider)s", provider=say(label)))).to_be_visible()
    _shot(page, "01-login-buttons")

    # Sign up with Google: off to the provider and back, new verified account.
    buttons.get_by_role("button", name=say("Continue with %(provider)s", provider=say("Google"))).click()
    expect(page.get_by_role("status")).to_contain_text(
        say("Welcome, %(nickname)s! Your account is ready.", nickname="Journey Gamer"))
    expect(page.get_by_role("banner").locator("summary.user-chip")).to_contain_text("Journey Gamer")
    expect(page.get_by_role("banner").get_by_role("link", name=say("Verify email"))).to_have_count(0)
    assert local_provider.authorize_requests[-1]["code_challenge_method"] == "S256"
    _shot(page, "02-signed-up")

    # The account page: Google linked; link Kakao too.
    page.goto("/account")
    card = page.locator("#linked-accounts")
    expect(card).to_contain_text(f"journey.social.{say.code}@example.com")
    expect(card.get_by_role("button", name=say("Unlink"))).to_have_count(1)
    _shot(page, "03-linked-accounts")
    local_provider.person.sub = {"ko": "30303", "en": "30404"}[say.code]
    card.get_by_role("button", name=say("Link %(provider)s", provider=say("Kakao"))).click()
    expect(page.get_by_role("status")).to_contain_text(say("%(label)s is linked. You can log in with it from now on.", label=say("Kakao")))
    expect(page.locator("#linked-accounts").get_by_role("button", name=say("Unlink"))).to_have_count(2)

    # Unlink Google; Kakao is now the only way in, so it cannot go.
    page.locator("#linked-accounts li").filter(has_text=say("Google")).get_by_role("button", name=say("Unlink")).click()
    expect(page.get_by_role("status")).to_contain_text(say("%(label)s is unlinked.", label=say("Google")))
    page.locator("#linked-accounts li").filter(has_text=say("Kakao")).get_by_role("button", name=say("Unlink")).click()
    expect(page.get_by_role("alert")).to_contain_text(say(
        "That is your only way to log in. Link another account, or set a password with "
        "“Forgot your password?”, before unlinking it."))
    _shot(page, "04-last-link-kept")

    # Log out, and back in with Kakao.
    menu = page.get_by_role("banner").locator("details.dropdown")
    menu.locator("summary").click()
    menu.get_by_role("button", name=say("Log out")).click()
    page.get_by_role("banner").get_by_role("link", name=say("Log in")).click()
    page.get_by_role("main").get_by_role("button", name=say("Continue with %(provider)s", provider=say("Kakao"))).click()
    expect(page.get_by_role("status")).to_contain_text(say("Logged in as %(nickname)s.", nickname="Journey Gamer"))

    # A denied consent comes back to the login page with a message.
    menu = page.get_by_role("banner").locator("details.dropdown")
    menu.locator("summary").click()
    menu.get_by_role("button", name=say("Log out")).click()
    local_provider.consent = "deny"
    page.goto("/login")
    page.get_by_role("main").get_by_role("button", name=say("Continue with %(provider)s", provider=say("Naver"))).click()
    expect(page).to_have_url(f"{page.url.split('/login')[0]}/login")
    expect(page.get_by_role("alert")).to_contain_text(say("You cancelled signing in with %(label)s. Nothing was changed.", label=say("Naver")))
    _shot(page, "05-denied")

    # ERR_ABORTED is chromium cancelling what a page still had open (the notification
    # stream, an image) when the journey navigates on; anything else is a problem.
    problems = [p for p in page.problems.items if not p.endswith("net::ERR_ABORTED")]
    assert problems == [], "\n".join(problems)
