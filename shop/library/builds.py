"""Game builds: a publisher's upload of a file for one platform, its verification, and
publishing it (docs/builds.md).

An upload is a row in `game_builds` from its first byte:
- local storage (the default): the browser PUTs chunks of at most BUILD_CHUNK_BYTES at
  an offset (`write_chunk`); a chunk for any offset but the end of what is stored is
  refused and the answer says where to go on, so a lost connection resumes from the
  file's real size (`upload_status`), never from what a client believes.
- S3: a multipart upload is created with the row; the browser PUTs each part straight
  to the bucket with a presigned URL (`part_urls`), and what the bucket lists is the
  progress. `complete_upload` completes it with the parts the bucket lists, never with
  ETags a client sent.
Either way `complete_upload` checks the size, keeps the SHA-256 the uploader's browser
computed, and enqueues `verify_build` (shop/library/tasks.py): the worker reads the stored
file back in 1 MiB pieces, hashes it and compares both. Only a verified build can be
published; publishing tells every owner (notification and email rows in the same
transaction).
"""
import re
import secrets
from dataclasses import dataclass

from babel.numbers import format_decimal
from flask import current_app, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from ..errors import DomainError
from ..extensions import db
from ..infra.jobs import enqueue_after_commit
from ..infra.wording import PLATFORMS as PLATFORMS_NAMED
from ..infra.storage import OffsetMismatch, S3Storage, get_build_storage
from ..timeutil import utcnow
from ..web.i18n import current_locale, number
from .build_models import PLATFORMS, Build
from .models import LibraryEntry
from .tasks import verify_build

PLATFORM_LABELS = PLATFORMS_NAMED
MAX_VERSION = 40
MAX_NOTES = 5000
MAX_FILENAME = 120
SHA256_RE = re.compile(r"[0-9a-f]{64}")
MAX_PART_URLS = 100


class BuildError(DomainError):
    message = _l("That build can't be used.")


class WrongOffset(BuildError):
    """A chunk for another offset than the end of the stored file; `received` says where."""

    def __init__(self, received: int):
        super().__init__(_("The upload is at byte %(received)s; send that part next.", received=number(received)))
        self.received = received


class ShortChunk(WrongOffset):
    """The request body ended before its Content-Length: what arrived is kept."""

    def __init__(self, received: int):
        BuildError.__init__(self, _("The chunk ended early; the upload is at byte %(received)s.",
                                    received=number(received)))
        self.received = received


@dataclass
class Progress:
    status: str
    size: int
    received: int
    parts: list[int]  # S3: the part numbers the bucket holds


def clean_filename(name: str) -> str:
    """The last path segment, with anything but letters, digits, dot, dash and
    underscore made an underscore; never empty, at most MAX_FILENAME characters."""
    base = re.split(r"[\\/]", name or "")[-1].strip()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "build"
    return base[-MAX_FILENAME:]


def start_upload(game_id: int, uploader_id: int, *, version: str, platform: str, notes: str,
                 filename: str, size: int) -> Build:
    """A new build row, and with S3 its multipart upload. Raises BuildError."""
    version, notes = (version or "").strip(), (notes or "").strip()
    if platform not in PLATFORMS:
        raise BuildError(_("Choose Windows, macOS or Linux."))
    if not version or len(version) > MAX_VERSION:
        raise BuildError(_("The version is 1 to %(max)d characters.", max=MAX_VERSION))
    if len(notes) > MAX_NOTES:
        raise BuildError(_("Release notes are at most %(max)s characters.", max=number(MAX_NOTES)))
    limit = current_app.config["BUILD_MAX_BYTES"]
    if not 0 < size <= limit:
        raise BuildError(_("A build is 1 byte to %(max)s.", max=human_size(limit)))
    name = clean_filename(filename)
    build = Build(game_id=game_id, uploader_id=uploader_id, platform=platform, version=version, notes=notes,
                  filename=name, size=size, received=0, status="uploading",
                  storage_key=f"builds/{game_id}/{secrets.token_hex(12)}/{name}")
    storage = get_build_storage()
    if isinstance(storage, S3Storage):
        build.upload_id = storage.start_multipart(build.storage_key)
    db.session.add(build)
    db.session.commit()
    return build


def chunk_size() -> int:
    return current_app.config["BUILD_CHUNK_BYTES"]


def _uploading(build: Build):
    if build.status != "uploading":
        raise BuildError(_("This upload is finished; start a new build to upload again."))


def write_chunk(build: Build, offset: int, stream, length: int) -> int:
    """Local storage: store `length` bytes at `offset`. Returns the bytes stored now.
    Raises WrongOffset (nothing stored) and BuildError."""
    _uploading(build)
    storage = get_build_storage()
    if isinstance(storage, S3Storage):
        raise BuildError(_("This upload goes straight to the bucket."))
    if not 0 < length <= chunk_size():
        raise BuildError(_("A chunk is 1 byte to %(max)s.", max=human_size(chunk_size())))
    if offset + length > build.size:
        raise BuildError(_("That chunk ends past the size declared for the build (%(size)s bytes).",
                           size=number(build.size)))
    try:
        received = storage.write_at(build.storage_key, offset, stream, length)
    except OffsetMismatch as exc:
        raise WrongOffset(exc.have) from None
    # No database write per chunk (a commit is a WAL flush): the stored file's size is the
    # progress, read by upload_status; `received` is written when the upload completes.
    db.session.rollback()  # end the read transaction before the answer goes out
    if received != offset + length:
        raise ShortChunk(received)
    return received


