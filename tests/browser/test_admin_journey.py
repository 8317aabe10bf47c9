"""The admin console in a real browser against the live server (see conftest.py):

1. the admin logs in, follows the header's "Admin" link to the dashboard, creates a coupon
   drop from the Coupons section and goes back to the dashboard;
2. a verified customer (a second browser context) claims a coupon; the admin's dashboard
   shows the remaining count drop over SSE, without a reload (the coupon consumer,
   `worker.py --coupons`, publishes the counts; it is started here, as `make run` does);
3. every page reachable from the admin nav is opened and screenshotted
   (artifacts/screenshots/<lang>/admin/NN-admin-<section>-{1280,390}.png; new sections appear
   by themselves), plus the RQ dashboard and /publisher/ as its own publisher (Lantern Studio).
In each language (`lang`, see conftest.py).
"""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from shop.timeutil import to_seoul, utcnow

from .conftest import shots_in
from .test_store_journey import HEADER_LAYOUT_JS, _assert_no_problems, _field, _flashes, _log_in, _open

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

TIMEOUT_MS = 15_000
DROP = "Admin journey drop"
STUDIO = {"email": "studio@playcation.example", "nickname": "Lantern Studio", "password": "studio-pass-1234"}
# Sales and reviews for a publisher of its own over the last weeks, so the charts have a shape.
SEED = """
from datetime import timedelta
from shop.accounts.models import User
from shop.catalog import services as catalog
from shop.extensions import db
from shop.orders.models import Order, OrderLine
from shop.reviews.models import Review
from shop.timeutil import utcnow
# Its own publisher and buyer: the live server is shared with the store journey, whose
# demo publisher starts with an empty back office and whose customer with no orders.
from shop.accounts.services import hash_password
now = utcnow()
pub = User(email="studio@playcation.example", nickname="Lantern Studio", role="publisher",
           password_hash=hash_password("studio-pass-1234"), email_verified_at=now, locale=LANG)
buyer = User(email="buyer@playcation.example", nickname="Buyer", role="customer", password_hash="x",
             email_verified_at=now)
db.session.add_all([pub, buyer])
db.session.flush()
games = [catalog.create_game(pub, catalog.GameInput(title=t, price=p)) for t, p in
         (("Lantern Keep", 18000), ("Harbor Lights", 12000), ("Sky Rail", 9000))]
for game in games:  # out of the storefront, which the store journey counts
    game.status = "delisted"
for n in range(24):
    picks = [games[n % 3]] + ([games[(n + 1) % 3]] if n % 4 == 0 else [])
    total = sum(g.price for g in picks)
    when = now - timedelta(days=n, hours=n % 5)
    db.session.add(Order(user_id=buyer.id, status="REFUNDED" if n == 5 else "PAID", subtotal=total, total=total,
                         gateway="sandbox", expires_at=when, paid_at=when, created_at=when,
                         lines=[OrderLine(game_id=g.id, title=g.title, list_price=g.price, price=g.price) for g in picks]))
for n, (game, rating) in enumerate([(0, 5), (1, 4), (2, 3), (0, 4), (1, 5), (2, 2)]):
    user = User(email=f"reviewer{n}@playcation.example", nickname=f"Reviewer{n}", role="customer",
                password_hash="x", email_verified_at=now)
    db.session.add(user)
    db.session.flush()
    db.session.add(Review(game_id=games[game].id, user_id=user.id, rating=rating, created_at=now - timedelta(days=9 * n),
                          body="Lovely lighting and a calm pace." if rating > 3 else "Runs out of ideas halfway."))
db.session.commit()
print("seeded")
"""



@pytest.fixture(scope="module")
def demo(live_cli, demo_users, lang):
    assert "seeded" in live_cli.python(f"LANG = {lang.code!r}\n" + SEED)
    return demo_users


@pytest.fixture(scope="module")
def admin(chromium, live_server, demo, lang):
    context, page = _open(chromium, live_server, lang, "admin")
    yield page
    context.close()


@pytest.fixture(scope="module")
def journey():
    return {}


@pytest.fixture(scope="module")
def shot(lang):
    return shots_in("admin", lang)


def _kst_field(value) -> str:
    return to_seoul(value).strftime("%Y-%m-%dT%H:%M")


