"""The back office: publishers create, edit, delist and relist their games and manage
covers and screenshots; admins curate categories and tags. Access is checked in one
table of routes x visitors."""
import html
import io
import re
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.catalog import services
from shop.catalog.models import Category, Game, GameSlug, Screenshot, Tag
from shop.catalog.search import search_ids
from shop.catalog.text import render_markdown
from shop.extensions import db
from shop.infra.storage import get_storage

from ..support.browser import Browser, run_jobs


# --- helpers --------------------------------------------------------------------

def image_bytes(fmt="PNG", size=(64, 36), color=(30, 140, 220)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def upload(name: str, data: bytes | None = None, filename="shot.png") -> dict:
    return {name: (io.BytesIO(image_bytes() if data is None else data), filename)}


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    """Each test stores files in its own folder."""
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(folder))
    app.extensions.pop("storage", None)
    yield folder
    app.extensions.pop("storage", None)


def stored_files(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def log_in_as(app, browser, user_id):
    """A logged-in session without the argon2 round trip (logging in is tested elsewhere)."""
    from ..support.browser import login_id

    user_login = login_id(app, user_id)
    with browser.client.session_transaction() as session:
        session["_user_id"] = user_login
        session["_fresh"] = True


def errors(res) -> str:
    """Every message shown as an error: under fields and in the form's alert."""
    page = res.get_data(as_text=True)
    found = re.findall(r'<small class="error">([^<]*)</small>', page)
    found += re.findall(r'class="flash flash-error" role="alert">(.*?)</div>', page, re.S)
    return html.unescape(" | ".join(found))


def snapshot(app, game_id) -> dict:
    """What a forbidden or refused request must leave alone."""
    with app.app_context():
        g = db.session.get(Game, game_id)
        return dict(title=g.title, slug=g.slug, price=g.price, sale_price=g.sale_price,
                    sale_starts_at=g.sale_starts_at, description=g.description, status=g.status,
                    category_id=g.category_id, tags=[t.id for t in g.tags], cover=g.cover_key,
                    shots=[s.id for s in g.screenshots], updated_at=g.updated_at)


def game_form(**overrides) -> dict:
    data = {"title": "Lantern Keep", "short_description": "A cosy lighthouse sim.",
            "description": "Keep the light **burning**.", "price": "15000", "sale_price": "",
            "sale_starts_at": "", "sale_ends_at": "", "release_date": "2026-03-01", "category_id": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def world(app, make_user):
    """Two publishers, a customer, an admin; the first publisher's game with one screenshot,
    a category and two tags."""
    owner, other = make_user(role="publisher"), make_user(role="publisher")
    customer, admin = make_user(), make_user(role="admin")
    with app.app_context():
        category = Category(name="Simulation", slug="simulation")
        cosy, pixel = Tag(name="Cosy", slug="cosy"), Tag(name="Pixel Art", slug="pixel-art")
        db.session.add_all([category, cosy, pixel])
        db.session.commit()
        pub = db.session.get(User, owner.id)
        game = services.create_game(pub, services.GameInput(title="Lantern Keep", price=15000, tag_ids=[cosy.id]))
        shot = services.add_screenshot(pub, game, io.BytesIO(image_bytes()))
        ids = SimpleNamespace(game=game.id, shot=shot.id, slug=game.slug, category=category.id,
                              cosy=cosy.id, pixel=pixel.id)
    return SimpleNamespace(owner=owner, other=other, customer=customer, admin=admin, **vars(ids))


@pytest.fixture
def as_owner(app, browser, world):
    log_in_as(app, browser, world.owner.id)
    return browser


# --- creating and editing -------------------------------------------------------------

def test_publisher_creates_a_game_with_category_tags_and_a_sale(app, as_owner, world):
    page = as_owner.get("/publisher/games/new")
    assert page.status_code == 200 and 'name="title"' in page.get_data(as_text=True)
    res = as_owner.post("/publisher/games/new", game_form(
        title="Harbour Lights", price="22000", sale_price="11000", category_id=str(world.category),
        tag_ids=[str(world.cosy), str(world.pixel)]))
    assert res.status_code == 302
    with app.app_context():
        game = db.session.scalar(select(Game).where(Game.title == "Harbour Lights"))
        assert res.headers["Location"] == f"/publisher/games/{game.id}/edit#media"
        assert (game.publisher_id, game.slug, game.status) == (world.owner.id, "harbour-lights", "listed")
        assert (game.price, game.sale_price, game.category_id) == (22000, 11000, world.category)
        assert [t.name for t in game.tags] == ["Cosy", "Pixel Art"]
        assert game.search_text == "harbour lights cosy pixel art"
        assert game.release_date.isoformat() == "2026-03-01"
    listing = as_owner.get("/publisher/games").get_data(as_text=True)
    assert "Harbour Lights" in listing and 'href="/games/harbour-lights"' in listing
    assert "Lantern Keep" in listing


def test_publisher_edits_a_game_and_the_old_slug_is_kept(app, as_owner, world):
    res = as_owner.post(f"/publisher/games/{world.game}/edit", game_form(
        title="Lantern Keep: Deluxe", price="18000", category_id=str(world.category), tag_ids=[str(world.pixel)]))
    assert res.status_code == 302 and res.headers["Location"] == f"/publisher/games/{world.game}/edit"
    after = snapshot(app, world.game)
    assert (after["title"], after["slug"], after["price"]) == ("Lantern Keep: Deluxe", "lantern-keep-deluxe", 18000)
    assert after["tags"] == [world.pixel] and after["category_id"] == world.category
    with app.app_context():
        assert db.session.get(GameSlug, "lantern-keep").game_id == world.game
    page = as_owner.get(f"/publisher/games/{world.game}/edit").get_data(as_text=True)
    assert "Changes saved." in page and 'value="Lantern Keep: Deluxe"' in page
    assert 'href="/games/lantern-keep-deluxe"' in page


def test_the_edit_form_shows_the_saved_values(as_owner, world):
    page = as_owner.get(f"/publisher/games/{world.game}/edit").get_data(as_text=True)
    assert 'value="Lantern Keep"' in page and 'value="15000"' in page
    boxes = dict((int(value), bool(checked)) for checked, value in
                 re.findall(r'<input (checked )?id="tag_ids-\d+" name="tag_ids" type="checkbox" value="(\d+)">', page))
    assert boxes == {world.cosy: True, world.pixel: False}


def test_delist_and_relist(app, as_owner, world):
    res = as_owner.post(f"/publisher/games/{world.game}/delist")
    assert res.status_code == 302 and res.headers["Location"] == f"/publisher/games/{world.game}/edit"
    assert snapshot(app, world.game)["status"] == "delisted"
    with app.app_context():
        assert search_ids("lantern").ids == []
    page = as_owner.get(f"/publisher/games/{world.game}/edit").get_data(as_text=True)
    assert "is delisted" in page and "Relist" in page
    res = as_owner.post(f"/publisher/games/{world.game}/relist", {"next": "/publisher/games"})
    assert res.status_code == 302 and res.headers["Location"] == "/publisher/games"
    assert snapshot(app, world.game)["status"] == "listed"
    with app.app_context():
        assert search_ids("lantern").ids == [world.game]


def test_delist_from_the_list_swaps_just_the_row_over_htmx(app, as_owner, world):
    res = as_owner.post(f"/publisher/games/{world.game}/delist", htmx=True)
    body = res.get_data(as_text=True)
    assert res.status_code == 200 and body.lstrip().startswith(f'<tr id="game-{world.game}"')
    assert "<html" not in body and "Delisted" in body and "Relist" in body
    assert "HX-Request" in res.headers["Vary"]
    assert snapshot(app, world.game)["status"] == "delisted"


def test_publishers_see_their_own_games_and_admins_see_all(app, browser, world):
    with app.app_context():
        services.create_game(db.session.get(User, world.other.id), services.GameInput(title="Rival Racer", price=1000))
    log_in_as(app, browser, world.owner.id)
    page = browser.get("/publisher/games").get_data(as_text=True)
    assert "Lantern Keep" in page and "Rival Racer" not in page
    log_in_as(app, browser, world.admin.id)
    page = browser.get("/publisher/games").get_data(as_text=True)
    assert "Lantern Keep" in page and "Rival Racer" in page and "All games" in page


# --- bad input ------------------------------------------------------------------------

BAD_INPUT = [
    (dict(title=""), "Give the game a title."),
    (dict(title="x" * 121), "at most 120 characters"),
    (dict(short_description="x" * 301), "At most 300 characters."),
    (dict(description="x" * 20_001), "at most 20,000 characters"),
    (dict(price=""), "Enter a price"),
    (dict(price="-1"), "from ₩0 to ₩10,000,000"),
    (dict(price="10000001"), "from ₩0 to ₩10,000,000"),
    (dict(price="12,000"), "Not a valid integer value"),
    (dict(price="12000", sale_price="12000"), "lower than the regular price"),
    (dict(sale_price="5000", sale_starts_at="2026-12-24T09:00", sale_ends_at="2026-12-24T08:00"), "end after it starts"),
    (dict(sale_starts_at="2026-12-24T09:00"), "Set a sale price"),
    (dict(sale_price="5000", sale_starts_at="next tuesday"), "Enter a date and time"),
    (dict(release_date="someday"), "Not a valid date value"),
    (dict(category_id="999999"), "Not a valid choice"),
    (dict(tag_ids=["999999"]), "Choose tags from the list."),
]


@pytest.mark.parametrize("overrides,message", BAD_INPUT)
def test_bad_edits_are_refused_with_a_message_and_change_nothing(app, as_owner, world, overrides, message):
    before = snapshot(app, world.game)
    res = as_owner.post(f"/publisher/games/{world.game}/edit", game_form(title="Changed", price="9000") | overrides)
    assert res.status_code == 400
    assert message in errors(res)
    assert snapshot(app, world.game) == before


@pytest.mark.parametrize("overrides,message", [BAD_INPUT[0], BAD_INPUT[5], BAD_INPUT[8], BAD_INPUT[13]])
def test_bad_new_games_are_refused_and_nothing_is_created(app, as_owner, world, overrides, message):
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Game))
    res = as_owner.post("/publisher/games/new", game_form(title="Brand New") | overrides)
    assert res.status_code == 400
    assert message in errors(res)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Game)) == count


