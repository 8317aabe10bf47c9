"""File storage: the local folder and S3 (moto's real HTTP server), and an avatar
upload end to end with the app configured for S3."""
import io
import os
import uuid

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.infra.storage import LocalStorage, S3Storage, get_storage
from ..support.s3 import moto_s3

BUCKET = "playcation-media"
REGION = "ap-northeast-2"


def _png(size=(320, 200), color=(10, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def _key(prefix="files") -> str:
    return f"{prefix}/{uuid.uuid4().hex}.webp"


# --- local folder -------------------------------------------------------------

@pytest.fixture
def local(tmp_path):
    # Nested, so that even a broken check could only ever reach files under tmp_path.
    root = tmp_path / "a" / "b" / "uploads"
    root.mkdir(parents=True)
    return LocalStorage(str(root))


def test_local_save_read_exists_delete(local):
    key = "avatars/7/a.webp"
    assert not local.exists(key)
    assert local.save(key, b"first", "image/webp") == key
    path = local.root / "avatars" / "7" / "a.webp"
    assert path.read_bytes() == b"first"
    assert local.read(key) == b"first" and local.exists(key)
    local.save(key, b"second", "image/webp")  # overwrite in place
    assert local.read(key) == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["a.webp"]  # no .part file left behind
    local.delete(key)
    assert not local.exists(key) and not path.exists()
    local.delete(key)  # deleting twice is harmless
    with pytest.raises(FileNotFoundError):
        local.read(key)


def test_local_url_points_at_the_media_route_which_serves_the_file(app, local, monkeypatch):
    monkeypatch.setitem(app.extensions, "storage", local)
    local.save("avatars/3/b.webp", b"RIFF....WEBP", "image/webp")
    with app.test_request_context():
        assert local.url("avatars/3/b.webp") == "/media/avatars/3/b.webp"
    res = app.test_client().get("/media/avatars/3/b.webp")
    assert res.status_code == 200 and res.data == b"RIFF....WEBP"
    assert res.headers["Content-Type"] == "image/webp"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert app.test_client().get("/media/avatars/3/missing.webp").status_code == 404


@pytest.mark.parametrize("key", ["../x", "../../x", "avatars/../../x", "avatars/../../../x", "ABSOLUTE", "", "."])
def test_local_keys_that_escape_the_folder_are_refused(tmp_path, local, key):
    if key == "ABSOLUTE":  # an absolute key would replace the root in `root / key`
        key = str(tmp_path / "x")
    for call in (lambda: local.save(key, b"evil", "text/plain"), lambda: local.read(key),
                 lambda: local.exists(key), lambda: local.delete(key)):
        with pytest.raises(ValueError):
            call()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []


def test_local_symlink_out_of_the_folder_is_refused(local):
    secret = local.root.parent / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, local.root / "link.txt")
    with pytest.raises(ValueError):
        local.read("link.txt")
    with pytest.raises(ValueError):
        local.save("link.txt", b"overwritten", "text/plain")
    assert secret.read_text() == "top secret"


def test_media_route_does_not_serve_files_outside_the_folder(app, local, monkeypatch):
    monkeypatch.setitem(app.extensions, "storage", local)
    (local.root.parent / "secret.txt").write_text("top secret")
    client = app.test_client()
    for url in ("/media/../secret.txt", "/media/%2E%2E/secret.txt", "/media/..%2Fsecret.txt"):
        res = client.get(url)
        assert res.status_code == 404 and b"top secret" not in res.data, url


# --- S3 (moto's server over real HTTP) ----------------------------------------

@pytest.fixture(scope="module")
def s3():
    with moto_s3(BUCKET, REGION) as server:
        yield server


@pytest.fixture
def bucket(s3):
    return S3Storage(BUCKET, s3.endpoint, REGION, None)


def test_s3_save_read_exists_delete(s3, bucket):
    key = _key()
    assert not bucket.exists(key)
    assert bucket.save(key, b"webp bytes", "image/webp") == key
    head = s3.client.head_object(Bucket=BUCKET, Key=key)  # really in the bucket
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert bucket.read(key) == b"webp bytes" and bucket.exists(key)
    bucket.delete(key)
    assert not bucket.exists(key)
    assert "Contents" not in s3.client.list_objects_v2(Bucket=BUCKET, Prefix=key)
    bucket.delete(key)  # deleting a missing key is harmless


def test_s3_presigned_url_downloads_the_file(s3, bucket):
    key = _key()
    bucket.save(key, b"the avatar", "image/webp")
    url = bucket.url(key)
    assert url.startswith(f"{s3.endpoint}/{BUCKET}/{key}?")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Expires=86400" in url  # s3v4, 1 day
    res = requests.get(url, timeout=5)
    assert res.status_code == 200 and res.content == b"the avatar"
    assert res.headers["Content-Type"] == "image/webp"
    # the bucket itself is private: without the signature the same object is refused
    assert requests.get(url.split("?")[0], timeout=5).status_code == 403


def test_s3_public_url_form(s3):
    storage = S3Storage(BUCKET, s3.endpoint, REGION, "https://cdn.example.com/media/")
    assert storage.url("avatars/1/a.webp") == "https://cdn.example.com/media/avatars/1/a.webp"
    assert storage.url("games/12/box art #1.webp") == "https://cdn.example.com/media/games/12/box%20art%20%231.webp"


def test_get_storage_picks_the_backend_from_the_config_once(app, s3, tmp_path, monkeypatch):
    monkeypatch.delitem(app.extensions, "storage", raising=False)
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path))
    try:
        with app.app_context():
            local = get_storage()
            assert isinstance(local, LocalStorage) and local.root == tmp_path
            assert get_storage() is local  # built once per app
        app.extensions.pop("storage")
        monkeypatch.setitem(app.config, "S3_BUCKET", BUCKET)
        monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", s3.endpoint)
        with app.app_context():
            remote = get_storage()
            assert isinstance(remote, S3Storage) and remote.bucket == BUCKET
    finally:
        app.extensions.pop("storage", None)


