"""Review operations. Only a verified owner reviews a game, once; the game's rating
sum/count change in the same transaction; the publisher is notified after commit."""
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..catalog.models import Game
from ..errors import DomainError
from ..extensions import db
from ..notifications.services import notify
from ..library import services as library
from ..library.services import owns
from ..timeutil import utcnow
from .models import Review, ReviewLike

PAGE_SIZE = 10
MAX_PAGE = 1000
SORTS = {
    "helpful": (Review.likes_count.desc(), Review.id.desc()),
    "newest": (Review.id.desc(),),
    "rating_high": (Review.rating.desc(), Review.id.desc()),
    "rating_low": (Review.rating.asc(), Review.id.desc()),
}


class ReviewError(DomainError):
    pass


class NotAllowed(ReviewError):
    message = _l("Only players who own this game can review it.")


def refunded_reviewer_ids(game_id: int, user_ids: list[int]) -> set[int]:
    """Reviewers whose purchase of this game was refunded: their reviews stay, marked."""
    return library.revoked_owner_ids(game_id, user_ids)


def user_review(user_id: int, game_id: int) -> Review | None:
    return db.session.scalar(select(Review).where(Review.user_id == user_id, Review.game_id == game_id))


def list_reviews(game_id: int, sort: str = "helpful", page: int = 1) -> tuple[list[Review], bool]:
    order = SORTS.get(sort, SORTS["helpful"])
    page = min(max(page, 1), MAX_PAGE)
    rows = list(db.session.scalars(select(Review).where(Review.game_id == game_id).order_by(*order)
                                   .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def _check_text(rating: int, body: str):
    if rating not in (1, 2, 3, 4, 5):
        raise ReviewError(_("Choose a rating from 1 to 5 stars."))
    body = (body or "").strip()
    if not 10 <= len(body) <= 5000:
        raise ReviewError(_("Reviews are 10 to 5,000 characters."))
    return body


def post_review(user, game: Game, rating: int, body: str) -> Review:
    """Raises NotAllowed, ReviewError."""
    if not user.is_verified:
        raise NotAllowed(_("Verify your email before reviewing."))
    if not owns(user.id, game.id):
        raise NotAllowed()
    body = _check_text(rating, body)
    review = Review(game_id=game.id, user_id=user.id, rating=rating, body=body)
    db.session.add(review)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ReviewError(_("You already reviewed this game; edit your review instead."))
    _adjust(game.id, rating, +1)
    notify(game.publisher_id, "review", {"nickname": user.nickname, "title": game.title, "rating": rating},
           f"/games/{game.slug}#review-{review.id}")
    db.session.commit()
    return review


def edit_review(user, review: Review, rating: int, body: str) -> Review:
    """Raises NotAllowed, ReviewError."""
    if review.user_id != user.id:
        raise NotAllowed(_("You can only edit your own review."))
    body = _check_text(rating, body)
    if rating != review.rating:
        _adjust(review.game_id, rating - review.rating, 0)
    else:
        _shown_changed(review.game_id)
    review.rating, review.body, review.updated_at = rating, body, utcnow()
    db.session.commit()
    return review


def delete_review(user, review: Review):
    """The author or an admin. Raises NotAllowed."""
    if review.user_id != user.id and not user.is_admin:
        raise NotAllowed(_("You can only delete your own review."))
    _adjust(review.game_id, -review.rating, -1)
    db.session.delete(review)
    db.session.commit()


def _shown_changed(game_id: int):
    """The game's cached pages show its reviews (and rating): rebuild them after commit."""
    from ..catalog.tasks import after_game_change
    from ..infra.jobs import enqueue_after_commit

    enqueue_after_commit(after_game_change, game_id)


def _adjust(game_id: int, rating_delta: int, count_delta: int):
    _shown_changed(game_id)
    db.session.execute(update(Game).where(Game.id == game_id).values(
        rating_sum=Game.rating_sum + rating_delta, rating_count=Game.rating_count + count_delta)
        .execution_options(synchronize_session=False))


def toggle_like(user, review: Review) -> bool:
    """Like or unlike; returns whether the user now likes it. Raises ReviewError."""
    if review.user_id == user.id:
        raise ReviewError(_("You can't like your own review."))
    existing = db.session.get(ReviewLike, (review.id, user.id))
    if existing is None:
        db.session.add(ReviewLike(review_id=review.id, user_id=user.id))
        try:
            db.session.flush()
        except IntegrityError:  # a double click raced us: it is liked already
            db.session.rollback()
            return True
        delta, liked = 1, True
    else:
        db.session.delete(existing)
        delta, liked = -1, False
    # the count is the review's, seen by everyone alike: no one member's cached parts change
    # (the liker's own do, by their ReviewLike row)
    db.session.execute(update(Review).where(Review.id == review.id)
                       .values(likes_count=Review.likes_count + delta)
                       .execution_options(synchronize_session=False, member_views_named=True))
    db.session.commit()
    db.session.refresh(review)
    return liked


def liked_ids(user_id: int, review_ids: list[int]) -> set[int]:
    if not review_ids:
        return set()
    return set(db.session.scalars(select(ReviewLike.review_id).where(
        ReviewLike.user_id == user_id, ReviewLike.review_id.in_(review_ids))))


def reply(user, review: Review, body: str) -> Review:
    """The game's publisher (or an admin) posts or edits one public reply. Raises NotAllowed, ReviewError."""
    game = db.session.get(Game, review.game_id)
    if game.publisher_id != user.id and not user.is_admin:
        raise NotAllowed(_("Only the game's publisher can reply."))
    body = (body or "").strip()
    if not 2 <= len(body) <= 2000:
        raise ReviewError(_("Replies are 2 to 2,000 characters."))
    first = review.reply_body is None
    review.reply_body, review.reply_at = body, utcnow()
    _shown_changed(review.game_id)
    if first:
        notify(review.user_id, "review_reply", {"title": game.title}, f"/games/{game.slug}#review-{review.id}")
    db.session.commit()
    return review
