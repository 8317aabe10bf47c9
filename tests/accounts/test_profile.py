"""The account page: avatar upload (re-encoded, metadata stripped, bad files refused),
email change with a code sent to the new address, and nickname changes."""
import functools
import io
import re
import struct
import zlib

import pytest
from PIL import Image
from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.infra.storage import get_storage

MB = 1024 * 1024


# --- image makers ---------------------------------------------------------------

def image_bytes(fmt="PNG", size=(600, 400), color=(200, 30, 30), mode="RGB", **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


@functools.lru_cache
def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of a single colour: some kilobytes on disk, width x height
    pixels once decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row * 500) for _ in range(height // 500)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Corp"  # Make
    exif[0x8825] = {1: "N", 2: (37.0, 33.0, 59.0), 3: "E", 4: (126.0, 58.0, 40.0)}  # GPS IFD
    data = image_bytes("JPEG", exif=exif)
    with Image.open(io.BytesIO(data)) as img:  # the upload really carries a location
        assert img.getexif().get_ifd(0x8825)[2] == (37.0, 33.0, 59.0)
    return data


def halves_jpeg_rotated() -> bytes:
    """400x200, left half red and right half blue, with EXIF orientation 6 (shown
    rotated 90 degrees clockwise: red on top, blue at the bottom)."""
    img = Image.new("RGB", (400, 200), (255, 0, 0))
    img.paste((0, 0, 255), (200, 0, 400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


# --- helpers --------------------------------------------------------------------

@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    """Each test stores files in its own folder."""
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(folder))
    app.extensions.pop("storage", None)
    yield folder
    app.extensions.pop("storage", None)


def log_in_as(app, browser, user_id):
    """A logged-in session without the password round trip (argon2 costs ~0.2 s a
    login; logging in itself is tested in test_login.py)."""
    from ..support.browser import login_id

    user_login = login_id(app, user_id)
    with browser.client.session_transaction() as session:
        session["_user_id"] = user_login
        session["_fresh"] = True


@pytest.fixture
def member(app, browser, make_user):
    user = make_user(nickname="Avery")
    log_in_as(app, browser, user.id)
    assert browser.current_nickname() == "Avery"
    return user


def _user(app, user_id) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.id == user_id))


