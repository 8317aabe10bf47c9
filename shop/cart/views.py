"""Cart pages and htmx actions (button and header badge update in one response)."""
from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..web.urls import safe_next
from ..catalog import cache, card_states, pagecache, storefront
from ..catalog.models import Game
from ..web.htmx import wants_fragment
from ..extensions import db
from ..timeutil import utcnow
from .pricing import discount_label, quote_games
from . import services

bp = Blueprint("cart", __name__)
bp.add_app_template_filter(discount_label, "discount_label")


@bp.record_once
def _plug_into_the_catalog(_state):
    """Game cards and pages show "In cart" / "In your library" from the cart's rule."""
    card_states.register(services.cart_states, services.owned_or_carted)


def _back() -> str:
    return safe_next(request.form.get("next") or request.args.get("next"), url_for("cart.cart_page"))


@bp.route("/cart")
@login_required
def cart_page():
    """Kept for the member until their cart or anything in the catalog changes, or a
    price in it is due to change (a sale starting or ending)."""
    now, games = utcnow(), []

    def render():
        games.extend(services.cart_games(current_user))
        return render_template("cart/cart.html", games=games, quote=quote_games(games, current_user))

    return pagecache.member_page("cart", [cache.GENERATION], lambda: min(
        [storefront.price_ttl(now, game) for game in games] or [storefront.cache_ttl()]), render)


@bp.route("/cart/<int:game_id>", methods=["POST"])
@login_required
def add(game_id):
    game = db.session.get(Game, game_id)
    if game is None:
        abort(404)
    error, state = None, "in_cart"
    try:
        services.add_to_cart(current_user, game)
    except services.CartError as exc:
        error, state = exc.message, exc.state
    if wants_fragment():
        response = make_response(render_template(
            "cart/_add_response.html", game=game, error=error, state=state, next_url=_back(),
            count=services.cart_count(current_user.id)))
        response.vary.add("HX-Request")
        return response
    flash(error or _("%(title)s is in your cart.", title=game.title), "error" if error else "success")
    return redirect(_back())


@bp.route("/cart/<int:game_id>/remove", methods=["POST"])
@login_required
def remove(game_id):
    services.remove_from_cart(current_user, game_id)
    if wants_fragment():
        games = services.cart_games(current_user)
        response = make_response(render_template("cart/_remove_response.html", games=games,
                                                 quote=quote_games(games, current_user), count=len(games)))
        response.vary.add("HX-Request")
        return response
    flash(_("Removed from your cart."), "info")
    return redirect(_back())
