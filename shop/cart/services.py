"""Cart operations. Raise CartError subclasses with a message the page shows.

Each refusal also says what the game's cart button should become (`state`:
buy | preorder | in_cart | owned | sold_out | coming_soon | adult_only | unavailable), so
views never guess it from the message. Coming-soon games are sold only as pre-orders the
publisher allows, adults-only games only to verified adults (catalog/ratings.py).
"""
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..catalog import ratings
from ..catalog.models import Game
from ..errors import DomainError
from ..extensions import db
from ..library.keys import sold_out_ids
from .models import CartItem

MAX_ITEMS = 50


class CartError(DomainError):
    state = "buy"


class NotForSale(CartError):
    state = "unavailable"


class AlreadyOwned(CartError):
    state = "owned"


class AlreadyInCart(CartError):
    state = "in_cart"


class CartFull(CartError):
    state = "buy"


class NeedsBaseGame(CartError):
    state = "buy"


class ComingSoon(CartError):
    state = "coming_soon"


class AdultsOnly(CartError):
    state = "adult_only"


def _sale_state(game) -> str:
    """buy, preorder or coming_soon, from the release date alone."""
    if not ratings.coming_soon(game):
        return "buy"
    return "preorder" if game.preorder_allowed else "coming_soon"


def cart_items(user) -> list[CartItem]:
    return list(db.session.scalars(select(CartItem).where(CartItem.user_id == user.id)
                                   .order_by(CartItem.added_at, CartItem.game_id)))


def cart_games(user) -> list[Game]:
    return [item.game for item in cart_items(user)]


def cart_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(CartItem).where(CartItem.user_id == user_id))


def in_cart(user_id: int, game_id: int) -> bool:
    return db.session.get(CartItem, (user_id, game_id)) is not None


def cart_states(user, games) -> dict[int, str]:
    """The cart button state of each game for `user` (anonymous: buy), in two queries,
    for the game page and game lists: `{% include "cart/_button.html" %}` with `state`."""
    from ..library.services import owned_game_ids

    games = list(games)
    ids = [g.id for g in games]
    states = {g.id: _sale_state(g) if g.is_listed else "unavailable" for g in games}
    for game_id in sold_out_ids(ids):
        if states[game_id] in ("buy", "preorder"):
            states[game_id] = "sold_out"
    if not ids or user is None or not getattr(user, "is_authenticated", False):
        return states
    for game in games:
        if states[game.id] in ("buy", "preorder") and ratings.is_adult_only(game) and not ratings.is_adult(user):
            states[game.id] = "adult_only"
    carted = set(db.session.scalars(select(CartItem.game_id).where(
        CartItem.user_id == user.id, CartItem.game_id.in_(ids))))
    owned = owned_game_ids(user.id, ids)
    for game_id in ids:
        if game_id in owned:
            states[game_id] = "owned"
        elif game_id in carted:
            states[game_id] = "in_cart"
    return states


def owned_or_carted(user, game_ids: list[int] | None) -> dict[int, str] | None:
    """`{game id: "owned" | "in_cart"}` for those of `game_ids` the user owns or has in the
    cart (two indexed queries): the viewer's part of cart_states, for cached pages.
    `game_ids=None`: every game the user owns or has in the cart, or None past
    ALL_MARKS_CAP of them (the caller then asks page by page)."""
    from ..library.services import owned_game_ids

    if game_ids is None:
        carted = db.session.scalars(select(CartItem.game_id).where(CartItem.user_id == user.id))
        owned = owned_game_ids(user.id, None, limit=ALL_MARKS_CAP + 1)
        if len(owned) > ALL_MARKS_CAP:
            return None
    else:
        carted = db.session.scalars(select(CartItem.game_id).where(
            CartItem.user_id == user.id, CartItem.game_id.in_(game_ids)))
        owned = owned_game_ids(user.id, game_ids)
    marks = {game_id: "in_cart" for game_id in carted}
    marks.update((game_id, "owned") for game_id in owned)
    return marks


ALL_MARKS_CAP = 5000


def add_to_cart(user, game: Game) -> CartItem:
    """Put `game` in the user's cart. Raises NotForSale, ComingSoon, AdultsOnly,
    AlreadyOwned, AlreadyInCart, CartFull."""
    from ..library.services import missing_base_games, owned_game_ids

    if not game.is_listed:
        raise NotForSale(_("%(title)s is not for sale.", title=game.title))
    try:
        ratings.check_release(game)
    except ratings.NotReleased as exc:
        raise ComingSoon(exc.message)
    try:
        ratings.check_buyer(user, game)
    except ratings.AdultOnly as exc:
        raise AdultsOnly(exc.message)
    if sold_out_ids([game.id]):
        raise NotForSale(_("%(title)s is sold out.", title=game.title))
    if owned_game_ids(user.id, [game.id]):
        raise AlreadyOwned(_("You already own %(title)s.", title=game.title))
    if in_cart(user.id, game.id):
        raise AlreadyInCart(_("%(title)s is already in your cart.", title=game.title))
    if game.base_game_id:
        carted = db.session.scalars(select(CartItem.game_id).where(CartItem.user_id == user.id)).all()
        orphans = missing_base_games(user.id, [game], also_buying=carted)
        if orphans:
            raise NeedsBaseGame(_("%(dlc)s is DLC for %(base)s: add %(base)s to your cart first, or buy it.",
                                  dlc=game.title, base=orphans[0][1].title))
    if cart_count(user.id) >= MAX_ITEMS:
        raise CartFull(_("Your cart is full (%(count)s games).", count=MAX_ITEMS))
    item = CartItem(user_id=user.id, game_id=game.id)
    db.session.add(item)
    try:
        db.session.commit()
    except IntegrityError:  # a double click raced us to the primary key
        db.session.rollback()
        raise AlreadyInCart(_("%(title)s is already in your cart.", title=game.title))
    return item


def remove_from_cart(user, game_id: int) -> bool:
    """Take a game out of the cart; False if it was not there."""
    deleted = db.session.execute(CartItem.__table__.delete().where(
        CartItem.user_id == user.id, CartItem.game_id == game_id)).rowcount
    db.session.commit()
    return bool(deleted)