def _files(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _stored(app, key) -> bytes:
    with app.app_context():
        return get_storage().read(key)


def upload(browser, data: bytes, filename="a.png", **kwargs):
    return browser.post("/account/avatar", data={"avatar": (io.BytesIO(data), filename)},
                        content_type="multipart/form-data", **kwargs)


def _errors(res) -> list[str]:
    return re.findall(r'<small class="error">([^<]*)</small>', res.get_data(as_text=True))


# --- avatars ----------------------------------------------------------------------

@pytest.mark.parametrize("fmt,filename", [("PNG", "me.png"), ("JPEG", "me.jpg"), ("GIF", "me.gif"), ("WEBP", "me.webp")])
def test_avatar_is_stored_as_a_256px_webp(app, browser, member, uploads, fmt, filename):
    res = upload(browser, image_bytes(fmt, size=(600, 400)), filename)
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    key = _user(app, member.id).avatar_key
    assert re.fullmatch(rf"avatars/{member.id}/[0-9a-f]{{32}}\.webp", key)
    assert _files(uploads) == [key]
    with Image.open(io.BytesIO(_stored(app, key))) as img:
        assert img.format == "WEBP" and img.size == (256, 256)
        r, g, b = img.convert("RGB").getpixel((128, 128))
        assert r > 150 and g < 80 and b < 80  # still the red picture
    page = browser.get("/account").get_data(as_text=True)
    assert "Avatar updated." in page
    assert f'<img src="/media/{key}" alt="Your avatar"' in page
    served = browser.get(f"/media/{key}")
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/webp"
    assert served.data == _stored(app, key)


def test_exif_and_gps_are_stripped(app, browser, member):
    assert upload(browser, jpeg_with_gps(), "holiday.jpg").status_code == 302
    data = _stored(app, _user(app, member.id).avatar_key)
    assert b"Exif" not in data and b"SpyCam" not in data
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "WEBP"
        assert "exif" not in img.info and "xmp" not in img.info
        assert len(img.getexif()) == 0


def test_exif_orientation_is_applied_before_the_exif_is_dropped(app, browser, member):
    assert upload(browser, halves_jpeg_rotated(), "phone.jpg").status_code == 302
    with Image.open(io.BytesIO(_stored(app, _user(app, member.id).avatar_key))) as img:
        img = img.convert("RGB")
        top, bottom = img.getpixel((200, 30)), img.getpixel((60, 226))
    assert top[0] > 200 and top[2] < 60  # red on top, as the phone showed it
    assert bottom[2] > 200 and bottom[0] < 60  # blue at the bottom


def test_transparency_survives(app, browser, member):
    assert upload(browser, image_bytes("PNG", mode="RGBA", color=(0, 0, 0, 0))).status_code == 302
    with Image.open(io.BytesIO(_stored(app, _user(app, member.id).avatar_key))) as img:
        assert img.mode == "RGBA" and img.getpixel((128, 128))[3] == 0


def test_anything_smuggled_after_the_image_is_dropped(app, browser, member):
    payload = image_bytes("PNG") + b"<script>alert(document.cookie)</script>"
    assert upload(browser, payload, "polyglot.png").status_code == 302
    assert b"<script>" not in _stored(app, _user(app, member.id).avatar_key)


def test_new_avatar_replaces_and_deletes_the_old_file(app, browser, member, uploads):
    assert upload(browser, image_bytes("PNG")).status_code == 302
    first = _user(app, member.id).avatar_key
    assert upload(browser, image_bytes("JPEG", color=(0, 200, 0)), "b.jpg").status_code == 302
    second = _user(app, member.id).avatar_key
    assert second != first
    assert _files(uploads) == [second]  # the old file is gone, nothing else was left
    assert browser.get(f"/media/{first}").status_code == 404


def test_a_failed_delete_of_the_old_file_does_not_fail_the_upload(app, browser, member, uploads, monkeypatch):
    assert upload(browser, image_bytes("PNG")).status_code == 302
    first = _user(app, member.id).avatar_key
    with app.app_context():
        storage = get_storage()

    def broken_delete(key):
        raise OSError("disk says no")

    monkeypatch.setattr(storage, "delete", broken_delete)
    assert upload(browser, image_bytes("PNG", color=(0, 0, 250))).status_code == 302
    second = _user(app, member.id).avatar_key
    assert second != first and sorted(_files(uploads)) == sorted([first, second])


def test_exactly_5_mb_is_accepted(app, browser, member):
    data = image_bytes("PNG")
    data += b"\0" * (5 * MB - len(data))  # trailing bytes after IEND are ignored by decoders
    assert len(data) == 5 * MB
    assert upload(browser, data).status_code == 302
    assert _user(app, member.id).avatar_key is not None


BAD_UPLOADS = {
    "text renamed .png": (b"just some notes, definitely not a picture\n" * 20, "notes.png",
                          "Please upload a JPEG, PNG, GIF or WebP image."),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<script>alert(1)</script><rect width="10" height="10"/></svg>', "logo.svg",
            "Please upload a JPEG, PNG, GIF or WebP image."),
    "svg renamed .png": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "logo.png",
                         "Please upload a JPEG, PNG, GIF or WebP image."),
    "empty file": (b"", "empty.png", "The file is empty."),
    "over 5 MB": (None, "huge.png", "Images must be at most 5 MB."),
    "20000x20000 bomb": (None, "bomb.png", "That image has too many pixels."),
    "7000x7000 bomb": (None, "bomb.png", "That image has too many pixels."),
    "truncated png": (None, "cut.png", "Please upload a JPEG, PNG, GIF or WebP image."),
    "bmp": (None, "old.bmp", "Please upload a JPEG, PNG, GIF or WebP image."),
    "tiff": (None, "scan.tiff", "Please upload a JPEG, PNG, GIF or WebP image."),
}