# --- Markdown and times ---------------------------------------------------------------

HOSTILE = ('# Patch notes\n\n<script>alert("pwned")</script>\n\n'
           '[free gems](javascript:alert(1)) and [VBS](vbscript:msgbox(1)) '
           '<img src=x onerror=alert(2)> [ok](https://example.com)')


def test_markdown_is_rendered_without_scripts_or_javascript_links(app, as_owner, world):
    res = as_owner.post(f"/publisher/games/{world.game}/edit", game_form(description=HOSTILE))
    assert res.status_code == 302
    assert snapshot(app, world.game)["description"] == HOSTILE  # stored as written, made safe on output
    page = as_owner.get(f"/publisher/games/{world.game}/edit").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert 'href="javascript:' not in page and 'href="vbscript:' not in page
    html = str(render_markdown(HOSTILE))
    assert "<h3>Patch notes</h3>" in html  # demoted under the page's own headings
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and 'href="javascript:' not in html and 'href="vbscript:' not in html
    assert 'href="https://example.com"' in html and 'rel="nofollow noopener noreferrer"' in html
    assert html in page  # the preview on the edit page is this rendering


def test_sale_times_are_entered_in_kst_and_stored_in_utc(app, as_owner, world):
    res = as_owner.post(f"/publisher/games/{world.game}/edit", game_form(
        sale_price="9000", sale_starts_at="2026-12-24T09:00", sale_ends_at="2027-01-01T00:00"))
    assert res.status_code == 302
    after = snapshot(app, world.game)
    assert after["sale_starts_at"] == datetime(2026, 12, 24, 0, 0, tzinfo=timezone.utc)
    with app.app_context():
        game = db.session.get(Game, world.game)
        assert game.sale_ends_at == datetime(2026, 12, 31, 15, 0, tzinfo=timezone.utc)
    page = as_owner.get(f"/publisher/games/{world.game}/edit").get_data(as_text=True)
    assert 'name="sale_starts_at" type="datetime-local" value="2026-12-24T09:00"' in page
    assert 'value="2027-01-01T00:00"' in page


