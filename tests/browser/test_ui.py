"""What a new user sees, in a real browser against the live server (see conftest.py):

1. on a 390 px phone the section links (Browse, Coupons, and Publisher/Admin for those
   roles) are in a ☰ menu that opens with and without JavaScript, the header's search
   box has a row of its own (not squeezed to a sliver), and nothing overflows sideways;
2. at 1280x800 the game page shows its buy box with the "Add to cart" button in the first
   screen, and the rating once;
3. the RQ dashboard at /admin/rq, loaded as the demo admin, requests nothing that fails
   and links back to the admin.

In each language (`lang`, see conftest.py). Screenshots: artifacts/screenshots/<lang>/ui/NN-*.png.
"""
import re

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, MOBILE, _new_page, shots_in
from .test_store_journey import _assert_no_problems, _log_in

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

TIMEOUT_MS = 15_000
GAME = "Lighthouse Keeper"
# Where the header's search box is, and whether anything in the header sticks out sideways.
SEARCH_BOX_JS = """() => {
  const input = document.querySelector('.site-header input[name=q]');
  const box = input.getBoundingClientRect();
  const header = document.querySelector('.site-header').getBoundingClientRect();
  return {left: box.left, right: box.right, width: box.width, headerHeight: header.height,
          viewport: window.innerWidth,
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""
PUBLISHER = "Harbour Lamp Games"
# Its own publisher and game: the live server is shared with the store journey, whose demo
# publisher starts with an empty back office and which counts the storefront's games (the
# game is delisted again when this module ends).
GAME_SEED = f"""
from sqlalchemy import select
from shop.accounts.models import User
from shop.catalog import services as catalog
from shop.extensions import db
from shop.timeutil import utcnow
pub = db.session.scalar(select(User).where(User.nickname == "{PUBLISHER}"))
if pub is None:
    pub = User(email="lamp@playcation.example", nickname="{PUBLISHER}", role="publisher", password_hash="x",
               email_verified_at=utcnow())
    db.session.add(pub)
    db.session.flush()
game = db.session.scalar(select(catalog.Game).where(catalog.Game.title == "{GAME}"))
if game is None:
    game = catalog.create_game(pub, catalog.GameInput(title="{GAME}", price=18000,
        short_description="Keep the light burning through a winter of storms.",
        description="A calm management game about a lighthouse on a rocky coast."))
