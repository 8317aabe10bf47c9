"""Downloads on local storage: owners only, logged, rate-limited, signed links with Range,
a refund ends them; the library shows what to download and when a new version is out."""
import hashlib
import re
from html import unescape

import pytest

from shop.library import downloads as download_service

from ..support.builds import Uploader, browser_as, downloads_of, payload
from ..support.catalog import make_game
from ..support.orders import Shopper, grant

CHUNK = 64 * 1024


@pytest.fixture
def world(app, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "BUILD_CHUNK_BYTES", CHUNK)
    publisher = make_user(role="publisher")
    with app.app_context():
        game = make_game("Download Quest", price=12000, publisher_id=publisher.id)
    uploader = Uploader(app, browser_as(app, publisher.id))
    data = payload(2 * CHUNK + 77)
    build_id = uploader.upload_local(game, data, CHUNK, version="1.0.0", platform="windows",
                                     notes="First release.", filename="dq-setup.exe")
    assert uploader.publish(build_id).status_code == 302
    return type("World", (), {"publisher": publisher, "game": game, "uploader": uploader, "data": data,
                              "build": build_id})


def start_download(browser, build_id, csrf=True):
    return browser.post(f"/library/builds/{build_id}/download", csrf=csrf)


def count(app, user_id, game_id, since=None):
    with app.app_context():
        return download_service.download_count(user_id, game_id, since)


def test_an_owner_downloads_the_file_whole_and_in_ranges(app, world, make_user):
    owner = make_user()
    grant(app, owner.id, world.game)
    browser = browser_as(app, owner.id)
    res = start_download(browser, world.build)
    assert res.status_code == 303
    link = res.headers["Location"]
    assert re.fullmatch(r"/downloads/[^/]+/dq-setup\.exe", link)
    assert downloads_of(app, owner.id) == [world.build] and count(app, owner.id, world.game) == 1

    anyone = app.test_client()  # the signed link is the authority: no session needed (a download manager)
    whole = anyone.get(link)
    assert whole.status_code == 200 and whole.data == world.data
    assert whole.headers["Content-Disposition"] == "attachment; filename=dq-setup.exe"
    assert whole.headers["Accept-Ranges"] == "bytes" and "no-store" in whole.headers["Cache-Control"]
    assert hashlib.sha256(whole.data).hexdigest() == hashlib.sha256(world.data).hexdigest()

    part = anyone.get(link, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == world.data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(world.data)}"
    # a broken download resumes from where it stopped
    rest = anyone.get(link, headers={"Range": f"bytes={CHUNK}-"})
    assert rest.status_code == 206 and world.data[:CHUNK] + rest.data == world.data
    assert anyone.get(link, headers={"Range": f"bytes={len(world.data) + 5}-"}).status_code == 416
    # Range requests on the link are not new downloads
    assert count(app, owner.id, world.game) == 1


def test_the_library_shows_download_version_size_checksum_and_notes(app, world, make_user):
    owner = make_user()
    grant(app, owner.id, world.game)
    page = unescape(browser_as(app, owner.id).get("/library").get_data(as_text=True))
    assert "Version 1.0.0" in page and "Download for Windows" in page
    assert hashlib.sha256(world.data).hexdigest() in page
    assert "128.1 KB" in page and "First release." in page
    assert "New version available" not in page  # never downloaded: nothing to compare with


def test_a_new_build_after_the_last_download_shows_a_badge_and_the_old_one_stays(app, world, make_user):
    owner = make_user()
    grant(app, owner.id, world.game)
    browser = browser_as(app, owner.id)
    start_download(browser, world.build)
    assert "New version available" not in browser.get("/library").get_data(as_text=True)

    newer = world.uploader.upload_local(world.game, payload(500), CHUNK, version="1.1.0", platform="windows",
                                        notes="Fixes the save bug.")
    world.uploader.publish(newer)
    page = unescape(browser.get("/library").get_data(as_text=True))
    assert "Version 1.1.0" in page and "New version available" in page and "Fixes the save bug." in page
    assert "Older versions" in page and "1.0.0 · Windows" in page
    assert start_download(browser, world.build).status_code == 303  # the old build stays downloadable
    assert "New version available" in browser.get("/library").get_data(as_text=True)  # still not the new one
    linux = world.uploader.upload_local(world.game, payload(300), CHUNK, version="1.1.0", platform="linux")
    world.uploader.publish(linux)  # a platform the user never downloaded changes nothing
    start_download(browser, newer)
    assert "New version available" not in browser.get("/library").get_data(as_text=True)


def test_one_current_build_per_platform(app, world, make_user):
    owner = make_user()
    grant(app, owner.id, world.game)
    linux = world.uploader.upload_local(world.game, payload(300), CHUNK, version="1.0.0-linux", platform="linux")
    world.uploader.publish(linux)
    page = browser_as(app, owner.id).get("/library").get_data(as_text=True)
    assert page.count("Download for Windows") == 1 and page.count("Download for Linux") == 1
    assert "Download for macOS" not in page


@pytest.mark.parametrize("who", ["stranger", "publisher_not_owner"])
def test_only_owners_may_download(app, world, make_user, who):
    user = world.publisher if who == "publisher_not_owner" else make_user()
    browser = browser_as(app, user.id)
    assert start_download(browser, world.build).status_code == 403
    assert downloads_of(app, user.id) == []


