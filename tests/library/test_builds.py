"""Builds on local storage: the chunked upload, resume, verification, publishing, and
who may do what."""
import hashlib
import io

import pytest
from sqlalchemy import select
from werkzeug.test import EnvironBuilder

from shop.extensions import db
from shop.library.build_models import Build
from shop.notifications.models import Notification

from ..support.browser import run_jobs
from ..support.builds import Uploader, browser_as, build_row, payload
from ..support.catalog import make_game
from ..support.orders import grant

CHUNK = 64 * 1024


@pytest.fixture
def small_chunks(app, monkeypatch):
    monkeypatch.setitem(app.config, "BUILD_CHUNK_BYTES", CHUNK)


@pytest.fixture
def world(app, make_user, small_chunks):
    publisher = make_user(role="publisher")
    with app.app_context():
        game = make_game("Build Quest", price=15000, publisher_id=publisher.id)
    uploader = Uploader(app, browser_as(app, publisher.id))
    return type("World", (), {"publisher": publisher, "game": game, "uploader": uploader})


def builds_of(app, game_id) -> list[tuple]:
    with app.app_context():
        return [(b.status, b.received) for b in db.session.scalars(select(Build).where(Build.game_id == game_id))]


def test_a_build_goes_up_in_chunks_is_verified_and_published(app, world, make_user, outbox):
    owner, refunded, stranger = make_user(), make_user(), make_user()
    grant(app, owner.id, world.game)
    grant(app, refunded.id, world.game)
    with app.app_context():
        from shop.library.models import LibraryEntry
        from shop.timeutil import utcnow

        db.session.execute(LibraryEntry.__table__.update().where(LibraryEntry.user_id == refunded.id)
                           .values(revoked_at=utcnow()))
        db.session.commit()
    data = payload(3 * CHUNK + 1234)
    up = world.uploader

    res = up.start(world.game, len(data), version="1.2.0", platform="linux", notes="Faster loading.",
                   filename="../evil dir/build quest.tar.gz")
    assert res.status_code == 201
    plan = res.get_json()
    assert plan["mode"] == "local" and plan["chunk_size"] == CHUNK and plan["received"] == 0
    assert plan["filename"] == "build_quest.tar.gz"  # the path is dropped, odd characters replaced
    build_id = plan["id"]
    for offset in range(0, len(data), CHUNK):
        res = up.put(build_id, offset, data[offset:offset + CHUNK])
        assert res.status_code == 200 and res.get_json()["received"] == min(offset + CHUNK, len(data))
    assert up.status(build_id).get_json()["received"] == len(data)
    assert up.publish(build_id).status_code == 302
    assert build_row(app, build_id).status == "uploading"  # nothing to publish before it is verified

    res = up.complete(build_id, hashlib.sha256(data).hexdigest())
    assert res.status_code == 200 and res.get_json()["status"] == "verifying"
    run_jobs(app)
    build = build_row(app, build_id)
    assert build.status == "ready" and build.sha256 == hashlib.sha256(data).hexdigest() and build.size == len(data)
    with app.app_context():
        from shop.infra.storage import get_build_storage

        assert get_build_storage().path(build.storage_key).read_bytes() == data
    assert "Verified, not published" in up.browser.get(f"/publisher/games/{world.game}/builds").get_data(as_text=True)

    res = up.publish(build_id)
    assert res.status_code == 302
    assert build_row(app, build_id).status == "published"
    with app.app_context():
        notes = db.session.scalars(select(Notification).where(Notification.kind == "build_published")).all()
        assert [(n.user_id, n.params) for n in notes] == [
            (owner.id, {"title": "Build Quest", "version": "1.2.0", "platform": "linux"})]
    mails = outbox.deliver()
    to_owner = [m for m in mails if owner.email in m["to"]]
    assert len(to_owner) == 1 and not [m for m in mails if refunded.email in m["to"] or stranger.email in m["to"]]
    assert "Build Quest 1.2.0 is out for Linux." in to_owner[0]["text"]
    assert "/library" in to_owner[0]["text"]
    # the owner reads the notification in their language
    page = browser_as(app, owner.id).get("/notifications").get_data(as_text=True)
    assert "Build Quest 1.2.0 is out for Linux. Download it from your library." in page