# --- covers and screenshots -----------------------------------------------------------

def test_cover_upload_is_reencoded_and_replaces_the_old_one(app, as_owner, world, uploads):
    res = as_owner.post(f"/publisher/games/{world.game}/cover", upload("cover", image_bytes("JPEG", (1840, 860))),
                        content_type="multipart/form-data")
    assert res.status_code == 302 and res.headers["Location"].endswith(f"/publisher/games/{world.game}/edit#media")
    first = snapshot(app, world.game)["cover"]
    assert re.fullmatch(rf"games/{world.game}/cover-[0-9a-f]{{32}}\.webp", first)
    with app.app_context():
        with Image.open(io.BytesIO(get_storage().read(first))) as img:
            assert img.format == "WEBP" and img.size == (920, 430)
    page = as_owner.get(f"/publisher/games/{world.game}/edit").get_data(as_text=True)
    assert f'src="/media/{first}"' in page and "Cover updated." in page
    as_owner.post(f"/publisher/games/{world.game}/cover", upload("cover", filename="c.png"),
                  content_type="multipart/form-data")
    second = snapshot(app, world.game)["cover"]
    assert second != first and first not in stored_files(uploads) and second in stored_files(uploads)


def test_screenshots_are_added_up_to_ten_and_the_eleventh_is_refused(app, as_owner, world, uploads):
    for _ in range(services.MAX_SCREENSHOTS - 1):  # the game already has one
        res = as_owner.post(f"/publisher/games/{world.game}/screenshots", upload("screenshot"),
                            content_type="multipart/form-data")
        assert res.status_code == 302
    shots = snapshot(app, world.game)["shots"]
    assert len(shots) == 10
    res = as_owner.post(f"/publisher/games/{world.game}/screenshots", upload("screenshot"),
                        content_type="multipart/form-data")
    assert res.status_code == 400
    assert "at most 10 screenshots" in errors(res)
    assert snapshot(app, world.game)["shots"] == shots
    assert len([f for f in stored_files(uploads) if "/shot-" in f]) == 10
    page = as_owner.get(f"/publisher/games/{world.game}/edit").get_data(as_text=True)
    assert "10 / 10" in page and "remove one to add another" in page