def upload_status(build: Build) -> Progress:
    """Where the upload stands, from the storage itself."""
    storage = get_build_storage()
    if build.status != "uploading":
        return Progress(build.status, build.size, build.size if build.status != "failed" else build.received, [])
    if isinstance(storage, S3Storage):
        parts = storage.uploaded_parts(build.storage_key, build.upload_id)
        return Progress("uploading", build.size, sum(p["Size"] for p in parts), [p["PartNumber"] for p in parts])
    return Progress("uploading", build.size, storage.size(build.storage_key) or 0, [])


def part_count(build: Build) -> int:
    return max(1, -(-build.size // chunk_size()))


def part_urls(build: Build, first: int, count: int) -> dict[int, str]:
    """S3: presigned PUT URLs of parts first..first+count-1 (within the build's parts).
    Raises BuildError."""
    _uploading(build)
    storage = get_build_storage()
    if not isinstance(storage, S3Storage):
        raise BuildError(_("This upload goes to this site, in chunks."))
    last = min(part_count(build), first + min(count, MAX_PART_URLS) - 1)
    if first < 1 or first > last:
        raise BuildError(_("This build has parts 1 to %(last)d.", last=part_count(build)))
    expires = current_app.config["BUILD_PART_URL_SECONDS"]
    return {n: storage.presign_part(build.storage_key, build.upload_id, n, expires) for n in range(first, last + 1)}


def complete_upload(build: Build, sha256: str) -> Build:
    """Every byte is stored: keep the uploader's SHA-256 and have the worker verify the
    file. Raises BuildError when bytes are missing or the checksum is malformed. Asked
    again while verifying, it enqueues the check again (the first enqueue may have met
    Redis down; the job does nothing for a build no longer verifying)."""
    if build.status == "verifying":
        enqueue_after_commit(verify_build, build.id)
        db.session.commit()
        return build
    _uploading(build)
    sha256 = (sha256 or "").strip().lower()
    if not SHA256_RE.fullmatch(sha256):
        raise BuildError(_("The SHA-256 is 64 hexadecimal digits."))
    storage = get_build_storage()
    if isinstance(storage, S3Storage):
        parts = storage.uploaded_parts(build.storage_key, build.upload_id)
        received = sum(p["Size"] for p in parts)
        expected = list(range(1, part_count(build) + 1))
        if [p["PartNumber"] for p in parts] != expected or received != build.size:
            raise BuildError(_("The upload is incomplete: %(received)s of %(size)s bytes.",
                               received=number(received), size=number(build.size)))
        storage.complete_multipart(build.storage_key, build.upload_id, parts)
    else:
        received = storage.size(build.storage_key) or 0
        if received != build.size:
            raise BuildError(_("The upload is incomplete: %(received)s of %(size)s bytes.",
                               received=number(received), size=number(build.size)))
    build.received, build.claimed_sha256, build.status = received, sha256, "verifying"
    enqueue_after_commit(verify_build, build.id)
    db.session.commit()
    return build


def publish(build: Build) -> Build:
    """Make a verified build downloadable and the current one of its platform, and tell
    every owner of the game, in one transaction. Raises BuildError."""
    if build.status != "ready":
        raise BuildError(_("Only a verified build can be published."))
    build.status, build.published_at = "published", utcnow()
    _tell_owners(build)
    db.session.commit()
    return build


def _tell_owners(build: Build):
    from ..infra.mail import json_object_sql, queue_emails_from
    from ..notifications.services import notify_query

    owners = select(LibraryEntry.user_id).where(LibraryEntry.game_id == build.game_id,
                                                LibraryEntry.revoked_at.is_(None)).subquery()
    params = {"title": build.game.title, "version": build.version, "platform": build.platform}
    notify_query(owners, "build_published", params, "/library")
    context = json_object_sql({"nickname": "u.nickname", "title": "CAST(:title AS VARCHAR(200))",
                               "version": "CAST(:version AS VARCHAR(40))",
                               "platform": "CAST(:platform AS VARCHAR(16))",
                               "link": "CAST(:link AS VARCHAR(300))"})
    queue_emails_from(f"""SELECT u.email AS recipient, 'build_published' AS kind, {context} AS context,
                                 u.locale AS locale
                          FROM library_entries e JOIN users u ON u.id = e.user_id
                          WHERE e.game_id = :game_id AND e.revoked_at IS NULL AND u.status = 'active'""",
                      {**params, "game_id": build.game_id, "link": _library_link()}, ("build_published",))


def _library_link() -> str:
    try:
        return url_for("library.library", _external=True)
    except RuntimeError:  # outside a request (a CLI or job without SERVER_NAME)
        return "/library"


def game_builds(game_id: int) -> list[Build]:
    """Every build of the game, newest first (the publisher's page)."""
    return list(db.session.scalars(select(Build).where(Build.game_id == game_id).order_by(Build.id.desc())))


def published(game_ids: list[int]) -> dict[int, list[Build]]:
    """{game id: its published builds, newest first}."""
    if not game_ids:
        return {}
    found: dict[int, list[Build]] = {}
    for build in db.session.scalars(select(Build).where(Build.game_id.in_(game_ids), Build.status == "published")
                                    .order_by(Build.published_at.desc(), Build.id.desc())):
        found.setdefault(build.game_id, []).append(build)
    return found


def current_by_platform(builds: list[Build]) -> dict[str, Build]:
    """The newest published build of each platform (builds newest first)."""
    current: dict[str, Build] = {}
    for build in builds:
        current.setdefault(build.platform, build)
    return {p: current[p] for p in PLATFORMS if p in current}


def human_size(size: int) -> str:
    """1.5 GB, 12 MB, 800 KB, 12 bytes, in units of 1024 as Windows and most download
    managers count (so the 4 GB limit reads "4 GB")."""
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if size >= scale:
            return f"{format_decimal(size / scale, format='#,##0.#', locale=current_locale())} {unit}"
    return _("%(num)s bytes", num=number(size))
