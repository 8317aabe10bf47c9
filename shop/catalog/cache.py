"""Rendered catalog fragments cached in Redis, dropped when their game changes.

A fragment is text in one language for one audience, so every key ends with the locale
it was rendered in and whether adults-only covers show (`cache:game:5:detail:ko:all`,
ratings.audience): a Korean page never gets an English fragment, a minor never an adult cover.
Invalidation matches every locale with the patterns below.

A cache is an optimisation: when Redis is unreachable the fragment is rendered
fresh instead of failing the page."""
import logging

from redis.exceptions import RedisError

from ..infra.redisconn import redis_clients
from ..web.i18n import current_locale

log = logging.getLogger(__name__)
PREFIX = "cache:"


def game_key(game_id: int, part: str) -> str:
    return f"{PREFIX}game:{game_id}:{part}"


def localized(key: str, locale: str | None = None, audience: str | None = None) -> str:
    """The Redis key of `key` as rendered in `locale` (the request's by default) for an
    audience (ratings.audience: whether adults-only covers show; the request's viewer's)."""
    from .ratings import audience as viewer_audience

    return f"{key}:{locale or current_locale()}:{audience or viewer_audience()}"


def get_or_render(key: str, ttl: int, render) -> str:
    """Return the cached string for `key` in the current locale, or render, store and
    return it."""
    r = redis_clients.store
    key = localized(key)
    try:
        cached = r.get(key)
    except RedisError:
        log.warning("cache unavailable; rendering %s fresh", key)
        return render()
    if cached is not None:
        return cached
    value = render()
    try:
        r.set(key, value, ex=ttl)
    except RedisError:
        pass
    return value


def invalidate_game(game_id: int):
    """Drop every cached fragment of one game, and the lists it may appear in."""
    r = redis_clients.store
    keys = list(r.scan_iter(match=f"{PREFIX}game:{game_id}:*", count=500))
    keys += list(r.scan_iter(match=f"{PREFIX}lists:*", count=500))
    if keys:
        r.delete(*keys)