def _bad_bytes(case: str) -> bytes:
    data = BAD_UPLOADS[case][0]
    if data is not None:
        return data
    if case == "over 5 MB":  # a valid image, only too big
        png = image_bytes("PNG")
        return png + b"\0" * (5 * MB + 1 - len(png))
    if case == "20000x20000 bomb":
        return bomb_png(20000, 20000)
    if case == "7000x7000 bomb":  # above the limit but below Pillow's own error threshold
        return bomb_png(7000, 7000)
    if case == "truncated png":
        noisy = Image.effect_noise((300, 300), 60).convert("RGB")
        out = io.BytesIO()
        noisy.save(out, "PNG")
        return out.getvalue()[: len(out.getvalue()) // 2]
    if case == "bmp":
        return image_bytes("BMP")
    if case == "tiff":
        return image_bytes("TIFF")
    raise AssertionError(case)


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_are_refused_and_change_nothing(app, browser, member, uploads, case):
    assert upload(browser, image_bytes("PNG")).status_code == 302
    before = _user(app, member.id).avatar_key
    files = _files(uploads)
    res = upload(browser, _bad_bytes(case), BAD_UPLOADS[case][1])
    assert res.status_code == 400
    assert _errors(res) == [BAD_UPLOADS[case][2]]
    assert 'aria-invalid="true"' in res.get_data(as_text=True)
    assert _user(app, member.id).avatar_key == before
    assert _files(uploads) == files  # nothing stored, the old avatar kept


def test_a_request_over_the_size_limit_gets_413(app, browser, member, uploads):
    res = upload(browser, b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1), "giant.png")
    assert res.status_code == 413 and "That file is too large." in res.get_data(as_text=True)
    assert _user(app, member.id).avatar_key is None and _files(uploads) == []


def test_no_file_chosen(app, browser, member):
    res = browser.post("/account/avatar", data={}, content_type="multipart/form-data")
    assert res.status_code == 400 and _errors(res) == ["Choose an image."]


def test_anonymous_upload_goes_to_login(app, browser, uploads):
    res = upload(browser, image_bytes("PNG"))
    assert res.status_code == 302 and res.headers["Location"].startswith("/login")
    assert _files(uploads) == []
    res = browser.get("/account")
    assert res.status_code == 302 and res.headers["Location"].startswith("/login")


def test_upload_without_csrf_is_refused(app, browser, member, uploads):
    res = upload(browser, image_bytes("PNG"), csrf=False)
    assert res.status_code == 400 and "Your form expired" in res.get_data(as_text=True)
    assert _user(app, member.id).avatar_key is None and _files(uploads) == []


def test_remove_avatar(app, browser, member, uploads):
    assert upload(browser, image_bytes("PNG")).status_code == 302
    key = _user(app, member.id).avatar_key
    assert browser.post("/account/avatar/remove", csrf=False).status_code == 400
    assert _user(app, member.id).avatar_key == key and _files(uploads) == [key]
    res = browser.post("/account/avatar/remove")
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    assert _user(app, member.id).avatar_key is None
    assert _files(uploads) == []
    page = browser.get("/account").get_data(as_text=True)
    assert "Avatar removed." in page
    assert 'alt="Your avatar"' not in page and '<span class="avatar lg placeholder">A</span>' in page
    assert "Remove avatar" not in page


# --- email change ------------------------------------------------------------------

def change_email(browser, email, password="a long passphrase 1"):
    return browser.post("/account/email", {"email": email, "password": password})


def confirm(browser, code):
    return browser.post("/account/email/confirm", {"code": code})


def test_email_change_sends_the_code_to_the_new_address(app, browser, member, outbox):
    res = change_email(browser, "New.Address@Example.com")
    assert res.status_code == 302 and res.headers["Location"] == "/account/email/confirm"
    page = browser.get("/account/email/confirm")
    assert page.status_code == 200
    assert "We sent a code to new.address@example.com." in page.get_data(as_text=True)
    assert _user(app, member.id).email == member.email  # nothing changes before the code
    code = outbox.last_code("new.address@example.com")
    assert outbox.messages(member.email) == []  # the code never goes to the old address
    msg = outbox.messages("new.address@example.com")[0]
    assert code in msg["subject"] and code in msg["text"] and code in msg["html"]

    res = confirm(browser, code)
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    user = _user(app, member.id)
    assert user.email == "new.address@example.com" and user.is_verified
    page = browser.get("/account").get_data(as_text=True)
    assert "Your email is now new.address@example.com." in page
    assert confirm(browser, code).status_code == 400  # single use


