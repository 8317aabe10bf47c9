"""Wishlist routes: the heart button on a game page and the /wishlist page."""
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..timeutil import utcnow
from . import wishlist
from .blueprint import bp
from .views import find_listed, is_partial


@bp.route("/games/<slug>/wishlist", methods=["POST"])
def wishlist_toggle(slug):
    """Sets the state the button asked for (`wanted=1|0`), or flips it without one."""
    game, current_slug = find_listed(slug)
    if game is None and current_slug:
        game = find_listed(current_slug)[0]
    if game is None:
        abort(404)
    if not current_user.is_authenticated:
        return _to_login(url_for("catalog.game_page", slug=game.slug))
    wanted = request.form.get("wanted")
    if wanted in ("0", "1"):
        state = wishlist.set_wishlisted(current_user, game, wanted == "1")
    else:
        state = wishlist.toggle(current_user, game)
    if is_partial():
        return render_template("catalog/_wishlist_button.html", game=game, wishlisted=state)
    flash(_("%(title)s is on your wishlist.", title=game.title) if state
          else _("%(title)s was removed from your wishlist.", title=game.title), "success")
    return redirect(url_for("catalog.game_page", slug=game.slug))


@bp.route("/wishlist")
@login_required
def wishlist_page():
    return render_template("catalog/wishlist.html", items=wishlist.wished_games(current_user), now=utcnow())


@bp.route("/wishlist/<int:game_id>/remove", methods=["POST"])
@login_required
def wishlist_remove(game_id):
    wishlist.remove(current_user, game_id)
    if is_partial():
        # The row goes away in place; the count in the heading follows out of band.
        response = make_response(render_template("catalog/_wishlist_count.html", count=wishlist.count(current_user),
                                                 oob=True))
        response.vary.add("HX-Request")
        return response
    flash(_("Removed from your wishlist."), "info")
    return redirect(url_for("catalog.wishlist_page"))


def _to_login(next_url: str):
    """Anonymous shoppers log in first and come back to the game, not to this POST URL."""
    login_url = url_for("accounts.login", next=next_url)
    flash(_("Log in to keep a wishlist."), "info")
    if "HX-Request" in request.headers:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = login_url  # a full navigation, not a swap
        return response
    return redirect(login_url)