@pytest.mark.parametrize("route,field", [("cover", "cover"), ("screenshots", "screenshot")])
@pytest.mark.parametrize("data,filename,message", [
    (b"MZ\x90\x00 definitely not a picture", "trailer.png", "Please upload a JPEG, PNG, GIF or WebP image."),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg", "Please upload a JPEG"),
    (b"", "empty.png", "The file is empty."),
    (None, None, "Choose an image."),  # no file at all
])
def test_non_images_are_refused(app, as_owner, world, uploads, route, field, data, filename, message):
    before, files = snapshot(app, world.game), stored_files(uploads)
    res = as_owner.post(f"/publisher/games/{world.game}/{route}", upload(field, data, filename) if filename else {},
                        content_type="multipart/form-data")
    assert res.status_code == 400
    assert message in errors(res)
    assert snapshot(app, world.game) == before and stored_files(uploads) == files


def test_screenshot_removal(app, as_owner, world, uploads):
    with app.app_context():
        key = db.session.get(Screenshot, world.shot).key
    assert key in stored_files(uploads)
    res = as_owner.post(f"/publisher/games/{world.game}/screenshots/{world.shot}/delete")
    assert res.status_code == 302
    assert snapshot(app, world.game)["shots"] == []
    assert key not in stored_files(uploads)
    assert as_owner.post(f"/publisher/games/{world.game}/screenshots/{world.shot}/delete").status_code == 404


