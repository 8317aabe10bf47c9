"""Catalog operations: games are created and changed only through these functions,
which keep slugs, the search text, caches and wishlist notices consistent."""
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from ..errors import DomainError
from ..extensions import db
from ..infra.images import reencode_image
from ..infra.jobs import enqueue_after_commit
from ..infra.storage import get_storage
from ..timeutil import seoul_today, utcnow
from ..web.i18n import won
from . import typos
from .models import Category, Game, GameSlug, Screenshot, Tag
from .text import hangul_grams, slugify, words

log = logging.getLogger(__name__)

MAX_SCREENSHOTS = 10
IMAGE_MAX_BYTES = 8 * 1024 * 1024
COVER_BOX = (920, 430)  # Steam-like capsule, 2.14:1
SCREENSHOT_BOX = (1920, 1080)


class GameNotFound(DomainError):
    message = _l("That game does not exist.")


class NotOwner(DomainError):
    message = _l("Only the game’s publisher or an admin may change it.")


class InvalidGame(DomainError):
    message = _l("Some details of the game are not valid.")


class TooManyScreenshots(DomainError):
    message = _l("A game can have at most %(num)d screenshots.", num=MAX_SCREENSHOTS)


@dataclass
class GameInput:
    title: str
    price: int
    short_description: str = ""
    description: str = ""
    sale_price: int | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    release_date: date | None = None
    category_id: int | None = None
    tag_ids: list[int] = field(default_factory=list)
    base_game_id: int | None = None
    age_rating: str = "all"
    preorder_allowed: bool = False


def can_edit(user, game: Game) -> bool:
    return bool(user and user.is_authenticated and (user.is_admin or game.publisher_id == user.id))


def _check(data: GameInput):
    if data.price < 0 or data.price > 10_000_000:
        raise InvalidGame(_("Price must be between %(low)s and %(high)s.", low=won(0), high=won(10_000_000)))
    if data.sale_price is not None:
        if data.sale_price < 0 or data.sale_price >= data.price:
            raise InvalidGame(_("The sale price must be lower than the regular price."))
        if data.sale_starts_at and data.sale_ends_at and data.sale_ends_at <= data.sale_starts_at:
            raise InvalidGame(_("The sale must end after it starts."))
    elif data.sale_starts_at or data.sale_ends_at:
        raise InvalidGame(_("Set a sale price for the sale period."))
    if data.age_rating not in ("all", "12", "15", "19"):
        raise InvalidGame(_("Choose an age rating from the list."))
    if data.category_id is not None and db.session.get(Category, data.category_id) is None:
        raise InvalidGame(_("Choose an existing category."))


def _check_base(game: Game, publisher_id: int, base_game_id: int | None):
    """A DLC's base game is another game of the same publisher that is not DLC itself,
    and a game with DLC of its own can't become DLC (one level)."""
    if base_game_id is None:
        return
    base = db.session.get(Game, base_game_id)
    if base is None or base.id == game.id or base.base_game_id is not None or base.publisher_id != publisher_id:
        raise InvalidGame(_("Choose one of your own games (not a DLC) as the base game."))
    if game.id is not None and db.session.scalar(select(Game.id).where(Game.base_game_id == game.id).limit(1)):
        raise InvalidGame(_("This game has DLC of its own, so it can't be DLC of another game."))


def base_game_choices(publisher_id: int, exclude_id: int | None = None) -> list[Game]:
    """Games of the publisher that can be a base game (not DLC themselves)."""
    query = select(Game).where(Game.publisher_id == publisher_id, Game.base_game_id.is_(None))
    if exclude_id is not None:
        query = query.where(Game.id != exclude_id)
    return db.session.scalars(query.order_by(Game.title).limit(500)).all()


def search_text_for(title: str, tags: list[Tag]) -> str:
    return " ".join(words(title) + [w for tag in tags for w in words(tag.name) + words(tag.name_ko or "")])


def title_grams_for(title: str) -> str:
    return " ".join(hangul_grams(title))


def unique_slug(title: str, game_id: int | None = None) -> str:
    base = slugify(title)
    candidate, n = base, 2
    while True:
        taken = db.session.scalar(select(Game.id).where(Game.slug == candidate))
        old = db.session.scalar(select(GameSlug.game_id).where(GameSlug.slug == candidate))
        if (taken is None or taken == game_id) and (old is None or old == game_id):
            return candidate
        candidate, n = f"{base}-{n}", n + 1


def _apply(game: Game, data: GameInput):
    sale_before = (game.sale_price, game.sale_starts_at, game.sale_ends_at)
    game.title = data.title.strip()
    game.short_description = data.short_description.strip()
    game.description = data.description
    game.price = data.price
    game.sale_price = data.sale_price
    game.sale_starts_at = data.sale_starts_at if data.sale_price is not None else None
    game.sale_ends_at = data.sale_ends_at if data.sale_price is not None else None
    game.release_date = data.release_date or seoul_today()
    if game.release_date > seoul_today():
        game.release_announced_at = None  # coming soon (again): the release job tells buyers and wishers
    elif game.id is None:
        game.release_announced_at = utcnow()  # new and already out: nobody to tell
    game.age_rating = data.age_rating
    game.preorder_allowed = data.preorder_allowed
    game.category_id = data.category_id
    game.base_game_id = data.base_game_id
    game.tags = list(db.session.scalars(select(Tag).where(Tag.id.in_(data.tag_ids)))) if data.tag_ids else []
    game.search_text = search_text_for(game.title, game.tags)
    game.title_grams = title_grams_for(game.title)
    typos.remember([game.title])  # "did you mean" knows its words
    if (game.sale_price, game.sale_starts_at, game.sale_ends_at) != sale_before:
        game.sale_announced_at = None  # a new sale: wishers hear about it when it starts


