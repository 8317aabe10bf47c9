"""Catalog jobs: run after a game changes, and on a schedule for sales that start later
and for the daily view counts."""
import logging
from datetime import timedelta

from flask import url_for
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from ..notifications.services import notify_query
from ..timeutil import to_seoul, utcnow
from . import cache, rankings
from .models import Game, GameDailyViews, WishlistItem

log = logging.getLogger(__name__)
VIEWS_BATCH = 5_000  # rows per upsert (3 parameters each, well under PostgreSQL's 65,535)


def after_game_change(game_id: int):
    cache.invalidate_game(game_id)
    game = db.session.get(Game, game_id)
    if game is not None:
        if game.base_game_id:  # the base game's page lists its DLC
            cache.invalidate_game(game.base_game_id)
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
                         {"title": game.title, "price": game.sale_price, "percent": game.discount_percent}, link)
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


def persist_daily_views(now=None) -> int:
    """Daily, after midnight KST: copy the per-day view counts of yesterday and every
    older day Redis still keeps (8 days) into game_daily_views, before the sets expire.
    Each (game, day) row is upserted with the count Redis holds, so running it again,
    or on several days, changes nothing. Today is left alone: it is still counting.
    Games deleted since are skipped. Returns how many rows were written."""
    today = to_seoul(now or utcnow()).date()
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    written = 0
    for back in range(1, rankings.VIEWS_KEEP_DAYS + 1):
        day = today - timedelta(days=back)
        counts = list(rankings.views_on(day).items())
        for start in range(0, len(counts), VIEWS_BATCH):
            chunk = dict(counts[start:start + VIEWS_BATCH])
            known = db.session.scalars(select(Game.id).where(Game.id.in_(list(chunk)))).all()
            if not known:
                continue
            stmt = insert(GameDailyViews).values([{"game_id": gid, "day": day, "views": chunk[gid]} for gid in known])
            db.session.execute(stmt.on_conflict_do_update(index_elements=["game_id", "day"],
                                                          set_={"views": stmt.excluded.views}))
            written += len(known)
        db.session.commit()
    return written
