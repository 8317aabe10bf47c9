"""Builds on the web: the publisher's builds page and its upload API (JSON, for
static/js/builds.js), and owners' downloads (docs/builds.md)."""
from flask import (abort, current_app, flash, jsonify, redirect, render_template, request, send_file,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.decorators import role_required
from ..catalog.models import Game
from ..catalog.services import can_edit
from ..errors import render_error
from ..extensions import db, limiter
from ..infra.storage import S3Storage, get_build_storage
from ..web.forms import EmptyForm
from ..web.numbers import parse_int
from . import builds, downloads
from .build_models import Build
from .forms import BuildForm, CompleteForm
from .views import bp


def _editable_game(game_id: int) -> Game:
    game = db.session.get(Game, game_id)
    if game is None:
        abort(404)
    if not can_edit(current_user, game):
        abort(403)
    return game


def _editable_build(build_id: int) -> Build:
    build = db.session.get(Build, build_id)
    if build is None:
        abort(404)
    _editable_game(build.game_id)
    return build


def _error(message: str, status: int = 400, **extra):
    return jsonify(error=message, **extra), status


def _plan(build: Build) -> dict:
    progress = builds.upload_status(build)
    return {"id": build.id, "status": progress.status, "size": progress.size, "received": progress.received,
            "parts": progress.parts, "chunk_size": builds.chunk_size(),
            "mode": "s3" if isinstance(get_build_storage(), S3Storage) else "local",
            "filename": build.filename,
            "upload_url": url_for("library.upload_chunk", build_id=build.id),
            "parts_url": url_for("library.part_urls", build_id=build.id),
            "complete_url": url_for("library.complete_upload", build_id=build.id)}


@bp.route("/publisher/games/<int:game_id>/builds", methods=["GET", "POST"])
@role_required("publisher")
def manage_builds(game_id):
    """GET: the game's builds and the upload form. POST (the page's script): start a
    build; answers its upload plan as JSON."""
    game = _editable_game(game_id)
    form = BuildForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _error(" ".join(str(e) for errors in form.errors.values() for e in errors))
        size = parse_int(form.size.data, 1, current_app.config["BUILD_MAX_BYTES"])
        if size is None:
            return _error(_("A build is 1 byte to %(max)s.", max=builds.human_size(current_app.config["BUILD_MAX_BYTES"])))
        try:
            build = builds.start_upload(game.id, current_user.id, version=form.version.data,
                                        platform=form.platform.data, notes=form.notes.data,
                                        filename=form.filename.data or "", size=size)
        except builds.BuildError as exc:
            return _error(exc.message)
        return jsonify(_plan(build)), 201
    listed = builds.game_builds(game.id)
    progress = {b.id: builds.upload_status(b).received for b in listed if b.status == "uploading"}
    return render_template("library/builds.html", game=game, form=form, builds=listed, progress=progress,
                           action_form=EmptyForm(), labels=builds.PLATFORM_LABELS, human_size=builds.human_size,
                           max_size=builds.human_size(current_app.config["BUILD_MAX_BYTES"]))


@bp.route("/publisher/builds/<int:build_id>/upload", methods=["GET", "PUT"])
@role_required("publisher")
def upload_chunk(build_id):
    """GET: where the upload stands. PUT ?offset=N with the bytes as the body (local
    storage): store one chunk; 409 with `received` when the offset is not the end."""
    build = _editable_build(build_id)
    if request.method == "GET":
        return jsonify(_plan(build))
    offset = parse_int(request.args.get("offset"), 0, current_app.config["BUILD_MAX_BYTES"])
    if offset is None:
        return _error(_("Say where the chunk goes: ?offset= and a number of bytes."))
    length, size = request.content_length, build.size
    if length is None:
        return _error(_("Send the chunk with a Content-Length."), 411)
    try:
        # The server's own input stream: werkzeug's wrapper around it halved the upload rate
        # in bench/transfer.py. write_chunk reads `length` bytes at most (checked against
        # the chunk limit first) and treats an early end as a short chunk.
        received = builds.write_chunk(build, offset, request.environ["wsgi.input"], length)
    except builds.ShortChunk as exc:
        return _error(exc.message, 400, received=exc.received)
    except builds.WrongOffset as exc:
        return _error(exc.message, 409, received=exc.received)
    except builds.BuildError as exc:
        return _error(exc.message)
    return jsonify(received=received, size=size)


@bp.route("/publisher/builds/<int:build_id>/parts")
@role_required("publisher")
def part_urls(build_id):
    """S3: presigned PUT URLs for parts ?first=N&count=M."""
    build = _editable_build(build_id)
    first, count = parse_int(request.args.get("first"), 1, 10_000), parse_int(request.args.get("count"), 1, 10_000)
    if first is None or count is None:
        return _error(_("Ask for parts with ?first= and ?count=."))
    try:
        urls = builds.part_urls(build, first, count)
    except builds.BuildError as exc:
        return _error(exc.message)
    return jsonify(urls={str(n): url for n, url in urls.items()})


@bp.route("/publisher/builds/<int:build_id>/complete", methods=["POST"])
@role_required("publisher")
def complete_upload(build_id):
    """Every byte is up: check the size and have the worker verify the checksum."""
    build = _editable_build(build_id)
    form = CompleteForm()
    if not form.validate_on_submit():
        return _error(_("The SHA-256 is 64 hexadecimal digits."))
    try:
        builds.complete_upload(build, form.sha256.data)
    except builds.BuildError as exc:
        return _error(exc.message)
    return jsonify(_plan(build))


@bp.route("/publisher/builds/<int:build_id>/publish", methods=["POST"])
@role_required("publisher")
def publish_build(build_id):
    build = _editable_build(build_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        builds.publish(build)
    except builds.BuildError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Version %(version)s is published; owners were told.", version=build.version), "success")
    return redirect(url_for("library.manage_builds", game_id=build.game_id))


def _download_limit():
    return current_app.config["RATELIMIT_DOWNLOAD"]


@bp.route("/library/builds/<int:build_id>/download", methods=["POST"])
@login_required
@limiter.limit(_download_limit, key_func=lambda: f"user:{current_user.get_id()}")
def download(build_id):
    """An owner's download: logged, then a redirect to the signed (local) or presigned
    (S3) URL that serves the file."""
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        url = downloads.issue(current_user.id, build_id)
    except downloads.NotPlayable as exc:
        flash(exc.message, "error")
        return redirect(url_for("library.library"))
    except downloads.NotOwner:
        abort(403)
    return redirect(url, 303)


@bp.route("/downloads/<token>/<path:filename>")
def download_file(token, filename):
    """Local storage: the file behind a signed link, with Range support (resume)."""
    storage = get_build_storage()
    if isinstance(storage, S3Storage):
        abort(404)
    try:
        build = downloads.resolve(token)
    except downloads.LinkExpired as exc:
        return render_error(410, exc.message)
    except downloads.NotOwner:
        abort(403)
    db.session.close()  # nothing more to read: give the connection back before a long transfer
    response = send_file(storage.path(build.storage_key), mimetype="application/octet-stream", as_attachment=True,
                         download_name=build.filename, conditional=True, etag=build.sha256 or True, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response
