"""Reviews on the game page, all in place with htmx: post, edit, delete, like, reply,
sort and "load more". Each change answers with the updated fragment plus the game's
rating summary out of band."""
from flask import Blueprint, abort, flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.decorators import verified_required
from ..web.forms import EmptyForm
from ..catalog.models import Game
from ..catalog.services import find_game
from ..web.numbers import page_number, parse_int
from ..errors import DomainError
from ..web.htmx import wants_fragment
from ..extensions import db
from . import services
from .models import Review

bp = Blueprint("reviews", __name__)



def _game_or_404(slug: str) -> Game:
    game = find_game(slug)[0]
    if game is None:
        abort(404)
    return game


def _rating() -> int:
    """The form's star rating; 0 (which the services refuse with a message) when it is not 1..5."""
    return parse_int(request.form.get("rating"), 1, 5) or 0


def section_context(game: Game, sort: str = "helpful", page: int = 1, error: str | None = None) -> dict:
    """Everything templates/reviews/_section.html needs (also used by the game page)."""
    sort = sort if sort in services.SORTS else "helpful"
    reviews, has_more = services.list_reviews(game.id, sort, page)
    user = current_user if current_user.is_authenticated else None
    mine = services.user_review(user.id, game.id) if user else None
    return {
        "game": game, "reviews": reviews, "has_more": has_more, "sort": sort, "page": page,
        "my_review": mine, "error": error,
        "can_review": bool(user and user.is_verified and mine is None and services.owns(user.id, game.id)),
        "liked": services.liked_ids(user.id, [r.id for r in reviews]) if user else set(),
        "refunded": services.refunded_reviewer_ids(game.id, [r.user_id for r in reviews]),
        "is_publisher": bool(user and (user.id == game.publisher_id or user.is_admin)),
        "form": EmptyForm(),
    }


def _section(game: Game, status: int = 200, **kw):
    db.session.refresh(game)
    return render_template("reviews/_section_response.html", **section_context(game, **kw)), status


@bp.route("/games/<slug>/reviews")
def list_page(slug):
    game = _game_or_404(slug)
    ctx = section_context(game, request.args.get("sort", "helpful"),
                          page_number(request.args.get("page"), services.MAX_PAGE))
    if ctx["page"] > 1 and not ctx["reviews"]:
        abort(404)  # past the last page
    if wants_fragment() and request.args.get("page"):
        return render_template("reviews/_list_page.html", **ctx)
    if wants_fragment():
        return render_template("reviews/_section.html", **ctx)
    return render_template("reviews/page.html", **ctx)


@bp.route("/games/<slug>/reviews", methods=["POST"])
@verified_required
def post(slug):
    game = _game_or_404(slug)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.post_review(current_user, game, _rating(), request.form.get("body", "")[:6000])
    except DomainError as exc:
        if not wants_fragment():
            flash(str(exc.message), "error")
            return redirect(f"/games/{game.slug}#reviews")
        return _section(game, 400, error=exc.message)
    if not wants_fragment():
        flash(_("Thanks for your review!"), "success")
        return redirect(f"/games/{game.slug}#reviews")
    return _section(game, sort="newest")


def _review_or_404(review_id: int) -> Review:
    review = db.session.get(Review, review_id)
    if review is None:
        abort(404)
    return review


@bp.route("/reviews/<int:review_id>/edit", methods=["GET", "POST"])
@login_required
def edit(review_id):
    review = _review_or_404(review_id)
    if review.user_id != current_user.id:
        abort(403)
    if request.method == "GET":
        return render_template("reviews/_form.html", game=review.game, review=review, form=EmptyForm(), error=None)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.edit_review(current_user, review, _rating(), request.form.get("body", "")[:6000])
    except DomainError as exc:
        return render_template("reviews/_form.html", game=review.game, review=review, form=EmptyForm(),
                               error=exc.message), 400
    return _section(review.game)


@bp.route("/reviews/<int:review_id>/delete", methods=["POST"])
@login_required
def delete(review_id):
    review = _review_or_404(review_id)
    game = review.game
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.delete_review(current_user, review)
    except DomainError:
        abort(403)
    if not wants_fragment():
        flash(_("Review deleted."), "info")
        return redirect(f"/games/{game.slug}#reviews")
    return _section(game)


@bp.route("/reviews/<int:review_id>/like", methods=["POST"])
@verified_required
def like(review_id):
    review = _review_or_404(review_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    error = None
    try:
        liked = services.toggle_like(current_user, review)
    except DomainError as exc:
        liked, error = False, str(exc.message)
    if not wants_fragment():
        if error:
            flash(error, "error")
        return redirect(f"/games/{review.game.slug}#review-{review.id}")
    return render_template("reviews/_like.html", review=review, liked=liked, error=error,
                           form=EmptyForm()), 400 if error else 200


@bp.route("/reviews/<int:review_id>/reply", methods=["POST"])
@login_required
def reply(review_id):
    review = _review_or_404(review_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.reply(current_user, review, request.form.get("body", "")[:3000])
    except services.NotAllowed:
        abort(403)
    except DomainError as exc:
        if not wants_fragment():
            flash(str(exc.message), "error")
            return redirect(f"/games/{review.game.slug}#review-{review.id}")
        return _section(review.game, 400, error=exc.message)
    if not wants_fragment():
        return redirect(f"/games/{review.game.slug}#review-{review.id}")
    return _section(review.game)