def test_a_screenshot_of_another_game_cannot_be_removed_through_ones_own(app, as_owner, world):
    with app.app_context():
        pub = db.session.get(User, world.other.id)
        rival = services.create_game(pub, services.GameInput(title="Rival", price=100))
        shot = services.add_screenshot(pub, rival, io.BytesIO(image_bytes())).id
    res = as_owner.post(f"/publisher/games/{world.game}/screenshots/{shot}/delete")
    assert res.status_code == 404
    with app.app_context():
        assert db.session.get(Screenshot, shot) is not None


# --- who may do what ------------------------------------------------------------------

GAME_ROUTES = {
    # name: (method, url, data maker, status when allowed)
    "edit page": ("GET", "/publisher/games/{game}/edit", None, 200),
    "save": ("POST", "/publisher/games/{game}/edit", lambda w: game_form(title="Taken Over", price="1"), 302),
    "delist": ("POST", "/publisher/games/{game}/delist", lambda w: {}, 302),
    "relist": ("POST", "/publisher/games/{game}/relist", lambda w: {}, 302),
    "cover": ("POST", "/publisher/games/{game}/cover", lambda w: upload("cover"), 302),
    "add screenshot": ("POST", "/publisher/games/{game}/screenshots", lambda w: upload("screenshot"), 302),
    "remove screenshot": ("POST", "/publisher/games/{game}/screenshots/{shot}/delete", lambda w: {}, 302),
}
VISITORS = {"owner": "allowed", "other publisher": 403, "customer": 403, "anonymous": "login", "admin": "allowed"}
USER_OF = {"owner": "owner", "other publisher": "other", "customer": "customer", "admin": "admin"}


def request_as(app, world, who, method, url, data=None, csrf=True) -> tuple[Browser, object]:
    browser = Browser(app)
    if who != "anonymous":
        log_in_as(app, browser, getattr(world, USER_OF[who]).id)
    if method == "GET":
        return browser, browser.get(url)
    return browser, browser.post(url, data, csrf=csrf, content_type="multipart/form-data")


@pytest.mark.parametrize("who", VISITORS)
@pytest.mark.parametrize("route", GAME_ROUTES)
def test_game_access_table(app, world, route, who):
    method, url, data, allowed_status = GAME_ROUTES[route]
    url = url.format(game=world.game, shot=world.shot)
    before = snapshot(app, world.game)
    _, res = request_as(app, world, who, method, url, data(world) if data else None)
    expected = VISITORS[who]
    if expected == "allowed":
        assert res.status_code == allowed_status
    elif expected == "login":
        assert res.status_code == 302 and res.headers["Location"].startswith("/login?next=")
    else:
        assert res.status_code == expected
    if expected != "allowed":
        assert snapshot(app, world.game) == before


@pytest.mark.parametrize("who,expected", [("owner", 200), ("customer", 403), ("anonymous", "login"), ("admin", 200)])
@pytest.mark.parametrize("url", ["/publisher/games", "/publisher/games/new"])
def test_publisher_pages_access(app, world, url, who, expected):
    _, res = request_as(app, world, who, "GET", url)
    if expected == "login":
        assert res.status_code == 302 and res.headers["Location"].startswith("/login?next=")
    else:
        assert res.status_code == expected


def test_customers_cannot_create_games(app, world):
    _, res = request_as(app, world, "customer", "POST", "/publisher/games/new", game_form(title="Sneaky"))
    assert res.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(Game).where(Game.title == "Sneaky")) is None


