"""The one rule for ownership, and the only writers of it.

A copy bought before its game's release date is a pre-order: owned (it counts for
`owns`), but `awaiting_release` until the release job (library/release.py) unlocks it.
Downloads and product keys ask `playable(entry)` / `released(game)`."""
from datetime import datetime

from sqlalchemy import and_, select, update

from ..accounts.age import is_adult
from ..catalog import ratings
from ..catalog.models import Game
from ..extensions import db
from ..infra import memberview
from ..timeutil import seoul_today
from .models import LibraryEntry


def owns(user_id: int, game_id: int) -> bool:
    """The user holds an unrevoked copy of the game."""
    return bool(owned_game_ids(user_id, [game_id]))


def owned_game_ids(user_id: int, game_ids: list[int] | None, limit: int | None = None) -> set[int]:
    """Which of `game_ids` the user owns (one query); `None`: all they own, at most `limit`."""
    if game_ids is not None and not game_ids:
        return set()
    q = select(LibraryEntry.game_id).where(LibraryEntry.user_id == user_id, LibraryEntry.revoked_at.is_(None))
    if game_ids is not None:
        q = q.where(LibraryEntry.game_id.in_(game_ids))
    return set(db.session.scalars(q.limit(limit) if limit else q))


def revoked_owner_ids(game_id: int, user_ids: list[int]) -> set[int]:
    """Which of `user_ids` bought the game and had the purchase refunded."""
    if not user_ids:
        return set()
    return set(db.session.scalars(select(LibraryEntry.user_id).where(
        LibraryEntry.game_id == game_id, LibraryEntry.user_id.in_(user_ids),
        LibraryEntry.revoked_at.is_not(None))))


def grant(user_id: int, order_id: int, game_ids: list[int], now: datetime):
    """Give the user the games of a paid order, in the caller's transaction. A copy
    revoked by an earlier refund is granted again (a re-purchase). A game not out yet
    is granted as a pre-order (awaiting_release)."""
    upcoming = set(db.session.scalars(select(Game.id).where(
        Game.id.in_(game_ids), Game.release_date > seoul_today(now)))) if game_ids else set()
    existing = {e.game_id: e for e in db.session.scalars(select(LibraryEntry).where(
        LibraryEntry.user_id == user_id, LibraryEntry.game_id.in_(game_ids)))}
    for game_id in game_ids:
        entry = existing.get(game_id)
        if entry is None:
            db.session.add(LibraryEntry(user_id=user_id, game_id=game_id, order_id=order_id, granted_at=now,
                                        awaiting_release=game_id in upcoming))
        elif entry.revoked_at is not None:
            entry.revoked_at, entry.order_id, entry.granted_at = None, order_id, now
            entry.awaiting_release = game_id in upcoming


def revoke(order_id: int, now: datetime):
    """Take back what an order granted (a refund), in the caller's transaction."""
    _revoke(LibraryEntry.order_id == order_id, now)


def revoke_game(order_id: int, game_id: int, now: datetime):
    """Take back one game an order granted (a per-game refund), in the caller's transaction."""
    _revoke(and_(LibraryEntry.order_id == order_id, LibraryEntry.game_id == game_id), now)


def _revoke(which, now: datetime):
    owners = db.session.scalars(update(LibraryEntry).where(which, LibraryEntry.revoked_at.is_(None))
                                .values(revoked_at=now).returning(LibraryEntry.user_id)
                                .execution_options(synchronize_session=False, member_views_named=True)).all()
    memberview.changed(owners)  # their cached marks say "owned"


def entries(user_id: int) -> list[LibraryEntry]:
    """The user's games, newest first."""
    return db.session.scalars(select(LibraryEntry).where(
        LibraryEntry.user_id == user_id, LibraryEntry.revoked_at.is_(None))
        .order_by(LibraryEntry.granted_at.desc())).all()


def missing_base_games(user_id: int, games, also_buying=()) -> list:
    """(DLC, base game) for each of `games` that is DLC of a base game the user neither
    owns nor is buying along with it (`also_buying`: game ids of the same cart)."""
    from ..catalog.models import Game

    dlcs = [g for g in games if g.base_game_id]
    if not dlcs:
        return []
    base_ids = {g.base_game_id for g in dlcs}
    have = owned_game_ids(user_id, list(base_ids)) | set(also_buying)
    bases = {g.id: g for g in db.session.scalars(select(Game).where(Game.id.in_(base_ids)))}
    return [(g, bases[g.base_game_id]) for g in dlcs if g.base_game_id not in have and g.base_game_id in bases]


def grouped(entries_list) -> list[tuple]:
    """The library as (entry, [DLC entries]) for display: each owned DLC under its base
    game when the base is owned; a DLC whose base is not owned stands alone (the page
    says it needs the base game)."""
    by_game = {e.game_id: e for e in entries_list}
    children: dict[int, list] = {}
    top = []
    for entry in entries_list:
        base_id = entry.game.base_game_id
        if base_id and base_id in by_game:
            children.setdefault(base_id, []).append(entry)
        else:
            top.append(entry)
    return [(entry, children.get(entry.game_id, [])) for entry in top]


def released(game) -> bool:
    """The game is out (its release date has come in Korea). Whether a pre-ordered copy
    is unlocked is the entry's business: see `playable`."""
    return not ratings.coming_soon(game)


def playable(entry: LibraryEntry, user=None, today=None) -> bool:
    """May the owner download / play / see the key of this copy now: not revoked, unlocked
    by the release job, and, for an adults-only game, owned by a verified adult (the
    downloads domain asks this before it hands out a file)."""
    owner = user if user is not None else entry.user
    return (entry.revoked_at is None and not entry.awaiting_release
            and (not ratings.is_adult_only(entry.game) or is_adult(owner, today)))


def awaiting_release(order_id: int) -> bool:
    """Does the order hold a pre-order still waiting for its release (refundable then)."""
    return db.session.scalar(select(LibraryEntry.id).where(
        LibraryEntry.order_id == order_id, LibraryEntry.revoked_at.is_(None),
        LibraryEntry.awaiting_release.is_(True)).limit(1)) is not None
