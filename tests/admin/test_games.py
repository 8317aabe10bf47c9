"""Admin games: search, delist with a reason (the publisher is told and cannot relist),
relist; the store and its caches follow."""
import re

import pytest
from sqlalchemy import select

from shop.catalog.models import Game
from shop.extensions import db
from shop.infra.mail import EmailLog
from shop.web.i18n import in_locale
from shop.notifications.models import Notification

from ..support.browser import run_jobs
from ..support.orders import new_game

REASON = "Uses artwork without a licence"


@pytest.fixture
def publisher(login_as):
    return login_as("publisher", email="studio@devs.example", nickname="PixelForge")


@pytest.fixture
def game_id(app, publisher):
    return new_game(app, "Hollow Hill", price=18000, publisher_id=publisher.user.id)


def notifications_of(app, user_id) -> list[tuple[str, str, str | None]]:
    """(kind, text as an English reader reads it, link)."""
    with app.app_context(), in_locale("en"):
        return [(n.kind, n.text, n.link) for n in db.session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id))]


def emails_to(app, recipient) -> list[EmailLog]:
    with app.app_context():
        return [(e.kind, e.subject) for e in db.session.scalars(select(EmailLog).where(EmailLog.recipient == recipient))]


def state(row_of, game_id) -> tuple[str, str | None]:
    game = row_of(Game, game_id)
    return game.status, game.moderation_note


# --- who may ---------------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/admin/games", None, 200),
    ("POST", "/admin/games/{id}/delist", {"reason": REASON}, 302),
    ("POST", "/admin/games/{id}/relist", {}, 302),
]


@pytest.mark.parametrize("who", ["anonymous", "customer", "publisher", "admin"])
@pytest.mark.parametrize("method,url,data,admin_status", ROUTES)
def test_only_admins_reach_game_admin(app, login_as, publisher, game_id, row_of, audit_rows, who, method, url,
                                      data, admin_status):
    # the game's own publisher is as unwelcome as any other
    browser = publisher if who == "publisher" else login_as(who)
    url = url.format(id=game_id)
    res = browser.get(url) if method == "GET" else browser.post(url, data)
    assert res.status_code == {"anonymous": 302, "customer": 403, "publisher": 403, "admin": admin_status}[who]
    if who == "anonymous":
        assert res.headers["Location"].startswith("/login?next=")
    if who != "admin":
        assert state(row_of, game_id) == ("listed", None) and audit_rows() == []


@pytest.mark.parametrize("url", ["/admin/games/{id}/delist", "/admin/games/{id}/relist"])
def test_game_actions_need_the_csrf_token(admin_browser, game_id, row_of, audit_rows, url):
    res = admin_browser.post(url.format(id=game_id), {"reason": REASON}, csrf=False)
    assert res.status_code == 400
    assert state(row_of, game_id) == ("listed", None) and audit_rows() == []


@pytest.mark.parametrize("url", ["/admin/games/{id}/delist", "/admin/games/{id}/relist"])
def test_an_unknown_game_is_404(admin_browser, audit_rows, url):
    assert admin_browser.post(url.format(id=987654), {"reason": REASON}).status_code == 404
    assert audit_rows() == []


# --- search ----------------------------------------------------------------------------------------------

def ids_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="game-(\d+)"', page)]


def test_search_by_title_status_and_publisher(app, admin_browser, publisher, game_id, make_user):
    other = new_game(app, "Star Hollow", price=9000)
    third = new_game(app, "Deep Sea", price=5000, publisher_id=publisher.user.id)
    admin_browser.post(f"/admin/games/{third}/delist", {"reason": REASON})
    assert sorted(ids_on(admin_browser.page("/admin/games?q=hollow"))) == sorted([game_id, other])
    assert ids_on(admin_browser.page("/admin/games?publisher=pixelforge")) == [third, game_id]
    assert ids_on(admin_browser.page("/admin/games?publisher=studio@devs")) == [third, game_id]
    assert ids_on(admin_browser.page("/admin/games?status=delisted")) == [third]
    assert ids_on(admin_browser.page("/admin/games?status=moderated")) == [third]
    assert ids_on(admin_browser.page("/admin/games?status=listed&q=hollow&publisher=pixel")) == [game_id]
    page = admin_browser.page("/admin/games?status=delisted")
    assert f"Admin: “{REASON}”" in page and "Relist</button>" in page
    assert admin_browser.get("/admin/games?status=gone").status_code == 400


# --- delist ----------------------------------------------------------------------------------------------------

def test_delisting_hides_the_game_tells_the_publisher_and_is_audited(app, admin_browser, publisher, game_id,
                                                                      row_of, audit_rows, redis, outbox, client):
    slug = row_of(Game, game_id).slug
    assert client.get(f"/games/{slug}").status_code == 200  # the page is rendered and its parts cached
    assert "Hollow Hill" in client.get("/search?q=hollow").get_data(as_text=True)
    assert redis.keys(f"cache:game:{game_id}:*")
    redis.set("cache:lists:home:new:en:all", "stale row")

    res = admin_browser.post(f"/admin/games/{game_id}/delist?status=listed", {"reason": REASON})
    assert res.status_code == 302 and res.headers["Location"] == "/admin/games?status=listed"  # filters kept
    assert "“Hollow Hill” is delisted; its publisher was told why." in admin_browser.flashes()
    assert state(row_of, game_id) == ("delisted", REASON)

    [row] = audit_rows()
    assert (row.action, row.target_type, row.target_id, row.target_label, row.note) == (
        "game.delist", "game", str(game_id), "Hollow Hill", REASON)
    assert (row.before, row.after) == ({"status": "listed", "moderation_note": None},
                                       {"status": "delisted", "moderation_note": REASON})
    # the publisher hears about it: a notification and an email
    assert notifications_of(app, publisher.user.id) == [
        ("game_delisted", f"An admin delisted “Hollow Hill”: {REASON}", f"/publisher/games/{game_id}/edit")]
    [mail] = [m for m in outbox.deliver() if "studio@devs.example" in m["to"]]  # also runs the cache job
    assert mail["subject"] == "“Hollow Hill” was removed from the Playcation store"
    assert REASON in mail["text"] and f"/publisher/games/{game_id}/edit" in mail["text"]
    # the store and its caches follow, as with the publisher's own delist
    assert redis.keys(f"cache:game:{game_id}:*") == [] and redis.get("cache:lists:home:new:en:all") is None
    assert client.get(f"/games/{slug}").status_code == 404
    assert "Hollow Hill" not in client.get("/search?q=hollow").get_data(as_text=True)


