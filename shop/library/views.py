"""/library: the games the user owns, with their downloads and product keys; the publisher's key pool
page. The builds pages and downloads are in build_views.py."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import ngettext
from flask_login import current_user, login_required

from ..accounts.decorators import role_required
from ..catalog.models import Game
from ..catalog.services import can_edit
from ..errors import DomainError
from ..extensions import db
from ..web.forms import EmptyForm
from . import builds, downloads, keys, services
from .forms import KeyPoolForm

bp = Blueprint("library", __name__)


@bp.route("/library")
@login_required
def library():
    entries = services.entries(current_user.id)
    game_ids = [entry.game_id for entry in entries]
    published = builds.published(game_ids)
    updated = downloads.new_versions(current_user.id, published)
    return render_template("library/index.html", entries=entries, groups=services.grouped(entries),
                           keys=keys.keys_for_user(current_user.id),
                           published=published, current_by_platform=builds.current_by_platform, updated=updated,
                           labels=builds.PLATFORM_LABELS, human_size=builds.human_size, download_form=EmptyForm())


@bp.route("/publisher/games/<int:game_id>/keys", methods=["GET", "POST"])
@role_required("publisher")
def manage_keys(game_id):
    """Upload a key pool for one of the publisher's games (admins: any game)."""
    game = db.session.get(Game, game_id)
    if game is None:
        abort(404)
    if not can_edit(current_user, game):
        abort(403)
    form = KeyPoolForm()
    status = 200
    if form.validate_on_submit():
        try:
            result = keys.upload_pool(game.id, form.pool.data.read(keys.MAX_FILE_BYTES + 1))
        except DomainError as exc:
            form.pool.errors.append(exc.message)
            status = 400
        else:
            message = ngettext("Added %(num)d key", "Added %(num)d keys", result.added)
            if result.duplicates:
                message += "; " + ngettext("%(num)d duplicate was ignored.", "%(num)d duplicates were ignored.",
                                           result.duplicates)
            flash(message + ("" if result.duplicates else "."), "success")
            return redirect(url_for("library.manage_keys", game_id=game.id))
    elif form.is_submitted():
        status = 400
    return render_template("library/manage_keys.html", game=game, form=form, counts=keys.pool_counts(game.id),
                           max_rows=keys.MAX_ROWS, max_kb=keys.MAX_FILE_BYTES // 1024), status
