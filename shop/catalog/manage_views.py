"""The back office: publishers create, edit, delist and relist their games (admins any
game); admins curate categories and tags. Game ids in these URLs are fine: the
public pages use slugs."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user

from ..accounts.decorators import role_required
from ..web.forms import EmptyForm
from ..web.urls import safe_next
from ..web.numbers import page_number
from ..errors import DomainError
from ..extensions import db
from ..timeutil import utcnow
from . import admin_services, services
from .blueprint import bp
from .forms import CategoryForm, CoverForm, GameForm, ScreenshotForm, TagForm, TermKoreanForm
from .models import Category, Game, Tag
from .text import render_markdown


def _editable_game(game_id: int) -> Game:
    game = db.session.get(Game, game_id)
    if game is None:
        abort(404)
    if not services.can_edit(current_user, game):
        abort(403)
    return game


def _game_form(game: Game | None = None, **kwargs) -> GameForm:
    form = GameForm(**kwargs)
    form.set_choices(*admin_services.catalog_terms())
    form.set_base_choices(services.base_game_choices(game.publisher_id if game else current_user.id,
                                                     game.id if game else None))
    return form


def _edit_page(game: Game, status: int = 200, **forms):
    page = dict(form=None, cover_form=CoverForm(formdata=None), shot_form=ScreenshotForm(formdata=None))
    page.update(forms)
    if page["form"] is None:
        page["form"] = GameForm.for_game(game)
        page["form"].set_choices(*admin_services.catalog_terms())
        page["form"].set_base_choices(services.base_game_choices(game.publisher_id, game.id))
    return render_template("catalog/manage/edit.html", game=game, preview=render_markdown(game.description),
                           max_screenshots=services.MAX_SCREENSHOTS, now=utcnow(), **page), status


def _back_to_edit(game: Game, anchor: str | None = None):
    return redirect(url_for("catalog.manage_edit_game", game_id=game.id, _anchor=anchor))


def _is_htmx_partial() -> bool:
    return "HX-Request" in request.headers and "HX-Boosted" not in request.headers


# --- games --------------------------------------------------------------------------

@bp.route("/publisher/games")
@role_required("publisher")
def manage_games():
    games = admin_services.managed_games(current_user, page_number(request.args.get("page")))
    return render_template("catalog/manage/list.html", games=games, now=utcnow())


@bp.route("/publisher/games/new", methods=["GET", "POST"])
@role_required("publisher")
def manage_new_game():
    form = _game_form()
    if form.validate_on_submit():
        try:
            game = services.create_game(current_user, form.to_input())
        except DomainError as exc:
            form.form_errors.append(exc.message)
        else:
            flash(_("“%(title)s” is in the store. Add a cover and screenshots to make it shine.", title=game.title), "success")
            return _back_to_edit(game, "media")
    return render_template("catalog/manage/new.html", form=form), 400 if form.errors else 200


@bp.route("/publisher/games/<int:game_id>/edit", methods=["GET", "POST"])
@role_required("publisher")
def manage_edit_game(game_id):
    game = _editable_game(game_id)
    if request.method == "GET":
        return _edit_page(game)
    form = _game_form(game)
    if form.validate_on_submit():
        try:
            services.update_game(current_user, game, form.to_input())
        except DomainError as exc:
            form.form_errors.append(exc.message)
        else:
            flash(_("Changes saved."), "success")
            return _back_to_edit(game)
    return _edit_page(game, 400, form=form)


@bp.route("/publisher/games/<int:game_id>/delist", methods=["POST"])
@role_required("publisher")
def manage_delist_game(game_id):
    return _set_listed(game_id, False)


@bp.route("/publisher/games/<int:game_id>/relist", methods=["POST"])
@role_required("publisher")
def manage_relist_game(game_id):
    return _set_listed(game_id, True)


def _set_listed(game_id: int, listed: bool):
    game = _editable_game(game_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if listed and game.moderation_note:  # delisted by an admin: lifted only in the admin console
        how = (_("Relist it in Admin → Games, where it is audited.") if current_user.is_admin
               else _("Only an admin can list it again."))
        flash(_("“%(title)s” was delisted by an admin: %(reason)s %(how)s", title=game.title,
                reason=game.moderation_note, how=how), "error")
        edit_url = url_for("catalog.manage_edit_game", game_id=game.id)
        if _is_htmx_partial():  # the whole page goes to the edit page, which shows the reason
            return "", 200, {"HX-Redirect": edit_url}
        return redirect(edit_url)
    services.set_listed(current_user, game, listed)
    if _is_htmx_partial():  # the list page swaps just this row
        return render_template("catalog/manage/_game_row.html", game=game, now=utcnow())
    if listed:
        flash(_("“%(title)s” is back in the store.", title=game.title), "success")
    else:
        flash(_("“%(title)s” is delisted: hidden from the store, still in its buyers' libraries.", title=game.title), "info")
    return redirect(safe_next(request.form.get("next"), url_for("catalog.manage_edit_game", game_id=game.id)))


@bp.route("/publisher/games/<int:game_id>/cover", methods=["POST"])
@role_required("publisher")
def manage_upload_cover(game_id):
    game = _editable_game(game_id)
    form = CoverForm()
    if form.validate_on_submit():
        try:
            services.set_cover(current_user, game, form.cover.data.stream)
        except DomainError as exc:
            form.cover.errors.append(exc.message)
        else:
            flash(_("Cover updated."), "success")
            return _back_to_edit(game, "media")
    return _edit_page(game, 400, cover_form=form)


@bp.route("/publisher/games/<int:game_id>/screenshots", methods=["POST"])
@role_required("publisher")
def manage_add_screenshot(game_id):
    game = _editable_game(game_id)
    form = ScreenshotForm()
    if form.validate_on_submit():
        try:
            services.add_screenshot(current_user, game, form.screenshot.data.stream)
        except DomainError as exc:
            form.screenshot.errors.append(exc.message)
        else:
            flash(_("Screenshot added."), "success")
            return _back_to_edit(game, "media")
    return _edit_page(game, 400, shot_form=form)


@bp.route("/publisher/games/<int:game_id>/screenshots/<int:shot_id>/delete", methods=["POST"])
@role_required("publisher")
def manage_remove_screenshot(game_id, shot_id):
    game = _editable_game(game_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.remove_screenshot(current_user, game, shot_id)
    except services.GameNotFound:
        abort(404)
    flash(_("Screenshot removed."), "info")
    return _back_to_edit(game, "media")


# --- categories and tags (admins) ---------------------------------------------------

TERMS = {
    "category": dict(form=CategoryForm, rows=admin_services.categories_with_usage,
                     create=admin_services.create_category, delete=admin_services.delete_category,
                     endpoint="catalog.manage_categories"),
    "tag": dict(form=TagForm, rows=admin_services.tags_with_usage,
                create=admin_services.create_tag, delete=admin_services.delete_tag,
                endpoint="catalog.manage_tags"),
}


def _terms_page(kind: str, status: int = 200, form=None, error: str | None = None):
    spec = TERMS[kind]
    return render_template("catalog/manage/terms.html", kind=kind, rows=spec["rows"](), error=error,
                           form=form or spec["form"](formdata=None)), status


def _create_term(kind: str):
    spec = TERMS[kind]
    if request.method == "GET":
        return _terms_page(kind)
    form = spec["form"]()
    if form.validate_on_submit():
        try:
            term = spec["create"](form.name.data, form.name_ko.data)
        except DomainError as exc:
            form.name.errors.append(exc.message)
        else:
            flash(_("Added the category “%(name)s”.", name=term.name) if kind == "category"
                  else _("Added the tag “%(name)s”.", name=term.name), "success")
            return redirect(url_for(spec["endpoint"]))
    return _terms_page(kind, 400, form=form)


def _delete_term(kind: str, term_id: int):
    spec = TERMS[kind]
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        removed = spec["delete"](term_id)
    except admin_services.TermNotFound:
        abort(404)
    except admin_services.TermInUse as exc:
        return _terms_page(kind, 409, error=exc.message)
    message = (_("Deleted the category “%(name)s”.", name=removed.name) if kind == "category"
               else _("Deleted the tag “%(name)s”.", name=removed.name))
    if removed.games:
        message += " " + ngettext("It was taken off %(num)d game.", "It was taken off %(num)d games.", removed.games)
    flash(message, "info")
    return redirect(url_for(spec["endpoint"]))


@bp.route("/admin/categories", methods=["GET", "POST"])
@role_required("admin")
def manage_categories():
    return _create_term("category")


@bp.route("/admin/categories/<int:term_id>/delete", methods=["POST"])
@role_required("admin")
def manage_delete_category(term_id):
    return _delete_term("category", term_id)


def _rename_term(kind: str, term_id: int):
    form = TermKoreanForm()
    if not form.validate_on_submit():
        return _terms_page(kind, 400, error=" ".join(str(e) for e in form.name_ko.errors) or None)
    try:
        term = admin_services.set_korean_name(Category if kind == "category" else Tag, term_id, form.name_ko.data)
    except admin_services.TermNotFound:
        abort(404)
    flash(_("Saved the Korean name of “%(name)s”.", name=term.name), "success")
    return redirect(url_for(TERMS[kind]["endpoint"]))


@bp.route("/admin/categories/<int:term_id>/korean", methods=["POST"])
@role_required("admin")
def manage_category_korean(term_id):
    return _rename_term("category", term_id)


@bp.route("/admin/tags/<int:term_id>/korean", methods=["POST"])
@role_required("admin")
def manage_tag_korean(term_id):
    return _rename_term("tag", term_id)


@bp.route("/admin/tags", methods=["GET", "POST"])
@role_required("admin")
def manage_tags():
    return _create_term("tag")


@bp.route("/admin/tags/<int:term_id>/delete", methods=["POST"])
@role_required("admin")
def manage_delete_tag(term_id):
    return _delete_term("tag", term_id)