ADMIN_ROUTES = {
    "categories page": ("GET", "/admin/categories", None, 200),
    "add category": ("POST", "/admin/categories", lambda w: {"name": "Puzzle"}, 302),
    "delete category": ("POST", "/admin/categories/{category}/delete", lambda w: {}, 302),
    "tags page": ("GET", "/admin/tags", None, 200),
    "add tag": ("POST", "/admin/tags", lambda w: {"name": "Roguelike"}, 302),
    "delete tag": ("POST", "/admin/tags/{tag}/delete", lambda w: {}, 302),
    "korean category name": ("POST", "/admin/categories/{category}/korean", lambda w: {"name_ko": "시뮬레이션"}, 302),
    "korean tag name": ("POST", "/admin/tags/{tag}/korean", lambda w: {"name_ko": "픽셀 아트"}, 302),
}


def terms(app) -> tuple[list[str], list[str], list[str]]:
    """Category names, tag names, and every Korean name."""
    with app.app_context():
        korean = [n for model in (Category, Tag) for n in db.session.scalars(select(model.name_ko)) if n]
        return (sorted(db.session.scalars(select(Category.name))), sorted(db.session.scalars(select(Tag.name))),
                sorted(korean))


@pytest.mark.parametrize("who,expected", [("admin", "allowed"), ("owner", 403), ("customer", 403), ("anonymous", "login")])
@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_admin_access_table(app, world, route, who, expected):
    method, url, data, allowed_status = ADMIN_ROUTES[route]
    url = url.format(category=world.category, tag=world.pixel)
    before = terms(app)
    _, res = request_as(app, world, who, method, url, data(world) if data else None)
    if expected == "allowed":
        assert res.status_code == allowed_status
    elif expected == "login":
        assert res.status_code == 302 and res.headers["Location"].startswith("/login?next=")
    else:
        assert res.status_code == expected
    if expected != "allowed":
        assert terms(app) == before


POSTS = [("owner", f"{m} {u}", u, d) for name, (m, u, d, _) in GAME_ROUTES.items() if m == "POST"] + \
        [("owner", "POST /publisher/games/new", "/publisher/games/new", lambda w: game_form(title="No Token"))] + \
        [("admin", f"{m} {u}", u, d) for name, (m, u, d, _) in ADMIN_ROUTES.items() if m == "POST"]


@pytest.mark.parametrize("who,label,url,data", POSTS, ids=[p[1] for p in POSTS])
def test_every_post_without_csrf_is_refused(app, world, who, label, url, data):
    url = url.format(game=world.game, shot=world.shot, category=world.category, tag=world.pixel)
    before_game, before_terms = snapshot(app, world.game), terms(app)
    with app.app_context():
        games = db.session.scalar(select(func.count()).select_from(Game))
    _, res = request_as(app, world, who, "POST", url, data(world), csrf=False)
    assert res.status_code == 400
    assert "Your form expired" in res.get_data(as_text=True)
    assert snapshot(app, world.game) == before_game and terms(app) == before_terms
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Game)) == games


# --- categories and tags --------------------------------------------------------------

@pytest.fixture
def as_admin(app, browser, world):
    log_in_as(app, browser, world.admin.id)
    return browser


@pytest.mark.parametrize("kind,url", [("category", "/admin/categories"), ("tag", "/admin/tags")])
def test_admin_adds_terms_with_slugs(app, as_admin, kind, url):
    res = as_admin.post(url, {"name": "  Deck  Builder "})
    assert res.status_code == 302 and res.headers["Location"] == url
    model = Category if kind == "category" else Tag
    with app.app_context():
        term = db.session.scalar(select(model).where(model.name == "Deck Builder"))
        assert term.slug == "deck-builder"
    page = as_admin.get(url).get_data(as_text=True)
    assert f"Added the {kind} “Deck Builder”." in page and "<code>deck-builder</code>" in page


