"""Gift a game, the giver's Gifts page (status, refund) and the recipient's claim page."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.decorators import verified_required
from ..catalog.models import Game
from ..errors import DomainError
from ..extensions import db
from ..orders.views import pay
from ..web.forms import EmptyForm
from . import services
from .forms import GiftForm

bp = Blueprint("gifts", __name__)


@bp.route("/gifts/new/<int:game_id>", methods=["GET", "POST"])
@verified_required
def new_gift(game_id):
    game = db.session.get(Game, game_id)
    if game is None or not game.is_listed:
        abort(404)
    form = GiftForm()
    error = None
    if form.validate_on_submit():
        try:
            order = services.buy_gift(current_user, game, form.recipient.data, form.message.data or "")
        except DomainError as exc:
            error = exc.message
        else:
            return pay(order)
    status = 400 if form.is_submitted() else 200
    return render_template("gifts/new.html", game=game, form=form, error=error), status


@bp.route("/gifts")
@login_required
def gifts_page():
    gifts = services.gifts_of(current_user.id)
    return render_template("gifts/list.html", gifts=gifts, form=EmptyForm(),
                           refundable={g.id for g in gifts if services.can_refund(g)})


@bp.route("/gifts/<public_id>/refund", methods=["POST"])
@login_required
def refund(public_id):
    try:
        gift = services.own_gift(current_user, public_id)
    except services.GiftNotFound:
        abort(404)  # someone else's gift: don't say it exists
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.refund(current_user, gift)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Refunded. The gift can no longer be claimed."), "success")
    return redirect(url_for("gifts.gifts_page"))


@bp.route("/gifts/claim/<token>")
def claim_page(token):
    gift = services.gift_from_token(token)
    if gift is None:
        return render_template("gifts/invalid.html"), 404
    return render_template("gifts/claim.html", gift=gift, token=token, form=EmptyForm(),
                           next_url=request.path)


@bp.route("/gifts/claim/<token>", methods=["POST"])
@verified_required
def claim(token):
    gift = services.gift_from_token(token)
    if gift is None:
        return render_template("gifts/invalid.html"), 404
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.claim(current_user, gift)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("gifts.claim_page", token=token))
    flash(_("%(title)s is in your library. Enjoy!", title=gift.game.title), "success")
    return redirect(url_for("library.library"))