catalog.set_listed(pub, game, True)
print(game.slug)
"""
GAME_DELIST = f"""
from sqlalchemy import select
from shop.catalog import services as catalog
from shop.extensions import db
game = db.session.scalar(select(catalog.Game).where(catalog.Game.title == "{GAME}"))
catalog.set_listed(game.publisher, game, False)
"""



@pytest.fixture(scope="module")
def demo(demo_users):
    return demo_users


@pytest.fixture(scope="module")
def slug(live_cli, demo):
    yield live_cli.python(GAME_SEED).strip().splitlines()[-1]
    live_cli.python(GAME_DELIST)


@pytest.fixture(scope="module")
def ui_shots(lang):
    return shots_in("ui", lang)


def _phone(chromium, live_server, lang, **kw):
    return _new_page(chromium, live_server, MOBILE, lang, is_mobile=True, has_touch=True, device_scale_factor=1, **kw)


def _check_phone_header(page, sections, shots, name):
    """The ☰ menu holds `sections` (and they are not in the bar); the search box is usable."""
    banner = page.get_by_role("banner")
    sections = [page.lang(label) for label in sections]
    for label in sections:
        expect(banner.get_by_role("link", name=label, exact=True)).to_be_hidden()
    layout = page.evaluate(SEARCH_BOX_JS)
    assert layout["left"] >= 0 and layout["right"] <= layout["viewport"], layout
    assert layout["width"] >= 0.8 * layout["viewport"] - 40, f"the search box is squeezed: {layout}"
    assert layout["headerHeight"] <= 140 and layout["overflow"] <= 0, layout
    shots(page, f"{name}-header")
    banner.get_by_label(page.lang("Menu")).click()
    menu = banner.locator("details.site-menu")
    for label in sections:
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    shots(page, f"{name}-menu")


@pytest.mark.parametrize("who", ["anonymous", "customer", "admin"])
def test_phone_header_has_a_menu_and_a_whole_search_box(chromium, live_server, demo, ui_shots, lang, who):
    context, page = _phone(chromium, live_server, lang)
    try:
        sections = ["Browse", "Coupons"] + (["Publisher", "Admin"] if who == "admin" else [])
        if who != "anonymous":
            _log_in(page, who)
        page.goto("/")
        _check_phone_header(page, sections, ui_shots, f"phone-{who}")
        page.get_by_role("banner").locator("details.site-menu").get_by_role("link", name=lang("Coupons")).click()
        expect(page).to_have_url(re.compile(r"/coupons$"))
        page.get_by_role("banner").get_by_label(lang("Menu")).click()
        page.get_by_role("banner").locator("details.site-menu").get_by_role("link", name=lang("Browse")).click()
        expect(page).to_have_url(re.compile(r"/games$"))
        search = page.get_by_role("banner").get_by_role("searchbox", name=lang("Search games"))
        search.fill(GAME.split()[0])
        search.press("Enter")
        expect(page).to_have_url(re.compile(r"/search\?q=Lighthouse"))
        _assert_no_problems(page)
    finally:
        context.close()


def test_phone_menu_works_without_javascript(chromium, live_server, demo, ui_shots, lang):
    context, page = _phone(chromium, live_server, lang, java_script_enabled=False)
    try:
        page.goto("/games")
        _check_phone_header(page, ["Browse", "Coupons"], ui_shots, "phone-no-js")
        page.get_by_role("banner").locator("details.site-menu").get_by_role("link", name=lang("Coupons")).click()
        expect(page).to_have_url(re.compile(r"/coupons$"))
    finally:
        context.close()


def test_game_page_buy_box_is_in_the_first_screen_and_facts_appear_once(chromium, live_server, slug, ui_shots,
                                                                       lang):
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    try:
        # Anonymous: the store journey's customer must keep an empty cart.
        page.goto(f"/games/{slug}")
        buy = page.locator(".purchase-box")
        expect(buy.get_by_role("heading", name=lang("Buy %(title)s", title=GAME))).to_be_visible()
        button = buy.get_by_role("button", name=lang("Add to cart"))
        expect(button).to_be_in_viewport(ratio=1)  # no scrolling
        expect(buy).to_contain_text(lang.won(18_000))
        ui_shots(page, "game-page-desktop")
        main = page.get_by_role("main")
        # Each fact once: the rating, the publisher, the release date, the cover.
        expect(main.get_by_text(lang("No reviews yet"))).to_have_count(1)
        expect(main.get_by_text(PUBLISHER, exact=True)).to_have_count(1)
        release = page.locator(".summary-facts time").inner_text()
        assert page.locator("main").inner_text().count(release) == 1
        _assert_no_problems(page)
    finally:
        context.close()
    context, page = _phone(chromium, live_server, lang)
    try:
        page.goto(f"/games/{slug}")
        buy = page.locator(".purchase-box")
        expect(buy.get_by_role("button", name=lang("Add to cart"))).to_be_visible()
        # On a phone the buy box comes right after the gallery, before the summary.
        assert buy.bounding_box()["y"] < page.locator(".game-summary").bounding_box()["y"]
        ui_shots(page, "game-page-phone")
    finally:
        context.close()


def test_rq_dashboard_loads_everything_and_links_back(chromium, live_server, demo, ui_shots, lang):
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    failed = []
    page.on("console", lambda m: m.type == "error" and failed.append(f"console: {m.text}"))
    try:
        _log_in(page, "admin")
        for path in ("/admin/rq", "/admin/rq/0/view/jobs", "/admin/rq/0/view/workers"):
            page.goto(path)
            expect(page.locator("table").first).to_be_visible()
            expect(page.locator("table").first).not_to_contain_text("Loading...")
            page.wait_for_load_state("networkidle")
            # Chromium fetches the page's icon outside what Playwright reports: ask for it too.
            for icon in page.locator("link[rel~=icon]").evaluate_all("els => els.map(e => e.href)"):
                status = page.request.get(icon).status
                if status >= 400:
                    failed.append(f"{status} for icon {icon}")
            ui_shots(page, "rq-" + path.rsplit("/", 1)[-1])
        assert failed == [], "\n".join(failed)
        _assert_no_problems(page)
        page.locator(".admin-back a[href='/admin/']").click()  # "← Playcation admin"
        expect(page).to_have_url(re.compile(r"/admin/$"))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
    finally:
        context.close()