def test_admin_creates_a_drop_and_watches_it_live(chromium, live_server, admin, journey, shot, lang):
    page = admin
    page.get_by_role("banner").get_by_role("link", name=lang("Admin"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(lang("Dashboard"))
    expect(page.locator("#revenue-table tbody tr")).to_have_count(30)
    page.wait_for_function("() => document.querySelector('canvas[data-chart]').dataset.drawn === '1'")

    # A drop that is open now, from the Coupons section.
    page.locator("nav.admin-nav a[href='/admin/coupons']").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(lang("Coupon events"))
    form = page.locator("form").filter(has=page.get_by_role("button", name=lang("Create event")))
    _field(form, "name").fill(DROP)
    _field(form, "quantity").fill("5")
    _field(form, "discount_value").fill("3000")
    _field(form, "opens_at").fill(_kst_field(utcnow() - timedelta(minutes=2)))
    _field(form, "closes_at").fill(_kst_field(utcnow() + timedelta(days=1)))
    _field(form, "valid_days").fill("7")
    shot(page, "admin-coupon-form")
    form.get_by_role("button", name=lang("Create event")).click()
    expect(_flashes(page)).to_contain_text(lang("Coupon event “%(name)s” created.", name=DROP))
    row = page.locator("#coupon-events tbody tr").filter(has_text=DROP)
    event_id = int(row.get_attribute("data-event"))
    expect(row.locator('[data-col="left"]')).to_have_text("5")

    # The dashboard shows it with its live counter; the stream must be open before the claim.
    page.evaluate("window.__sseOpen = false")
    page.locator("nav.admin-nav a[href='/admin/']").click()
    counter = page.locator(f'#live-drops [sse-swap="remaining-{event_id}"]')
    expect(counter).to_have_text("5")
    page.wait_for_function("() => window.__sseOpen === true")
    page.evaluate("window.__sameDocument = true")
    shot(page, "admin-journey-before-claim")

    # A visitor watches the drop's public page in a browser of their own.
    watcher_context, watcher = _open(chromium, live_server, lang)
    watcher.goto(f"/coupons/{event_id}")
    public_counter = watcher.locator(".drop-counter .count")
    expect(public_counter).to_have_text("5")
    watcher.wait_for_function("() => window.__sseOpen === true")
    watcher.evaluate("window.__sameDocument = true")

    # The customer claims one in another browser.
    context, customer = _open(chromium, live_server, lang, "customer")
    try:
        customer.goto(f"/coupons/{event_id}")
        expect(customer.get_by_role("heading", level=1)).to_have_text(DROP)
        shot(customer, "public-drop-before-claim")
        customer.get_by_role("button", name=lang("Claim coupon")).click()
        outcome = customer.locator(".claim-outcome.outcome-claimed")
        expect(outcome).to_contain_text(lang("Got it! The coupon is in your wallet."))
        shot(customer, "public-drop-claimed")
    finally:
        context.close()

    expect(counter).to_have_text("4")
    assert page.evaluate("window.__sameDocument === true"), "the dashboard reloaded"
    try:
        expect(public_counter).to_have_text("4")  # pushed over SSE, no reload
        assert watcher.evaluate("window.__sameDocument === true"), "the public drop page reloaded"
        shot(watcher, "public-drop-after-claim")
    finally:
        watcher_context.close()
    shot(page, "admin-journey-after-claim")
    _assert_no_problems(page)
    journey["event_id"] = event_id


def test_every_admin_page_renders(admin, journey, shot, lang):
    page = admin
    page.goto("/admin/")
    assert page.evaluate(HEADER_LAYOUT_JS) == [], "admin header (Publisher and Admin links, role badge)"
    links = page.locator("nav.admin-nav a")
    sections = {links.nth(i).get_attribute("href"): links.nth(i).inner_text().strip() for i in range(links.count())}
    for href, label in (("/admin/", "Dashboard"), ("/admin/emails", "Emails"), ("/admin/jobs", "Jobs"),
                        ("/admin/coupons", "Coupons")):
        assert sections.get(href) == lang(label), f"{href} is labelled {sections.get(href)!r}"
    broken = []
    for href in [*sections, "/admin/rq/"]:
        response = page.goto(href)
        if response.status >= 400:
            broken.append(f"{href}: {response.status}")
        if href == "/admin/rq/":  # its tables load over XHR
            expect(page.locator("table").first).not_to_contain_text("Loading...")
        else:
            expect(page.get_by_role("heading", level=1)).to_be_visible()
        name = href.strip("/").removeprefix("admin").strip("/").replace("/", "-") or "dashboard"
        shot(page, f"admin-{name}")
    if "event_id" in journey:
        page.goto(f"/admin/coupons/{journey['event_id']}")
        shot(page, "admin-coupons-edit")
    page.problems.items.clear()
    assert broken == [], broken


def test_live_traffic_updates_without_a_reload(admin, shot, lang):
    """/admin/live: the page shows levels; its SSE stream brings the rates a moment later."""
    page = admin
    page.goto("/admin/live")
    expect(page.get_by_role("heading", level=1)).to_have_text(lang("Live traffic"))
    expect(page.locator("#live-rps")).to_have_text(re.compile(r"^\d+\.\d$"), timeout=TIMEOUT_MS)
    expect(page.locator("#live-p95")).to_have_text(re.compile(r"^(–|\d[\d,]* ?ms)$"))
    shot(page, "admin-live-updated")
    _assert_no_problems(page)


def test_publisher_dashboard(chromium, live_server, demo, shot, lang):
    context, page = _open(chromium, live_server, lang)
    try:
        _log_in(page, "publisher", user=STUDIO)
        page.get_by_role("banner").locator("summary.user-chip").click()  # the user menu
        page.get_by_role("banner").get_by_role("link", name=lang("Dashboard"), exact=True).click()
        expect(page).to_have_url(re.compile(r"/publisher/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(STUDIO["nickname"])
        expect(page.locator("#pub-games tbody tr")).to_have_count(3)
        page.wait_for_function("() => [...document.querySelectorAll('canvas[data-chart]')].every(c => c.dataset.drawn === '1')")
        shot(page, "publisher-dashboard")
        _assert_no_problems(page)
    finally:
        context.close()
