"""Admin: find games, delist one with a reason (moderation), list it again.

A moderation delist stores the reason in `games.moderation_note`; while it is set the
publisher cannot relist the game (catalog/manage_views.py refuses) and sees the reason.
Caches are dropped the way the publisher's own delist does it: `_after_change` queues
catalog.tasks.after_game_change after the commit."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from ..accounts.models import User
from ..catalog import services as catalog
from ..catalog.models import Game
from ..web.numbers import paginate
from ..extensions import db
from ..infra.mail import queue_email
from ..notifications.services import notify
from ..timeutil import utcnow
from . import audit
from .blueprint import bp
from .forms import ConfirmForm, GameSearchForm, ReasonForm
from .users import PER_PAGE, NothingToChange, as_id, like, page_arg


# --- operations -------------------------------------------------------------------------

def search_games(q: str = "", status: str = "", publisher: str = "", page: int = 1):
    query = select(Game).join(User, User.id == Game.publisher_id)
    if q:
        matches = [like(Game.title, q)]
        if as_id(q) is not None:
            matches.append(Game.id == as_id(q))
        query = query.where(or_(*matches))
    if status == "moderated":
        query = query.where(Game.moderation_note.is_not(None))
    elif status:
        query = query.where(Game.status == status)
    if publisher:
        matches = [like(User.email, publisher), like(User.nickname, publisher)]
        if as_id(publisher) is not None:
            matches.append(User.id == as_id(publisher))
        query = query.where(or_(*matches))
    return paginate(query.order_by(Game.updated_at.desc(), Game.id.desc()), page, PER_PAGE)


def _edit_link(game: Game) -> str:
    return url_for("catalog.manage_edit_game", game_id=game.id)


def delist(admin: User, game: Game, reason: str) -> Game:
    """Hide the game from the store with a reason only an admin can lift; tell the
    publisher (notification and email). Raises NothingToChange."""
    before, after = audit.changes(game, status="delisted", moderation_note=reason)
    if not after:
        raise NothingToChange(_("“%(title)s” is already delisted with that reason.", title=game.title))
    catalog._after_change(game)  # the publisher path's cache drop, after the commit
    audit.record("game.delist", game, before=before, after=after, note=reason, actor=admin)
    notify(game.publisher_id, "game_delisted", {"title": game.title, "reason": reason}, _edit_link(game))
    publisher = game.publisher
    if publisher is not None and publisher.status == "active":
        queue_email(publisher.email, "game_delisted", nickname=publisher.nickname, title=game.title,
                    reason=reason, link=url_for("catalog.manage_edit_game", game_id=game.id, _external=True))
    db.session.commit()
    return game


def relist(admin: User, game: Game) -> Game:
    """Back in the store, moderation note cleared; the publisher is told. Raises NothingToChange."""
    before, after = audit.changes(game, status="listed", moderation_note=None)
    if not after:
        raise NothingToChange(_("“%(title)s” is already listed.", title=game.title))
    catalog._after_change(game)
    audit.record("game.relist", game, before=before, after=after, actor=admin)
    notify(game.publisher_id, "game_relisted", {"title": game.title}, _edit_link(game))
    db.session.commit()
    return game


# --- views --------------------------------------------------------------------------------

def _filters(args) -> tuple[GameSearchForm, dict]:
    form = GameSearchForm(formdata=args)
    return form, ({k: v for k, v in form.data.items() if v} if form.validate() else {})


def _list_page(status: int = 200, failed: Game | None = None, failed_form: ReasonForm | None = None):
    form, filters = _filters(request.args)
    if form.errors:
        status = 400
    pages = search_games(filters.get("q", ""), filters.get("status", ""), filters.get("publisher", ""),
                         page_arg())
    return render_template("admin/games.html", form=form, pages=pages, filters=filters, now=utcnow(),
                           failed=failed, failed_form=failed_form, reason_form=ReasonForm(formdata=None),
                           confirm_form=ConfirmForm(formdata=None)), status


def _back():
    """To the list with the filters the action was sent from (they ride on its URL)."""
    _, filters = _filters(request.args)
    if page_arg() > 1:
        filters["page"] = page_arg()
    return redirect(url_for("admin.games", **filters))


@bp.route("/games")
def games():
    return _list_page()


@bp.route("/games/<int:game_id>/delist", methods=["POST"])
def game_delist(game_id):
    game = db.get_or_404(Game, game_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            delist(current_user, game, form.reason.data)
        except NothingToChange as exc:
            form.reason.errors.append(exc.message)
        else:
            flash(_("“%(title)s” is delisted; its publisher was told why.", title=game.title), "success")
            return _back()
    return _list_page(400, failed=game, failed_form=form)


@bp.route("/games/<int:game_id>/relist", methods=["POST"])
def game_relist(game_id):
    game = db.get_or_404(Game, game_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        relist(current_user, game)
    except NothingToChange as exc:
        flash(exc.message, "error")
    else:
        flash(_("“%(title)s” is back in the store.", title=game.title), "success")
    return _back()
