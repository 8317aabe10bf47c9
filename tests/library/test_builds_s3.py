"""Builds on S3 (moto's real HTTP server): the browser's presigned multipart upload, its
resume, verification by reading the object back, and presigned downloads with their signed
lifetime (moto does not enforce X-Amz-Expires, so the lifetime is checked in the URL)."""
import hashlib

import pytest
import requests

from ..support.s3 import moto_s3
from ..support.browser import run_jobs
from ..support.builds import Uploader, browser_as, build_row, downloads_of, payload
from ..support.catalog import make_game
from ..support.orders import grant

PART = 5 * 1024 * 1024  # S3's smallest part (all but the last)
BUCKET = "playcation-builds"  # not tests/core's bucket: moto keeps buckets per process, across servers
REGION = "ap-northeast-2"


@pytest.fixture(scope="module")
def s3():
    """moto's S3 over real HTTP (tests/support/s3.py), with its own bucket."""
    with moto_s3(BUCKET, REGION) as server:
        yield server


@pytest.fixture
def app_on_s3(app, s3, monkeypatch):
    monkeypatch.setitem(app.config, "S3_BUCKET", BUCKET)
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setitem(app.config, "S3_REGION", REGION)
    monkeypatch.setitem(app.config, "S3_PUBLIC_URL", None)
    monkeypatch.setitem(app.config, "BUILD_CHUNK_BYTES", PART)
    app.extensions.pop("storage", None)
    yield app
    app.extensions.pop("storage", None)


@pytest.fixture
def world(app_on_s3, make_user):
    app = app_on_s3
    publisher = make_user(role="publisher")
    with app.app_context():
        game = make_game("Cloud Quest", price=9000, publisher_id=publisher.id)
    return type("World", (), {"app": app, "publisher": publisher, "game": game,
                              "uploader": Uploader(app, browser_as(app, publisher.id))})


def part_urls(up, build_id, first, count):
    res = up.browser.get(f"/publisher/builds/{build_id}/parts?first={first}&count={count}")
    assert res.status_code == 200, res.get_json()
    return {int(n): url for n, url in res.get_json()["urls"].items()}


def put_part(url, data):
    res = requests.put(url, data=data, timeout=30)  # straight to the bucket, as the browser does
    assert res.status_code == 200, res.text


def test_a_multipart_upload_with_presigned_parts_resumes_verifies_and_downloads(world, s3, make_user):
    app, up = world.app, world.uploader
    data = payload(2 * PART + 4321)
    plan = up.start(world.game, len(data), version="3.0", platform="macos", filename="Cloud Quest.dmg").get_json()
    assert plan["mode"] == "s3" and plan["chunk_size"] == PART and plan["parts"] == []
    build_id = plan["id"]
    assert build_row(app, build_id).upload_id

    urls = part_urls(up, build_id, 1, 3)
    assert sorted(urls) == [1, 2, 3] and all("X-Amz-Signature=" in u and "uploadId=" in u for u in urls.values())
    assert part_urls(up, build_id, 3, 50).keys() == {3}  # never past the last part
    put_part(urls[1], data[:PART])
    # the connection drops: the page asks where the upload stands
    status = up.status(build_id).get_json()
    assert status["parts"] == [1] and status["received"] == PART
    res = up.complete(build_id, hashlib.sha256(data).hexdigest())
    assert res.status_code == 400 and "incomplete" in res.get_json()["error"]
    put_part(urls[3], data[2 * PART:])
    put_part(urls[2], data[PART:2 * PART])
    assert up.status(build_id).get_json()["parts"] == [1, 2, 3]

    assert up.complete(build_id, hashlib.sha256(data).hexdigest()).status_code == 200
    head = s3.client.head_object(Bucket=BUCKET, Key=build_row(app, build_id).storage_key)
    assert head["ContentLength"] == len(data)
    run_jobs(app)
    build = build_row(app, build_id)
    assert build.status == "ready" and build.sha256 == hashlib.sha256(data).hexdigest()
    assert up.publish(build_id).status_code == 302

    owner = make_user()
    grant(app, owner.id, world.game)
    browser = browser_as(app, owner.id)
    res = browser.post(f"/library/builds/{build_id}/download")
    assert res.status_code == 303
    url = res.headers["Location"]
    assert url.startswith(f"{s3.endpoint}/{BUCKET}/builds/") and "X-Amz-Expires=300" in url
    got = requests.get(url, timeout=30)
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Disposition"] == "attachment; filename*=UTF-8''Cloud_Quest.dmg"
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    assert downloads_of(app, owner.id) == [build_id]
    assert browser_as(app, make_user().id).post(f"/library/builds/{build_id}/download").status_code == 403


def test_a_presigned_download_is_signed_for_the_configured_minutes(world, make_user, monkeypatch):
    """moto serves a presigned URL after its expiry (it does not check X-Amz-Expires), so
    this checks what S3 checks: the signed date and lifetime in the URL."""
    from datetime import datetime, timezone
    from urllib.parse import parse_qs, urlsplit

    app, up = world.app, world.uploader
    data = payload(1000)
    build_id = up.start(world.game, len(data)).get_json()["id"]
    put_part(part_urls(up, build_id, 1, 1)[1], data)
    up.complete(build_id, hashlib.sha256(data).hexdigest())
    run_jobs(app)
    up.publish(build_id)
    owner = make_user()
    grant(app, owner.id, world.game)
    monkeypatch.setitem(app.config, "DOWNLOAD_S3_URL_SECONDS", 120)
    url = browser_as(app, owner.id).post(f"/library/builds/{build_id}/download").headers["Location"]
    assert requests.get(url, timeout=30).content == data
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["120"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - signed_at).total_seconds()) < 30


def test_a_wrong_checksum_on_s3_fails_the_build_and_deletes_the_object(world, s3):
    app, up = world.app, world.uploader
    data = payload(2000)
    build_id = up.start(world.game, len(data)).get_json()["id"]
    put_part(part_urls(up, build_id, 1, 1)[1], data)
    assert up.complete(build_id, hashlib.sha256(b"something else").hexdigest()).status_code == 200
    run_jobs(app)
    build = build_row(app, build_id)
    assert build.status == "failed" and build.error == "checksum"
    assert "Contents" not in s3.client.list_objects_v2(Bucket=BUCKET, Prefix=build.storage_key)
    assert up.publish(build_id).status_code == 302 and build_row(app, build_id).status == "failed"


def test_on_s3_chunks_do_not_come_to_this_site_and_part_numbers_are_checked(world):
    up = world.uploader
    build_id = up.start(world.game, 100).get_json()["id"]
    res = up.put(build_id, 0, b"x" * 100)
    assert res.status_code == 400 and res.get_json()["error"] == "This upload goes straight to the bucket."
    for query in ("first=0&count=1", "first=2&count=1", "first=1&count=0", "first=abc&count=1"):
        assert up.browser.get(f"/publisher/builds/{build_id}/parts?{query}").status_code == 400, query