def test_an_interrupted_chunk_keeps_what_arrived_and_the_upload_resumes_from_there(app, world):
    data = payload(2 * CHUNK + 500)
    up = world.uploader
    build_id = up.start(world.game, len(data)).get_json()["id"]
    assert up.put(build_id, 0, data[:CHUNK]).status_code == 200

    # the connection drops 1,000 bytes into the second chunk: the body ends before its Content-Length
    client = up.browser.client
    builder = EnvironBuilder(path=f"/publisher/builds/{build_id}/upload", query_string={"offset": CHUNK},
                             method="PUT", input_stream=io.BytesIO(data[CHUNK:CHUNK + 1000]),
                             headers=up.headers(**{"Content-Type": "application/octet-stream"}),
                             environ_overrides={"CONTENT_LENGTH": str(CHUNK)})
    res = client.open(builder)
    assert res.status_code == 400
    status = up.status(build_id).get_json()
    assert status["received"] == CHUNK + 1000  # the file's real size, not what the client hoped

    # the client retries the whole chunk: told where the upload stands, it goes on from there
    res = up.put(build_id, CHUNK, data[CHUNK:2 * CHUNK])
    assert res.status_code == 409 and res.get_json()["received"] == CHUNK + 1000
    for offset in range(CHUNK + 1000, len(data), CHUNK):
        assert up.put(build_id, offset, data[offset:offset + CHUNK]).status_code == 200
    assert up.complete(build_id, hashlib.sha256(data).hexdigest()).status_code == 200
    run_jobs(app)
    assert build_row(app, build_id).status == "ready"


def test_a_wrong_checksum_fails_the_build_and_deletes_its_file(app, world):
    data = payload(CHUNK + 10)
    up = world.uploader
    build_id = up.start(world.game, len(data)).get_json()["id"]
    for offset in range(0, len(data), CHUNK):
        up.put(build_id, offset, data[offset:offset + CHUNK])
    assert up.complete(build_id, hashlib.sha256(data + b"x").hexdigest()).status_code == 200
    run_jobs(app)
    build = build_row(app, build_id)
    assert build.status == "failed" and build.error == "checksum"
    with app.app_context():
        from shop.infra.storage import get_build_storage

        assert not get_build_storage().exists(build.storage_key)
    assert up.publish(build_id).status_code == 302
    assert build_row(app, build_id).status == "failed"
    page = up.browser.get(f"/publisher/games/{world.game}/builds").get_data(as_text=True)
    assert "is not the one the browser computed." in page


def test_an_incomplete_upload_cannot_be_completed(app, world):
    data = payload(2 * CHUNK)
    up = world.uploader
    build_id = up.start(world.game, len(data)).get_json()["id"]
    up.put(build_id, 0, data[:CHUNK])
    res = up.complete(build_id, hashlib.sha256(data).hexdigest())
    assert res.status_code == 400
    assert res.get_json()["error"] == "The upload is incomplete: 65,536 of 131,072 bytes."
    assert build_row(app, build_id).status == "uploading"


@pytest.mark.parametrize("fields, message", [
    ({"size": str(4 * 1024 ** 3 + 1)}, "A build is 1 byte to 4 GB."),
    ({"size": "0"}, "A build is 1 byte to 4 GB."),
    ({"size": "-5"}, "A build is 1 byte to 4 GB."),
    ({"size": "12abc"}, "A build is 1 byte to 4 GB."),
    ({"size": "9" * 40}, "A build is 1 byte to 4 GB."),
    ({"platform": "amiga"}, "Not a valid choice."),
    ({"version": ""}, "Give the build a version."),
    ({"version": "v" * 41}, "At most 40 characters."),
    ({"notes": "n" * 5001}, "At most 5000 characters."),
])
def test_a_bad_start_is_refused_with_a_message_and_creates_nothing(app, world, fields, message):
    base = {"version": "1.0", "platform": "windows", "notes": "", "filename": "a.zip", "size": "100"}
    browser = world.uploader.browser
    res = browser.client.post(f"/publisher/games/{world.game}/builds",
                              data={**base, **fields, "csrf_token": browser.csrf_token()},
                              headers={"Accept": "application/json"})
    assert res.status_code == 400 and message in res.get_json()["error"]
    assert builds_of(app, world.game) == []


@pytest.mark.parametrize("query, body, status", [
    ("offset=-1", b"x", 400),
    ("offset=abc", b"x", 400),
    ("offset=" + "9" * 30, b"x", 400),
    ("", b"x", 400),
    ("offset=5", b"x", 409),                 # not the end of what is stored
    ("offset=0", b"x" * (CHUNK + 1), 400),   # larger than a chunk
    ("offset=0", b"", 411),                  # empty: no Content-Length
])
def test_bad_chunks_are_refused_and_store_nothing(app, world, query, body, status):
    up = world.uploader
    build_id = up.start(world.game, 1000).get_json()["id"]
    res = up.browser.client.put(f"/publisher/builds/{build_id}/upload?{query}", data=body,
                                headers=up.headers(**{"Content-Type": "application/octet-stream"}))
    assert res.status_code == status and res.get_json()["error"]
    assert up.status(build_id).get_json()["received"] == 0


