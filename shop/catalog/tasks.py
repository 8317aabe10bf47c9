"""Catalog jobs: run after a game changes, and on a schedule for sales that start later."""
import logging

from flask import url_for
from sqlalchemy import select

from ..extensions import db
from ..notifications.services import notify_query
from ..timeutil import utcnow
from . import cache
from .models import Game, WishlistItem

log = logging.getLogger(__name__)


def after_game_change(game_id: int):
    cache.invalidate_game(game_id)
    game = db.session.get(Game, game_id)
    if game is not None:
        announce_sale(game)


def announce_sale(game: Game) -> int:
    """Tell every wisher once that this game's sale has started. Returns how many."""
    now = utcnow()
    if not game.is_listed or not game.sale_active(now) or game.sale_announced_at is not None:
        return 0
    # Claim the announcement first so two workers never both send it.
    claimed = db.session.execute(
        Game.__table__.update()
        .where(Game.id == game.id, Game.sale_announced_at.is_(None))
        .values(sale_announced_at=now)
    ).rowcount
    if not claimed:
        db.session.rollback()
        return 0
    wishers = select(WishlistItem.user_id).where(WishlistItem.game_id == game.id).subquery()
    link = _game_link(game)
    count = notify_query(wishers, "wishlist_sale",
                         f"{game.title} is on sale: ₩{game.sale_price:,} (-{game.discount_percent}%)", link)
    db.session.commit()
    return count


def announce_started_sales() -> int:
    """Cron: sales whose start time has come since the last run."""
    now = utcnow()
    ids = db.session.scalars(select(Game.id).where(
        Game.status == "listed", Game.sale_price.is_not(None), Game.sale_announced_at.is_(None),
        (Game.sale_starts_at.is_(None)) | (Game.sale_starts_at <= now),
        (Game.sale_ends_at.is_(None)) | (Game.sale_ends_at > now),
    )).all()
    total = 0
    for game_id in ids:
        game = db.session.get(Game, game_id)
        if game is not None:
            total += announce_sale(game)
    return total


def _game_link(game: Game) -> str:
    try:
        return url_for("catalog.game_page", slug=game.slug)
    except RuntimeError:  # no request context inside a job without SERVER_NAME
        return f"/games/{game.slug}"
