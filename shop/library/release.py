"""Release day: the cron job that unlocks pre-orders and tells people a game is out.

`release_due_games` (cron `library-release-games`, every 5 minutes, so a game comes out
within minutes of midnight Korea time on its release date) finds games whose release
date has come and whose release nobody was told about (`games.release_announced_at`
is NULL). For each it claims the announcement with a compare-and-set UPDATE, so two
runs (or two schedulers) never both send it; then, in the same transaction, it unlocks
every pre-ordered copy (`awaiting_release` → false: keys show, downloads open), writes
each pre-order buyer a notification and an email row (the outbox), and notifies the
wishers who don't own the game. Running it again changes nothing. A game saved with a
future date gets its marker cleared by the catalog, so a postponed game is announced
when its new date comes.
"""
import logging
from datetime import datetime

from flask import url_for
from sqlalchemy import select, update

from ..accounts.models import User
from ..catalog import cache
from ..catalog.models import Game, WishlistItem
from ..extensions import db
from ..infra.jobs import call_after_commit
from ..infra.mail import queue_email
from ..notifications.services import notify, notify_query
from ..timeutil import seoul_today, utcnow
from .models import LibraryEntry

log = logging.getLogger(__name__)


def due_game_ids(now: datetime) -> list[int]:
    return db.session.scalars(select(Game.id).where(
        Game.release_announced_at.is_(None), Game.release_date <= seoul_today(now)).order_by(Game.id)).all()


def release_due_games(now: datetime | None = None) -> dict:
    """Cron: release every game whose day has come. Returns counts (games, buyers, wishers)."""
    now = now or utcnow()
    ids = due_game_ids(now)
    db.session.commit()
    summary = {"games": 0, "buyers": 0, "wishers": 0}
    for game_id in ids:
        try:
            result = release_game(game_id, now)
        except Exception:  # one broken game must not hold back the others
            log.exception("releasing game %s failed", game_id)
            db.session.rollback()
            continue
        if result is not None:
            summary["games"] += 1
            summary["buyers"] += result[0]
            summary["wishers"] += result[1]
    return summary


def release_game(game_id: int, now: datetime) -> tuple[int, int] | None:
    """Unlock and announce one game, once. Returns (buyers told, wishers told), or None
    if it is not due or someone else announced it."""
    claimed = db.session.execute(update(Game).where(
        Game.id == game_id, Game.release_announced_at.is_(None), Game.release_date <= seoul_today(now))
        .values(release_announced_at=now).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        db.session.rollback()
        return None
    game = db.session.get(Game, game_id)
    buyers = db.session.execute(select(User.id, User.email, User.nickname).join(
        LibraryEntry, LibraryEntry.user_id == User.id).where(
        LibraryEntry.game_id == game_id, LibraryEntry.awaiting_release.is_(True),
        LibraryEntry.revoked_at.is_(None), User.status == "active").order_by(User.id)).all()
    db.session.execute(update(LibraryEntry).where(LibraryEntry.game_id == game_id,
                                                  LibraryEntry.awaiting_release.is_(True))
                       .values(awaiting_release=False).execution_options(synchronize_session=False))
    link = _game_link(game)
    for user_id, email, nickname in buyers:
        notify(user_id, "preorder_released", {"title": game.title}, "/library")
        queue_email(email, "preorder_released", nickname=nickname, title=game.title, link=link)
    owners = select(LibraryEntry.user_id).where(LibraryEntry.game_id == game_id, LibraryEntry.revoked_at.is_(None))
    wishers = select(WishlistItem.user_id).where(WishlistItem.game_id == game_id,
                                                 WishlistItem.user_id.not_in(owners)).subquery()
    told = notify_query(wishers, "wishlist_released", {"title": game.title}, link) if game.is_listed else 0
    call_after_commit(lambda: _drop_cached_pages(game_id))
    db.session.commit()
    return len(buyers), told


def _drop_cached_pages(game_id: int):
    """"Coming soon" leaves the cached pages. Redis down: they expire with their TTL."""
    try:
        cache.invalidate_game(game_id)
    except Exception:
        log.warning("could not drop the cached pages of released game %s", game_id)


def _game_link(game: Game) -> str:
    try:
        return url_for("catalog.game_page", slug=game.slug, _external=True)
    except RuntimeError:  # a job without SERVER_NAME: the path (the site's address is not known here)
        return f"/games/{game.slug}"
