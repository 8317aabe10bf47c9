"""Downloads: only an owner gets a URL for a published build, and each one handed out
is logged (docs/builds.md).

Local storage gives a URL signed with the app's secret (itsdangerous) that expires after
DOWNLOAD_URL_SECONDS and names the user and the build; every request to it checks
again that the user still owns the game, so a refund stops a download that was already
handed out, and `send_file` answers Range requests, so a broken download resumes. With
S3 the URL is a presigned GET valid DOWNLOAD_S3_URL_SECONDS (a few minutes); S3 checks
the expiry when a request starts.
"""
from datetime import datetime

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from ..errors import DomainError
from ..extensions import db
from ..infra.storage import S3Storage, get_build_storage
from .build_models import Build, Download
from .models import LibraryEntry
from .services import owns, playable

SALT = "playcation-download"


class NotOwner(DomainError):
    message = _l("Only owners of this game can download it.")


class NotPlayable(NotOwner):
    message = _l("This copy can't be downloaded yet: a pre-order unlocks on its release day, and an "
                 "adults-only game needs an account verified as an adult.")


class LinkExpired(DomainError):
    message = _l("This download link has expired. Start the download again from your library.")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def downloadable(user_id: int, build_id: int) -> Build:
    """The published build when the user owns its game and may play it now. Raises
    NotOwner (also for a build that is missing or unpublished: nothing tells them apart)
    and NotPlayable (services.playable: a pre-order before release, or adults only)."""
    build = db.session.get(Build, build_id)
    if build is None or build.status != "published" or not owns(user_id, build.game_id):
        raise NotOwner()
    entry = db.session.scalar(select(LibraryEntry).where(LibraryEntry.user_id == user_id,
                                                         LibraryEntry.game_id == build.game_id))
    if entry is None or not playable(entry):  # a pre-order before release; adults only, for a minor
        raise NotPlayable()
    return build


def issue(user_id: int, build_id: int) -> str:
    """Log a download of the build by its owner and return the URL that serves it.
    Raises NotOwner."""
    build = downloadable(user_id, build_id)  # raises NotPlayable (a NotOwner) too
    db.session.add(Download(user_id=user_id, game_id=build.game_id, build_id=build.id))
    db.session.commit()
    storage = get_build_storage()
    if isinstance(storage, S3Storage):
        return storage.presign_download(build.storage_key, build.filename,
                                        current_app.config["DOWNLOAD_S3_URL_SECONDS"])
    token = _serializer().dumps([user_id, build.id])
    return url_for("library.download_file", token=token, filename=build.filename)


def resolve(token: str) -> Build:
    """The build a local download link serves, while it is valid and its user still owns
    the game. Raises LinkExpired and NotOwner."""
    try:
        user_id, build_id = _serializer().loads(token, max_age=current_app.config["DOWNLOAD_URL_SECONDS"])
    except SignatureExpired:
        raise LinkExpired() from None
    except (BadSignature, ValueError, TypeError):
        raise NotOwner() from None
    if not (isinstance(user_id, int) and isinstance(build_id, int)):
        raise NotOwner()
    return downloadable(user_id, build_id)


def download_count(user_id: int, game_id: int, since: datetime | None = None) -> int:
    """How many downloads of the game the user started (since `since`, e.g. the
    purchase of the copy in question): the per-game refund policy reads this."""
    query = select(func.count()).select_from(Download).where(Download.user_id == user_id,
                                                             Download.game_id == game_id)
    if since is not None:
        query = query.where(Download.created_at >= since)
    return db.session.scalar(query) or 0


def downloaded_builds(user_id: int, game_ids: list[int]) -> dict[int, set[int]]:
    """{game id: the ids of its builds the user has downloaded}."""
    if not game_ids:
        return {}
    found: dict[int, set[int]] = {}
    for game_id, build_id in db.session.execute(select(Download.game_id, Download.build_id).where(
            Download.user_id == user_id, Download.game_id.in_(game_ids)).distinct()):
        found.setdefault(game_id, set()).add(build_id)
    return found


def new_versions(user_id: int, published: dict[int, list[Build]]) -> set[int]:
    """The games with a new version for the user: for a platform they downloaded a build
    of, the current build is one they haven't downloaded."""
    fetched = downloaded_builds(user_id, list(published))
    updated = set()
    for game_id, items in published.items():
        mine = fetched.get(game_id)
        if not mine:
            continue
        platforms = {b.platform for b in items if b.id in mine}
        current = {}
        for build in items:  # newest first
            current.setdefault(build.platform, build.id)
        if any(current[p] not in mine for p in platforms):
            updated.add(game_id)
    return updated
