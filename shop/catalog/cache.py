"""Rendered catalog fragments cached in Redis, dropped when their game changes.

A cache is an optimisation: when Redis is unreachable the fragment is rendered
fresh instead of failing the page."""
import logging

from redis.exceptions import RedisError

from ..infra.redisconn import redis_clients

log = logging.getLogger(__name__)
PREFIX = "cache:"


def game_key(game_id: int, part: str) -> str:
    return f"{PREFIX}game:{game_id}:{part}"


def get_or_render(key: str, ttl: int, render) -> str:
    """Return the cached string for `key`, or render, store and return it."""
    r = redis_clients.store
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