def test_wrong_code_is_refused_with_tries_left(app, browser, member, outbox):
    change_email(browser, "next@example.com")
    code = outbox.last_code("next@example.com")
    res = confirm(browser, f"{(int(code) + 1) % 1_000_000:06d}")
    assert res.status_code == 400
    assert _errors(res) == ["That code is not right. 4 tries left."]
    assert _user(app, member.id).email == member.email
    res = confirm(browser, "12ab")
    assert res.status_code == 400 and _errors(res) == ["The code is 6 digits."]
    assert confirm(browser, code).status_code == 302
    assert _user(app, member.id).email == "next@example.com"


def test_email_change_with_wrong_password_is_refused(app, browser, member, outbox):
    res = change_email(browser, "other@example.com", password="not my password")
    assert res.status_code == 400
    assert _errors(res) == ["Your current password is not correct."]
    assert outbox.deliver() == []
    assert _user(app, member.id).email == member.email


@pytest.mark.parametrize("target", ["taken@example.com", "TAKEN@Example.com", "self"])
def test_email_change_to_an_address_in_use_is_refused(app, browser, member, make_user, outbox, target):
    make_user(email="taken@example.com")
    res = change_email(browser, member.email if target == "self" else target)
    assert res.status_code == 400
    assert _errors(res) == ["That email is already in use."]
    assert outbox.deliver() == []
    assert _user(app, member.id).email == member.email


def test_email_change_to_an_invalid_address_is_refused(app, browser, member, outbox):
    res = change_email(browser, "not-an-email")
    assert res.status_code == 400 and _errors(res) == ["Enter a valid email address."]
    assert outbox.deliver() == []


def test_address_taken_between_request_and_confirm(app, browser, member, make_user, outbox):
    change_email(browser, "race@example.com")
    code = outbox.last_code("race@example.com")
    make_user(email="race@example.com")
    res = confirm(browser, code)
    assert res.status_code == 400 and _errors(res) == ["That email was taken meanwhile."]
    assert _user(app, member.id).email == member.email


def test_second_request_within_the_cooldown_is_refused(app, browser, member, outbox):
    assert change_email(browser, "first@example.com").status_code == 302
    res = change_email(browser, "second@example.com")
    assert res.status_code == 400
    assert "A code was sent recently" in _errors(res)[0]
    assert [m["to"] for m in outbox.deliver()] == ["first@example.com"]


def test_email_change_pages_need_login(browser):
    assert browser.get("/account/email/confirm").headers["Location"].startswith("/login")
    res = change_email(browser, "x@example.com")
    assert res.status_code == 302 and res.headers["Location"].startswith("/login")


# --- nickname ------------------------------------------------------------------------

@pytest.mark.parametrize("nickname", ["Neo", "ab", "김철수", "Dr. Who", "a_b-c.d", "n" * 20, "Player 2."])
def test_valid_nickname_is_saved(app, browser, member, nickname):
    res = browser.post("/account/profile", {"nickname": nickname})
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    assert _user(app, member.id).nickname == nickname
    assert browser.current_nickname() == nickname


@pytest.mark.parametrize("nickname,message", [
    ("x", "Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores."),
    ("n" * 21, "Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores."),
    ("<script>", "Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores."),
    ("trailing-", "Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores."),
    (" lead", "Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores."),
    ("tab\there", "Nicknames are 2–20 letters, digits, spaces, dots, dashes or underscores."),
    ("", "This field is required."),
])
def test_invalid_nickname_is_refused(app, browser, member, nickname, message):
    res = browser.post("/account/profile", {"nickname": nickname})
    assert res.status_code == 400
    assert message in _errors(res)
    assert _user(app, member.id).nickname == "Avery"


def test_nickname_change_without_csrf_is_refused(app, browser, member):
    assert browser.post("/account/profile", {"nickname": "Hacker"}, csrf=False).status_code == 400
    assert _user(app, member.id).nickname == "Avery"