def create_game(publisher, data: GameInput) -> Game:
    """Raises InvalidGame."""
    _check(data)
    game = Game(publisher_id=publisher.id, slug=unique_slug(data.title), status="listed")
    _check_base(game, publisher.id, data.base_game_id)
    _apply(game, data)
    db.session.add(game)
    db.session.flush()
    _after_change(game)
    db.session.commit()
    return game


def update_game(user, game: Game, data: GameInput) -> Game:
    """Raises NotOwner, InvalidGame. A new title gets a new slug; the old one redirects."""
    if not can_edit(user, game):
        raise NotOwner()
    _check(data)
    _check_base(game, game.publisher_id, data.base_game_id)
    old_slug = game.slug
    _apply(game, data)
    new_slug = unique_slug(game.title, game.id) if slugify(game.title) != slugify_base(old_slug) else old_slug
    if new_slug != old_slug:
        db.session.merge(GameSlug(slug=old_slug, game_id=game.id))
        game.slug = new_slug
    _after_change(game)
    db.session.commit()
    return game


def slugify_base(slug: str) -> str:
    """The slug without a `-2` style suffix added for uniqueness."""
    head, _, tail = slug.rpartition("-")
    return head if head and tail.isdigit() else slug


def set_listed(user, game: Game, listed: bool) -> Game:
    """Delist (hidden from the store, still owned by buyers) or relist. Raises NotOwner."""
    if not can_edit(user, game):
        raise NotOwner()
    game.status = "listed" if listed else "delisted"
    _after_change(game)
    db.session.commit()
    return game


def set_cover(user, game: Game, stream) -> str:
    """Raises NotOwner, images.InvalidImage."""
    if not can_edit(user, game):
        raise NotOwner()
    data = reencode_image(stream, max_bytes=IMAGE_MAX_BYTES, box=COVER_BOX, square=False)
    key = f"games/{game.id}/cover-{uuid.uuid4().hex}.webp"
    get_storage().save(key, data, "image/webp")
    old, game.cover_key = game.cover_key, key
    _after_change(game)
    db.session.commit()
    _delete_quietly(old)
    return key


def add_screenshot(user, game: Game, stream) -> Screenshot:
    """Raises NotOwner, TooManyScreenshots, images.InvalidImage."""
    if not can_edit(user, game):
        raise NotOwner()
    if len(game.screenshots) >= MAX_SCREENSHOTS:
        raise TooManyScreenshots()
    data = reencode_image(stream, max_bytes=IMAGE_MAX_BYTES, box=SCREENSHOT_BOX, square=False)
    key = f"games/{game.id}/shot-{uuid.uuid4().hex}.webp"
    get_storage().save(key, data, "image/webp")
    shot = Screenshot(key=key, position=max((s.position for s in game.screenshots), default=-1) + 1)
    game.screenshots.append(shot)
    _after_change(game)
    db.session.commit()
    return shot


def remove_screenshot(user, game: Game, screenshot_id: int):
    """Raises NotOwner, GameNotFound (for an unknown screenshot)."""
    if not can_edit(user, game):
        raise NotOwner()
    shot = next((s for s in game.screenshots if s.id == screenshot_id), None)
    if shot is None:
        raise GameNotFound(_("No such screenshot."))
    game.screenshots.remove(shot)
    _after_change(game)
    db.session.commit()
    _delete_quietly(shot.key)


def _delete_quietly(key: str | None):
    if not key:
        return
    try:
        get_storage().delete(key)
    except Exception:
        log.exception("could not delete stored file %s", key)


def _after_change(game: Game):
    """After the commit: drop cached pages of this game, announce a sale that has started."""
    from .tasks import after_game_change

    enqueue_after_commit(after_game_change, game.id)
    game.updated_at = utcnow()


def find_game(slug: str, include_delisted: bool = False) -> tuple[Game | None, str | None]:
    """Returns (game, None) for a current slug, (None, current slug) for an old one,
    (None, None) when unknown."""
    game = db.session.scalar(select(Game).where(Game.slug == slug))
    if game is not None:
        if not game.is_listed and not include_delisted:
            return None, None
        return game, None
    game_id = db.session.scalar(select(GameSlug.game_id).where(GameSlug.slug == slug))
    if game_id is not None:
        current = db.session.get(Game, game_id)
        if current is not None and (current.is_listed or include_delisted):
            return None, current.slug
    return None, None


def cache_ttl() -> int:
    return current_app.config.get("CATALOG_CACHE_TTL", 300)


def dlc_of(game: Game) -> list[Game]:
    """The listed DLC of a base game, oldest first."""
    return db.session.scalars(select(Game).where(Game.base_game_id == game.id, Game.status == "listed")
                              .order_by(Game.release_date, Game.id).limit(50)).all()
