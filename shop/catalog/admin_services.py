"""Back-office operations: the games a publisher manages, and the categories and tags
an admin curates. Games themselves change only through `services`."""
from dataclasses import dataclass

from flask_babel import gettext as _, lazy_gettext as _l, ngettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..web.numbers import paginate
from ..errors import DomainError
from ..extensions import db
from ..infra.jobs import enqueue_after_commit
from . import cache, typos
from .models import Category, Game, Tag, game_tags
from .services import search_text_for
from .text import slugify, words

GAMES_PER_PAGE = 20


class InvalidTerm(DomainError):
    message = _l("Names need at least one letter or digit.")


class DuplicateTerm(DomainError):
    message = _l("That name is already taken.")


class TermNotFound(DomainError):
    message = _l("That category or tag no longer exists.")


class TermInUse(DomainError):
    message = _l("Games still use it.")


@dataclass
class Removed:
    name: str
    games: int = 0  # games it was taken off


def managed_games(user, page: int = 1, per_page: int = GAMES_PER_PAGE):
    """One page of the games `user` manages (an admin: every game), latest change first."""
    query = select(Game).order_by(Game.updated_at.desc(), Game.id.desc())
    if not user.is_admin:
        query = query.where(Game.publisher_id == user.id)
    return paginate(query, page, per_page)


def catalog_terms() -> tuple[list[Category], list[Tag]]:
    """Every category and tag, by name: the choices of the game form."""
    return (list(db.session.scalars(select(Category).order_by(Category.name))),
            list(db.session.scalars(select(Tag).order_by(Tag.name))))


def categories_with_usage() -> list[tuple[Category, int]]:
    used = func.count(Game.id)
    return db.session.execute(select(Category, used).outerjoin(Game, Game.category_id == Category.id)
                              .group_by(Category.id).order_by(Category.name)).all()


def tags_with_usage() -> list[tuple[Tag, int]]:
    used = func.count(game_tags.c.game_id)
    return db.session.execute(select(Tag, used).outerjoin(game_tags, game_tags.c.tag_id == Tag.id)
                              .group_by(Tag.id).order_by(Tag.name)).all()


def create_category(name: str, name_ko: str | None = None) -> Category:
    """Raises InvalidTerm, DuplicateTerm."""
    return _create(Category, name, "category", name_ko)


def create_tag(name: str, name_ko: str | None = None) -> Tag:
    """Raises InvalidTerm, DuplicateTerm."""
    return _create(Tag, name, "tag", name_ko)


def set_korean_name(model, term_id: int, name_ko: str | None):
    """A term's Korean name (None or blank: pages show the English one). Raises TermNotFound."""
    term = db.session.get(model, term_id)
    if term is None:
        raise TermNotFound()
    term.name_ko = " ".join((name_ko or "").split())[:40] or None
    if model is Tag and term.name_ko:
        typos.remember([term.name_ko])
    enqueue_after_commit(after_term_rename, "tag" if model is Tag else "category", term.id)
    db.session.commit()
    return term


def _create(model, name: str, noun: str, name_ko: str | None = None):
    name = " ".join(name.split())
    name_ko = " ".join((name_ko or "").split())[:40] or None
    if not words(name):
        raise InvalidTerm()
    slug = slugify(name, max_length=60)
    # Same slug means same term to a shopper ("RPG", "rpg", "R.P.G."): refuse rather than suffix.
    clash = db.session.scalar(select(model.name).where((model.slug == slug) | (model.name == name)))
    if clash is not None:
        raise DuplicateTerm(_duplicate(noun, clash))
    term = model(name=name, name_ko=name_ko, slug=slug)
    db.session.add(term)
    if model is Tag:
        typos.remember([name, name_ko or ""])  # "did you mean" knows its words
    try:
        db.session.commit()
    except IntegrityError:  # another admin added it a moment ago
        db.session.rollback()
        raise DuplicateTerm(_duplicate(noun, name))
    return term


def _duplicate(noun: str, name: str) -> str:
    if noun == "category":
        return _("A category called “%(name)s” already exists.", name=name)
    return _("A tag called “%(name)s” already exists.", name=name)


def delete_category(category_id: int) -> Removed:
    """Raises TermNotFound, TermInUse (games must move to another category first)."""
    category = db.session.get(Category, category_id)
    if category is None:
        raise TermNotFound()
    in_use = db.session.scalar(select(func.count()).select_from(Game).where(Game.category_id == category.id))
    if in_use:
        raise TermInUse(ngettext("“%(name)s” can't be deleted: %(num)d game uses it. Move it to another category first.",
                                 "“%(name)s” can't be deleted: %(num)d games use it. Move them to another category first.",
                                 in_use, name=category.name))
    name = category.name
    db.session.delete(category)
    db.session.commit()
    return Removed(name)


def delete_tag(tag_id: int) -> Removed:
    """Delete a tag and take it off every game, whose search text then drops its words.
    Raises TermNotFound."""
    from .tasks import after_game_change

    tag = db.session.get(Tag, tag_id)
    if tag is None:
        raise TermNotFound()
    games = db.session.scalars(select(Game).join(game_tags, game_tags.c.game_id == Game.id)
                               .where(game_tags.c.tag_id == tag.id)).all()
    for game in games:
        game.tags = [t for t in game.tags if t.id != tag.id]
        game.search_text = search_text_for(game.title, game.tags)
        enqueue_after_commit(after_game_change, game.id)  # cached pages list the tag
    name = tag.name
    db.session.delete(tag)
    db.session.commit()
    return Removed(name, len(games))


def after_term_rename(kind: str, term_id: int):
    """A category's or tag's Korean name changed: games with the tag are found by it
    (their search text is rebuilt, in batches), and every cached page may show it."""
    if kind == "tag" and db.session.get(Tag, term_id) is not None:
        ids = db.session.scalars(select(game_tags.c.game_id).where(game_tags.c.tag_id == term_id)).all()
        for start in range(0, len(ids), 1000):
            for game in db.session.scalars(select(Game).where(Game.id.in_(ids[start:start + 1000]))):
                game.search_text = search_text_for(game.title, game.tags)
            db.session.commit()
    cache.invalidate_all()
