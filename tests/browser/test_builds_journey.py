"""Builds in a real browser against the live store (gunicorn, RQ worker, see conftest.py):

1. the publisher uploads a small build on the game's Builds page: the progress bar
   moves, one chunk's connection is cut (the page says so, retries and goes on), the
   worker verifies the file, and the publisher publishes it;
2. a customer buys the game through the sandbox gateway, finds the build in the
   library with its version, size and checksum, downloads it, and the file's SHA-256
   matches the page and the original.

Every step runs in each language (`lang`). Screenshots: artifacts/screenshots/<lang>/builds/.
"""
import hashlib
import json
import os
import re

import pytest
from playwright.sync_api import expect

from .conftest import USERS, shots_in
from .test_store_journey import _approve, _flashes, _open

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

SIZE = 8 * 1024 * 1024 + 300_000  # two chunks (8 MiB each at most)
VERSION = "1.4.2"
NOTES = "Adds a photo mode and fixes the lighthouse save bug."


class Journey:
    def __init__(self):
        self.done: set[str] = set()

    def need(self, *steps):
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.skip(f"needs the earlier step(s) {', '.join(missing)}, which did not pass")


@pytest.fixture(scope="module")
def journey():
    return Journey()


@pytest.fixture(scope="module")
def build_shots(lang):
    return shots_in("builds", lang)


@pytest.fixture(scope="module")
def game(live_cli, demo_users, lang):
    """A listed game of the demo publisher, made from the command line (the back office
    form has its own journey)."""
    out = live_cli.python(f"""
        import json
        from sqlalchemy import select
        from shop.accounts.models import User
        from shop.extensions import db
        from shop.catalog import services
        publisher = db.session.scalar(select(User).where(User.email == {USERS['publisher']['email']!r}))
        game = services.create_game(publisher, services.GameInput(title="Lighthouse Keeper {lang.code}", price=11000))
        print(json.dumps({{"id": game.id, "slug": game.slug, "title": game.title}}))
    """)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def build_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("build") / "lighthouse-setup.exe"
    path.write_bytes(os.urandom(SIZE))
    return path


def test_publisher_uploads_a_build_through_a_lost_connection_and_publishes_it(
        chromium, live_server, demo_users, game, build_file, journey, build_shots, lang):
    context, page = _open(chromium, live_server, lang, "publisher")
    try:
        page.goto(f"/publisher/games/{game['id']}/edit")
        page.get_by_role("link", name=lang("Builds"), exact=True).click()
        expect(page).to_have_url(re.compile(rf"/publisher/games/{game['id']}/builds$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(lang("Builds"))
        build_shots(page, "empty")

        # The second chunk's connection drops once: the page retries and the upload goes on.
        cut = {"done": False}

        def drop_once(route):
            if not cut["done"] and "offset=0" not in route.request.url:
                cut["done"] = True
                route.abort("connectionreset")
            else:
                route.continue_()

        page.route(re.compile(r".*/publisher/builds/\d+/upload\?offset=\d+$"), drop_once)
        form = page.locator("#build-form")
        form.locator("[name=version]").fill(VERSION)
        form.locator("[name=platform]").select_option("windows")
        form.locator("[name=notes]").fill(NOTES)
        form.locator("#build-file").set_input_files(str(build_file))
        form.get_by_role("button", name=lang("Upload"), exact=True).click()
        status = page.locator("#build-progress-text")
        expect(status).to_contain_text(lang("Connection lost. Retrying in %(seconds)s s…", seconds=1), timeout=90_000)
        build_shots(page, "retrying")
        expect(status).to_contain_text(lang("Checking the file on the server…"), timeout=90_000)
        # the page reloads once the worker has verified the file
        row = page.locator(".build-table tbody tr").first
        expect(row).to_contain_text(lang("Verified, not published"), timeout=90_000)
        assert cut["done"]
        digest = hashlib.sha256(build_file.read_bytes()).hexdigest()
        expect(row.locator("code.checksum")).to_have_text(digest)
        build_shots(page, "verified")
        row.get_by_role("button", name=lang("Publish")).click()
        expect(_flashes(page)).to_contain_text(lang("Version %(version)s is published; owners were told.",
                                                    version=VERSION))
        expect(page.locator(".build-table tbody tr").first).to_contain_text(VERSION)
        build_shots(page, "published")
        # the one cut chunk is the only request that failed
        assert all("ERR_CONNECTION_RESET" in p for p in page.problems.items), page.problems.items
    finally:
        context.close()
    journey.done.add("upload")


def test_customer_buys_downloads_and_the_checksum_matches(chromium, live_server, game, build_file, journey,
                                                         build_shots, lang, tmp_path):
    journey.need("upload")
    context, page = _open(chromium, live_server, lang, "customer")
    try:
        page.goto(f"/games/{game['slug']}")
        page.locator(".purchase-box .cart-control").get_by_role("button", name=lang("Add to cart")).click()
        expect(page.locator(".purchase-box .cart-control a.in-cart[href='/cart']")).to_be_visible()
        page.goto("/checkout")
        page.locator("#checkout-form").get_by_role("button", name=lang("Pay %(amount)s", amount=lang.won(11000))).click()
        expect(page).to_have_url(re.compile(r"/sandbox/pay/[^/]+$"))
        _approve(page)

        page.goto("/library")
        cell = page.locator(".library-cell").filter(has_text=game["title"])
        expect(cell).to_contain_text(lang("Version %(version)s", version=VERSION))
        expect(cell.locator(".release-notes")).to_be_visible()
        shown = cell.locator(".build-downloads code.checksum").first.inner_text().strip()
        expected = hashlib.sha256(build_file.read_bytes()).hexdigest()
        assert shown == expected
        build_shots(page, "library")

        with page.expect_download() as info:
            cell.get_by_role("button", name=lang("Download for %(platform)s", platform="Windows")).click()
        download = info.value
        assert download.suggested_filename == "lighthouse-setup.exe"
        saved = tmp_path / "downloaded.exe"
        download.save_as(saved)
        assert saved.stat().st_size == SIZE
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == shown
    finally:
        context.close()