def test_a_chunk_past_the_declared_size_is_refused(app, world):
    up = world.uploader
    build_id = up.start(world.game, 100).get_json()["id"]
    res = up.put(build_id, 0, b"y" * 101)
    assert res.status_code == 400 and "ends past the size declared" in res.get_json()["error"]
    assert up.put(build_id, 0, b"y" * 100).status_code == 200
    assert up.put(build_id, 100, b"y").status_code == 400  # nothing after the end either


@pytest.mark.parametrize("sha", ["", "abc", "g" * 64, "A" * 65])
def test_a_malformed_checksum_is_refused(app, world, sha):
    up = world.uploader
    build_id = up.start(world.game, 10).get_json()["id"]
    up.put(build_id, 0, b"0123456789")
    res = up.complete(build_id, sha)
    assert res.status_code == 400 and "64 hexadecimal digits" in res.get_json()["error"]
    assert build_row(app, build_id).status == "uploading"


def test_every_state_change_needs_the_csrf_token(app, world):
    up = world.uploader
    assert up.start(world.game, 10, csrf=False).status_code == 400
    assert builds_of(app, world.game) == []
    build_id = up.start(world.game, 10).get_json()["id"]
    assert up.put(build_id, 0, b"0123456789", csrf=False).status_code == 400
    assert up.status(build_id).get_json()["received"] == 0
    up.put(build_id, 0, b"0123456789")
    assert up.complete(build_id, hashlib.sha256(b"0123456789").hexdigest(), csrf=False).status_code == 400
    assert build_row(app, build_id).status == "uploading"
    up.complete(build_id, hashlib.sha256(b"0123456789").hexdigest())
    run_jobs(app)
    assert up.publish(build_id, csrf=False).status_code == 400
    assert build_row(app, build_id).status == "ready"


ENDPOINTS = [
    ("GET", "/publisher/games/{game}/builds"),
    ("POST", "/publisher/games/{game}/builds"),
    ("GET", "/publisher/builds/{build}/upload"),
    ("PUT", "/publisher/builds/{build}/upload?offset=0"),
    ("GET", "/publisher/builds/{build}/parts?first=1&count=1"),
    ("POST", "/publisher/builds/{build}/complete"),
    ("POST", "/publisher/builds/{build}/publish"),
]


@pytest.mark.parametrize("who", ["anonymous", "customer", "other_publisher"])
@pytest.mark.parametrize("method, url", ENDPOINTS)
def test_only_the_games_publisher_may_touch_its_builds(app, world, make_user, who, method, url):
    build_id = world.uploader.start(world.game, 10).get_json()["id"]
    if who == "anonymous":
        from ..support.orders import ShopBrowser

        browser = ShopBrowser(app)
    else:
        browser = browser_as(app, make_user(role="customer" if who == "customer" else "publisher").id)
    token = browser.csrf_token()
    res = browser.client.open(url.format(game=world.game, build=build_id), method=method,
                              data={"csrf_token": token, "version": "2", "platform": "linux", "size": "10",
                                    "sha256": "0" * 64} if method == "POST" else b"0123456789",
                              headers={"X-CSRFToken": token})
    expected = {"anonymous": (302, 401), "customer": (403,), "other_publisher": (403,)}[who]
    assert res.status_code in expected
    assert builds_of(app, world.game) == [("uploading", 0)]


def test_an_admin_may_upload_for_any_game(app, world, make_user):
    admin = Uploader(app, browser_as(app, make_user(role="admin").id))
    build_id = admin.upload_local(world.game, payload(100), CHUNK)
    assert build_row(app, build_id).status == "ready"


def test_missing_builds_and_games_are_404(app, world):
    browser = world.uploader.browser
    assert browser.get("/publisher/games/999999/builds").status_code == 404
    assert browser.get("/publisher/builds/999999/upload").status_code == 404
    assert browser.get("/publisher/builds/99999999999999/upload").status_code == 404


def test_parts_are_for_s3_only(app, world):
    build_id = world.uploader.start(world.game, 10).get_json()["id"]
    res = world.uploader.browser.get(f"/publisher/builds/{build_id}/parts?first=1&count=1")
    assert res.status_code == 400 and res.get_json()["error"] == "This upload goes to this site, in chunks."
    res = world.uploader.browser.get(f"/publisher/builds/{build_id}/parts?first=x&count=1")
    assert res.status_code == 400