# --- an avatar upload with the app on S3 --------------------------------------

@pytest.fixture
def app_on_s3(app, s3, monkeypatch):
    monkeypatch.setitem(app.config, "S3_BUCKET", BUCKET)
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setitem(app.config, "S3_REGION", REGION)
    monkeypatch.setitem(app.config, "S3_PUBLIC_URL", None)
    app.extensions.pop("storage", None)  # get_storage() rebuilds from the config
    yield app
    app.extensions.pop("storage", None)  # the next test gets the local folder again


def _avatar_key(app, user_id):
    with app.app_context():
        return db.session.scalar(select(User.avatar_key).where(User.id == user_id))


def _upload(browser, data, name="a.png"):
    return browser.post("/account/avatar", data={"avatar": (io.BytesIO(data), name)},
                        content_type="multipart/form-data")


def test_avatar_upload_end_to_end_on_s3(app_on_s3, s3, browser, make_user):
    app = app_on_s3
    user = make_user()
    browser.login(user.email)
    res = _upload(browser, _png())
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    key = _avatar_key(app, user.id)
    assert key and key.startswith(f"avatars/{user.id}/") and key.endswith(".webp")
    stored = s3.client.get_object(Bucket=BUCKET, Key=key)
    assert stored["ContentType"] == "image/webp"
    with Image.open(io.BytesIO(stored["Body"].read())) as img:
        assert img.format == "WEBP" and img.size == (256, 256)

    # the account page links the avatar through a presigned URL that downloads it
    page = browser.get("/account").get_data(as_text=True)
    src = page.split('alt="Your avatar"')[0].rsplit('src="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert src.startswith(f"{s3.endpoint}/{BUCKET}/{key}?")
    res = requests.get(src, timeout=5)
    assert res.status_code == 200 and res.content[:4] == b"RIFF" and res.content[8:12] == b"WEBP"

    # a new avatar replaces the old object in the bucket
    assert _upload(browser, _png(color=(250, 200, 0))).status_code == 302
    new_key = _avatar_key(app, user.id)
    assert new_key != key
    with app.app_context():
        storage = get_storage()
        assert isinstance(storage, S3Storage)
        assert storage.exists(new_key) and not storage.exists(key)

    assert browser.post("/account/avatar/remove").status_code == 302
    assert _avatar_key(app, user.id) is None
    assert "Contents" not in s3.client.list_objects_v2(Bucket=BUCKET, Prefix=f"avatars/{user.id}/")