def test_anonymous_is_sent_to_log_in_and_nothing_is_logged(app, world):
    from ..support.orders import ShopBrowser

    res = start_download(ShopBrowser(app), world.build)
    assert res.status_code == 302 and "/login" in res.headers["Location"]


def test_download_needs_the_csrf_token(app, world, make_user):
    owner = make_user()
    grant(app, owner.id, world.game)
    assert start_download(browser_as(app, owner.id), world.build, csrf=False).status_code == 400
    assert downloads_of(app, owner.id) == []


def test_an_unpublished_or_missing_build_cannot_be_downloaded(app, world, make_user):
    owner = make_user()
    grant(app, owner.id, world.game)
    ready = world.uploader.upload_local(world.game, payload(100), CHUNK, version="2.0-beta")
    browser = browser_as(app, owner.id)
    assert start_download(browser, ready).status_code == 403
    assert start_download(browser, 999999).status_code == 403
    assert downloads_of(app, owner.id) == []


def test_a_refund_ends_downloads_even_of_a_link_already_handed_out(app, world, make_user):
    buyer = Shopper(app, make_user())
    public_id = buyer.buy(world.game)
    link = start_download(buyer.browser, world.build).headers["Location"]
    assert app.test_client().get(link, headers={"Range": "bytes=0-9"}).status_code == 206
    assert buyer.browser.post(f"/orders/{public_id}/refund").status_code == 302
    assert app.test_client().get(link).status_code == 403
    assert start_download(buyer.browser, world.build).status_code == 403
    assert "Download for Windows" not in buyer.browser.get("/library").get_data(as_text=True)
    assert downloads_of(app, buyer.user.id) == [world.build]


def test_a_tampered_or_expired_link_is_refused(app, world, make_user, monkeypatch):
    owner = make_user()
    grant(app, owner.id, world.game)
    link = start_download(browser_as(app, owner.id), world.build).headers["Location"]
    token = link.split("/")[2]
    client = app.test_client()
    assert client.get(link.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))).status_code == 403
    assert client.get("/downloads/not-a-token/x.exe").status_code == 403
    monkeypatch.setitem(app.config, "DOWNLOAD_URL_SECONDS", -1)
    res = client.get(link)
    assert res.status_code == 410 and "This download link has expired." in res.get_data(as_text=True)


def test_downloads_are_rate_limited(app, world, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_DOWNLOAD", "2 per hour")
    owner = make_user()
    grant(app, owner.id, world.game)
    browser = browser_as(app, owner.id)
    assert [start_download(browser, world.build).status_code for _ in range(3)] == [303, 303, 429]
    assert count(app, owner.id, world.game) == 2
    other = make_user()  # the limit is per user
    grant(app, other.id, world.game)
    assert start_download(browser_as(app, other.id), world.build).status_code == 303


def test_download_count_counts_since_a_moment(app, world, make_user):
    from shop.timeutil import utcnow

    owner = make_user()
    grant(app, owner.id, world.game)
    browser = browser_as(app, owner.id)
    start_download(browser, world.build)
    moment = utcnow()
    start_download(browser, world.build)
    assert count(app, owner.id, world.game) == 2
    assert count(app, owner.id, world.game, since=moment) == 1
    assert count(app, owner.id, world.game + 1) == 0


def test_owners_are_told_of_a_new_build_in_their_own_language(app, world, make_user, outbox):
    korean, english = make_user(locale="ko"), make_user(locale="en")
    for user in (korean, english):
        grant(app, user.id, world.game)
    outbox.deliver()
    newer = world.uploader.upload_local(world.game, payload(200), CHUNK, version="2.0.0", platform="macos")
    world.uploader.publish(newer)
    mails = {m["to"][0] if isinstance(m["to"], list) else m["to"]: m for m in outbox.deliver()}
    ko = next(m for to, m in mails.items() if korean.email in to)
    en = next(m for to, m in mails.items() if english.email in to)
    # (the sink's reading of an encoded, folded header drops the space at the fold)
    assert ko["subject"].replace(" ", "") == "Download Quest 2.0.0 버전을 내려받을 수 있어요".replace(" ", "")
    assert "Download Quest 2.0.0 버전이 macOS용으로 나왔어요." in ko["text"]
    assert en["subject"] == "Download Quest 2.0.0 is ready to download"
    page = browser_as(app, korean.id).get("/notifications", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert "Download Quest 2.0.0 버전이 macOS용으로 나왔어요. 라이브러리에서 내려받으세요." in page


@pytest.mark.parametrize("case", ["pre-order before release", "adults only, owner unverified"])
def test_an_owner_who_may_not_play_yet_cannot_download(app, world, make_user, case):
    """library.playable decides: a pre-ordered copy before the release job unlocks it, and
    an adults-only game owned by an account not verified as an adult, get no download."""
    from shop.catalog.models import Game
    from shop.extensions import db
    from shop.library.models import LibraryEntry

    owner = make_user()
    grant(app, owner.id, world.game)
    with app.app_context():
        if case == "pre-order before release":
            entry = db.session.query(LibraryEntry).filter_by(user_id=owner.id, game_id=world.game).one()
            entry.awaiting_release = True
        else:
            db.session.get(Game, world.game).age_rating = "19"
        db.session.commit()
    browser = browser_as(app, owner.id)
    res = start_download(browser, world.build)
    assert res.status_code == 302 and res.headers["Location"] == "/library"
    assert "can't be downloaded yet" in unescape(browser.get("/library").get_data(as_text=True))
    assert downloads_of(app, owner.id) == [] and count(app, owner.id, world.game) == 0