@pytest.mark.parametrize("url,name,message", [
    (url, name, message) for url in ("/admin/categories", "/admin/tags") for name, message in [
        ("", "Enter a name."), ("x" * 41, "at most 40 characters"), ("!!!", "at least one letter or digit")]
] + [
    ("/admin/categories", "simulation", "A category called “Simulation” already exists."),  # same slug
    ("/admin/tags", "COSY", "A tag called “Cosy” already exists."),
    ("/admin/tags", "pixel-art", "A tag called “Pixel Art” already exists."),
])
def test_bad_term_names_are_refused(app, as_admin, world, url, name, message):
    before = terms(app)
    res = as_admin.post(url, {"name": name})
    assert res.status_code == 400
    assert message in errors(res)
    assert terms(app) == before


def test_a_category_in_use_is_not_deleted(app, as_admin, world):
    with app.app_context():
        game = db.session.get(Game, world.game)
        game.category_id = world.category
        db.session.commit()
    res = as_admin.post(f"/admin/categories/{world.category}/delete")
    assert res.status_code == 409
    assert "“Simulation” can't be deleted: 1 game uses it. Move it to another category first." in errors(res)
    assert "Simulation" in terms(app)[0]
    res = as_admin.post(f"/publisher/games/{world.game}/edit", game_form(category_id=""))
    assert res.status_code == 302
    res = as_admin.post(f"/admin/categories/{world.category}/delete")
    assert res.status_code == 302
    assert terms(app)[0] == []
    assert "Deleted the category “Simulation”." in as_admin.get("/admin/categories").get_data(as_text=True)
    assert as_admin.post(f"/admin/categories/{world.category}/delete").status_code == 404


def test_deleting_a_tag_takes_it_off_games_and_out_of_search(app, as_admin, world):
    with app.app_context():
        assert search_ids("cosy").ids == [world.game]
    res = as_admin.post(f"/admin/tags/{world.cosy}/delete")
    assert res.status_code == 302
    with app.app_context():
        game = db.session.get(Game, world.game)
        assert game.tags == [] and game.search_text == "lantern keep"
        assert search_ids("cosy").ids == []
        assert search_ids("lantern").ids == [world.game]
        assert db.session.get(Tag, world.cosy) is None
    page = as_admin.get("/admin/tags").get_data(as_text=True)
    assert "Deleted the tag “Cosy”. It was taken off 1 game." in page


# --- Korean names of categories and tags ------------------------------------------------

def test_korean_names_are_shown_to_korean_pages_and_english_names_to_english_ones(app, as_admin, world):
    res = as_admin.post(f"/admin/tags/{world.cosy}/korean", {"name_ko": "  아늑한  "})
    assert res.status_code == 302 and res.headers["Location"] == "/admin/tags"
    assert as_admin.post("/admin/categories", {"name": "Farming", "name_ko": "농장"}).status_code == 302
    assert terms(app)[2] == ["농장", "아늑한"]
    client = app.test_client()
    korean = client.get(f"/games/{world.slug}", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    english = client.get(f"/games/{world.slug}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">아늑한</a>" in korean and ">Cosy</a>" not in korean
    assert ">Cosy</a>" in english and "아늑한" not in english
    assert "농장" in client.get("/games", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    run_jobs(app)  # the rename's job: search text of the tag's games, and the page cache
    with app.app_context():
        assert search_ids("아늑한").ids == [world.game]
    res = as_admin.post(f"/admin/tags/{world.cosy}/korean", {"name_ko": ""})
    assert res.status_code == 302 and terms(app)[2] == ["농장"]
    run_jobs(app)
    with app.app_context():
        assert search_ids("아늑한").ids == []
    assert ">Cosy</a>" in client.get(f"/games/{world.slug}", headers={"Accept-Language": "ko"}).get_data(as_text=True)


def test_bad_korean_names_are_refused_and_change_nothing(app, as_admin, world):
    before = terms(app)
    res = as_admin.post(f"/admin/tags/{world.cosy}/korean", {"name_ko": "가" * 41})
    assert res.status_code == 400 and "at most 40 characters" in res.get_data(as_text=True)
    assert as_admin.post("/admin/tags/999999/korean", {"name_ko": "없음"}).status_code == 404
    assert as_admin.post("/admin/categories/999999/korean", {"name_ko": "없음"}).status_code == 404
    assert terms(app) == before
