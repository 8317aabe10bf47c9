"""Wishlists: games a player wants, and hears about when they go on sale
(tasks.announce_sale reads these rows)."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .models import Game, WishlistItem


@dataclass
class WishedGame:
    game: Game
    added_at: datetime


def is_wishlisted(user, game_id: int) -> bool:
    if not (user and user.is_authenticated):
        return False
    return db.session.get(WishlistItem, (user.id, game_id)) is not None


def set_wishlisted(user, game: Game, wanted: bool) -> bool:
    """Put `game` on the user's wishlist or take it off; idempotent, so a double click
    or two tabs never flip it back. Returns the new state."""
    if wanted:
        if db.session.get(WishlistItem, (user.id, game.id)) is None:
            try:
                with db.session.begin_nested():
                    db.session.add(WishlistItem(user_id=user.id, game_id=game.id))
            except IntegrityError:
                pass  # a concurrent request added it first: the state is what we wanted
    else:
        remove(user, game.id, commit=False)
    db.session.commit()
    return wanted


def toggle(user, game: Game) -> bool:
    """Flip the wishlist state of `game`. Returns the new state."""
    return set_wishlisted(user, game, not is_wishlisted(user, game.id))


def remove(user, game_id: int, commit: bool = True) -> bool:
    """Take a game off the wishlist (delisted games too). Returns whether it was there."""
    removed = db.session.execute(
        delete(WishlistItem).where(WishlistItem.user_id == user.id, WishlistItem.game_id == game_id)
    ).rowcount
    if commit:
        db.session.commit()
    return bool(removed)


def wished_games(user) -> list[WishedGame]:
    """The user's wishlist, most recently added first; delisted games are left out."""
    rows = db.session.execute(
        select(Game, WishlistItem.created_at)
        .join(WishlistItem, WishlistItem.game_id == Game.id)
        .where(WishlistItem.user_id == user.id, Game.status == "listed")
        .order_by(WishlistItem.created_at.desc(), Game.id.desc())
    ).all()
    return [WishedGame(game, added_at) for game, added_at in rows]


def count(user) -> int:
    return db.session.scalar(
        select(func.count()).select_from(WishlistItem).join(Game, Game.id == WishlistItem.game_id)
        .where(WishlistItem.user_id == user.id, Game.status == "listed")) or 0