def test_a_moderated_game_cannot_be_relisted_by_its_publisher(app, admin_browser, publisher, game_id, row_of):
    admin_browser.post(f"/admin/games/{game_id}/delist", {"reason": REASON})
    # the publisher sees why, and no Relist button
    edit = publisher.page(f"/publisher/games/{game_id}/edit")
    assert "Delisted by an admin." in edit and f"Reason: “{REASON}”" in edit
    listing = publisher.page("/publisher/games")
    assert "Delisted by an admin</span>" in listing and f"/publisher/games/{game_id}/relist" not in listing
    # pressing it anyway is refused, with the reason
    res = publisher.post(f"/publisher/games/{game_id}/relist")
    assert res.status_code == 302 and res.headers["Location"] == f"/publisher/games/{game_id}/edit"
    flashed = publisher.flashes()
    assert f"“Hollow Hill” was delisted by an admin: {REASON} Only an admin can list it again." in flashed
    res = publisher.post(f"/publisher/games/{game_id}/relist", htmx=True)
    assert res.status_code == 200 and res.headers["HX-Redirect"] == f"/publisher/games/{game_id}/edit"
    assert state(row_of, game_id) == ("delisted", REASON)
    # an admin's back office relist is sent to the audited admin console too
    res = admin_browser.post(f"/publisher/games/{game_id}/relist")
    assert "Relist it in Admin → Games" in admin_browser.flashes()
    assert state(row_of, game_id) == ("delisted", REASON)


@pytest.mark.parametrize("reason,message", [("", "Give a reason."), ("nope", "A reason is 5–300 characters."),
                                            ("x" * 301, "A reason is 5–300 characters.")])
def test_delisting_needs_a_reason_of_5_to_300_characters(app, admin_browser, publisher, game_id, row_of,
                                                         audit_rows, reason, message):
    res = admin_browser.post(f"/admin/games/{game_id}/delist", {"reason": reason})
    assert res.status_code == 400
    page = res.get_data(as_text=True)
    assert "“Hollow Hill” was not delisted." in page and message in page
    assert state(row_of, game_id) == ("listed", None) and audit_rows() == []
    assert notifications_of(app, publisher.user.id) == [] and emails_to(app, publisher.user.email) == []


def test_delisting_a_game_its_publisher_hid_adds_the_reason(app, admin_browser, publisher, game_id, row_of,
                                                           audit_rows):
    publisher.post(f"/publisher/games/{game_id}/delist")
    assert state(row_of, game_id) == ("delisted", None)
    admin_browser.post(f"/admin/games/{game_id}/delist", {"reason": REASON})
    assert state(row_of, game_id) == ("delisted", REASON)
    [row] = audit_rows()
    assert (row.before, row.after) == ({"moderation_note": None}, {"moderation_note": REASON})
    # the same again changes nothing
    res = admin_browser.post(f"/admin/games/{game_id}/delist", {"reason": REASON})
    assert res.status_code == 400 and "already delisted with that reason" in res.get_data(as_text=True)
    assert len(audit_rows()) == 1


# --- relist ----------------------------------------------------------------------------------------------------

def test_relisting_clears_the_reason_tells_the_publisher_and_is_audited(app, admin_browser, publisher, game_id,
                                                                         row_of, audit_rows, client):
    admin_browser.post(f"/admin/games/{game_id}/delist", {"reason": REASON})
    run_jobs(app)
    res = admin_browser.post(f"/admin/games/{game_id}/relist")
    assert res.status_code == 302 and "“Hollow Hill” is back in the store." in admin_browser.flashes()
    assert state(row_of, game_id) == ("listed", None)
    row = audit_rows(action="game.relist")[0]
    assert (row.before, row.after) == ({"status": "delisted", "moderation_note": REASON},
                                       {"status": "listed", "moderation_note": None})
    assert notifications_of(app, publisher.user.id)[-1][:2] == (
        "game_relisted", "An admin listed “Hollow Hill” in the store again.")
    run_jobs(app)
    assert client.get(f"/games/{row_of(Game, game_id).slug}").status_code == 200
    # the publisher manages it freely again
    publisher.post(f"/publisher/games/{game_id}/delist")
    publisher.post(f"/publisher/games/{game_id}/relist")
    assert state(row_of, game_id) == ("listed", None)


def test_relisting_a_listed_game_changes_nothing(admin_browser, game_id, audit_rows):
    admin_browser.post(f"/admin/games/{game_id}/relist")
    assert "“Hollow Hill” is already listed." in admin_browser.flashes()
    assert audit_rows() == []
