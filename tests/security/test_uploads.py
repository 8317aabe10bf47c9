"""Hostile uploads: game covers, screenshots and avatars. Anything that is not a real
JPEG/PNG/GIF/WebP of sane size is refused with a message and nothing is stored;
what is accepted is re-encoded, so nothing smuggled inside survives."""
import io
import struct
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from .conftest import db_snapshot, png_bytes, snapshot_diff

HTML = b"<html><script>alert(document.cookie)</script></html>"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b""))


def real_image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 120, 200)).save(out, format=fmt)
    return out.getvalue()


BAD = {
    "plain text": (b"just some text, not an image", "notes.png"),
    "html": (HTML, "page.png"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>',
            "logo.svg"),
    "svg named png": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "cover.png"),
    "gif header + js": (b"GIF89a/*\x00\x00*/=1;alert(document.domain)//" + HTML, "anim.gif"),
    "jpeg header + html": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + HTML, "photo.jpg"),
    "empty": (b"", "empty.png"),
    "truncated png": (png_bytes()[:40], "half.png"),
    "pdf": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "doc.png"),
    "bomb 50000x50000": (png_declaring(50_000, 50_000), "bomb.png"),
    "bomb 7000x6000": (png_declaring(7_000, 6_000), "big.png"),
    "tiff": (real_image("TIFF"), "scan.png"),
    "bmp": (real_image("BMP"), "old.png"),
}

TARGETS = {
    "cover": ("publisher_a", "/publisher/games/{game}/cover", "cover", 8 * 1024 * 1024),
    "screenshot": ("publisher_a", "/publisher/games/{game}/screenshots", "screenshot", 8 * 1024 * 1024),
    "avatar": ("customer_a", "/account/avatar", "avatar", 5 * 1024 * 1024),
}


def _stored_files(app) -> set[str]:
    root = Path(app.config["UPLOAD_DIR"])
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _upload(actors, world, target, data, filename):
    who, path, field, _ = TARGETS[target]
    return actors[who].post(path.format(game=world.game_a), {field: (io.BytesIO(data), filename)},
                            content_type="multipart/form-data")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_hostile_files_are_refused_and_nothing_is_stored(app, world, actors, target):
    before_db, before_files = db_snapshot(app), _stored_files(app)
    failures = []
    for label, (data, filename) in BAD.items():
        res = _upload(actors, world, target, data, filename)
        body = res.get_data(as_text=True)
        if res.status_code != 400:
            failures.append(f"{label}: {res.status_code}")
        elif not any(m in body for m in ("Please upload a JPEG, PNG, GIF or WebP image.", "too many pixels",
                                          "The file is empty.", "Choose an image.")):
            failures.append(f"{label}: 400 without a clear message")
    assert not failures, "\n".join(failures)
    assert not snapshot_diff(before_db, db_snapshot(app))
    assert _stored_files(app) == before_files


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_oversized_files_are_refused(app, world, actors, target):
    limit = TARGETS[target][3]
    before_db, before_files = db_snapshot(app), _stored_files(app)
    # just over the per-file limit: a clear form error
    res = _upload(actors, world, target, png_bytes() + b"\x00" * (limit + 1), "huge.png")
    assert res.status_code == 400 and "Images must be at most" in res.get_data(as_text=True)
    # over the whole-request limit: 413 with the site's error page
    res = _upload(actors, world, target, b"\x00" * (app.config["MAX_CONTENT_LENGTH"] + 1), "huger.png")
    assert res.status_code == 413 and "That file is too large." in res.get_data(as_text=True)
    assert not snapshot_diff(before_db, db_snapshot(app))
    assert _stored_files(app) == before_files


@pytest.mark.parametrize("fmt, filename", [("GIF", "anim.gif"), ("JPEG", "photo.jpg"), ("PNG", "evil.html")])
def test_real_image_with_html_appended_is_stored_only_re_encoded(app, world, actors, fmt, filename):
    """A valid image followed by HTML (a polyglot) is decoded and re-encoded as WebP: the
    stored file has no trace of the HTML and is served as an image with nosniff."""
    before_files = _stored_files(app)
    res = _upload(actors, world, "cover", real_image(fmt) + HTML, filename)
    assert res.status_code == 302
    new = _stored_files(app) - before_files
    assert len(new) == 1
    key = new.pop()
    assert key.endswith(".webp")
    stored = (Path(app.config["UPLOAD_DIR"]) / key).read_bytes()
    assert stored[:4] == b"RIFF" and stored[8:12] == b"WEBP" and b"<script" not in stored
    served = actors["anonymous"].get(f"/media/{key}")
    assert served.status_code == 200 and served.mimetype == "image/webp"
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_uploads_need_the_owner(app, world, actors):
    before_files = _stored_files(app)
    res = actors["publisher_b"].post(f"/publisher/games/{world.game_a}/cover",
                                     {"cover": (io.BytesIO(png_bytes()), "c.png")}, content_type="multipart/form-data")
    assert res.status_code == 403
    assert _stored_files(app) == before_files


def test_media_route_does_not_escape_the_upload_folder(actors):
    for key in ("../../shop/config.py", "..%2F..%2Fshop%2Fconfig.py", "/etc/passwd", "covers/../../../etc/passwd"):
        res = actors["anonymous"].get(f"/media/{key}", follow_redirects=True)  # `//` is merged by a 308
        assert res.status_code == 404, key
        assert all(urlsplit(r.headers["Location"]).netloc in ("", "localhost") for r in res.history)
