"""Cart operations. Raise CartError subclasses with a message the page shows."""
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..catalog.models import Game
from ..errors import DomainError
from ..extensions import db
from .models import CartItem

MAX_ITEMS = 50


class CartError(DomainError):
    pass


def cart_items(user) -> list[CartItem]:
    return list(db.session.scalars(select(CartItem).where(CartItem.user_id == user.id)
                                   .order_by(CartItem.added_at)))


def cart_games(user) -> list[Game]:
    return [item.game for item in cart_items(user)]


def cart_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(CartItem).where(CartItem.user_id == user_id))


def in_cart(user_id: int, game_id: int) -> bool:
    return db.session.get(CartItem, (user_id, game_id)) is not None


def add_to_cart(user, game: Game) -> CartItem:
    """Raises CartError for delisted, owned, already-carted games or a full cart."""
    from ..orders.services import owned_game_ids

    if not game.is_listed:
        raise CartError(f"{game.title} is not for sale.")
    if owned_game_ids(user.id, [game.id]):
        raise CartError(f"You already own {game.title}.")
    if in_cart(user.id, game.id):
        raise CartError(f"{game.title} is already in your cart.")
    if cart_count(user.id) >= MAX_ITEMS:
        raise CartError(f"Your cart is full ({MAX_ITEMS} games).")
    item = CartItem(user_id=user.id, game_id=game.id)
    db.session.add(item)
    try:
        db.session.commit()
    except IntegrityError:  # a double click raced us
        db.session.rollback()
        raise CartError(f"{game.title} is already in your cart.")
    return item


def remove_from_cart(user, game_id: int) -> bool:
    deleted = db.session.execute(CartItem.__table__.delete().where(
        CartItem.user_id == user.id, CartItem.game_id == game_id)).rowcount
    db.session.commit()
    return bool(deleted)
