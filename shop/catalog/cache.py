"""Rendered catalog fragments and pages cached in Redis, dropped when their game changes.

A fragment is text in one language for one audience, so every key ends with the locale
it was rendered in and whether adults-only covers show (`cache:game:5:detail:ko:all`,
ratings.audience): a Korean page never gets an English fragment, a minor never an adult cover.
Invalidation deletes the known keys of every locale and audience (no SCAN: it costs the
same at any catalog size) and bumps the generations that whole pages are stamped with
(`pagecache.py`).

Rebuilds are single-flight: a rendered value is also kept, longer, as a stale copy
(`stale:<key>`). When the fresh key is missing, one request takes a short lock and
renders; the others serve the stale copy meanwhile, or wait briefly for the renderer
when there is none.

A cache is an optimisation: when Redis is unreachable the fragment is rendered
fresh instead of failing the page."""
import logging
import time

from redis.exceptions import RedisError

from ..infra.locales import LOCALES
from ..infra.redisconn import redis_clients
from ..web.i18n import current_locale

log = logging.getLogger(__name__)
PREFIX = "cache:"
STALE = "stale:"
LOCK = "lock:"
STALE_SECONDS = 3600   # how long a stale copy may stand in while one request rebuilds
LOCK_SECONDS = 30      # a renderer that died lets another try after this
WAIT_SECONDS = 2.0     # with no copy at all, how long the others wait for the renderer
GAME_PARTS = ("detail", "price", "body")
AUDIENCES = ("all", "adult")  # ratings.audience(): whether adults-only covers show
LIST_KEYS = ("home:featured", "home:offers", "home:rankings", "home:new")
GENERATION = PREFIX + "gen"  # bumped on any change: every list and page


def game_key(game_id: int, part: str) -> str:
    return f"{PREFIX}game:{game_id}:{part}"


def game_generation_key(game_id: int) -> str:
    return f"{GENERATION}:game:{game_id}"


def localized(key: str, locale: str | None = None, audience: str | None = None) -> str:
    """The Redis key of `key` as rendered in `locale` (the request's by default) for an
    audience (ratings.audience: whether adults-only covers show; the request's viewer's)."""
    from .ratings import audience as viewer_audience

    return f"{key}:{locale or current_locale()}:{audience or viewer_audience()}"


def generations(keys: list[str]) -> str:
    """A stamp of the current generations of `keys` ("3.17"); changes when any is bumped."""
    return _stamp(redis_clients.store.mget(keys))


def _stamp(values) -> str:
    return ".".join(v or "0" for v in values)


def get_or_render(key: str, ttl: int, render) -> str:
    """Return the cached string for `key` in the current locale, or render, store and
    return it (single-flight)."""
    return single_flight(localized(key), ttl, render)


def single_flight(key: str, ttl, render, facts: list[str] = (), also: dict | None = None) -> str:
    """The value at `key` if it is fresh (and stamped with the current generations of
    `facts`), else rendered by one request while the others serve the previous copy.
    The generations and the value come in one MGET: a hit is one round trip. The stale
    copy is asked for only when the value is missing or out of date. `ttl` is seconds, or
    a function returning them, called only when rendering. `also` ({key: None}) gets the
    values of more keys from the same MGET."""
    r = redis_clients.store
    extra = list(also or ())
    try:
        values = r.mget(*facts, key, *extra)
    except RedisError:
        log.warning("cache unavailable; rendering %s fresh", key)
        return render()
    if extra:
        also.update(zip(extra, values[len(values) - len(extra):]))
        values = values[:len(values) - len(extra)]
    *current, fresh = values
    stamp = _stamp(current) if facts else ""
    if fresh is not None and is_stamped(fresh, stamp):
        return body_of(fresh, stamp)
    try:
        previous = fresh if fresh is not None else r.get(STALE + key)
        leader = r.set(LOCK + key, "1", nx=True, ex=LOCK_SECONDS)
    except RedisError:
        return render()
    if leader:
        try:
            return _store(r, key, ttl, render, stamp)
        finally:
            _quietly(r.delete, LOCK + key)
    if previous is not None:
        return body_of(previous, _stamp_of(previous) if stamp else "")
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.02)
        try:
            fresh = r.get(key)
        except RedisError:
            break
        if fresh is not None and is_stamped(fresh, stamp):
            return body_of(fresh, stamp)
    return render()


def _store(r, key, ttl, render, stamp) -> str:
    body = render()
    seconds = max(1, int(ttl() if callable(ttl) else ttl))
    value = f"{stamp}\x00{body}" if stamp else body
    try:
        pipe = r.pipeline(transaction=False)
        pipe.set(key, value, ex=seconds)
        pipe.set(STALE + key, value, ex=seconds + STALE_SECONDS)
        pipe.execute()
    except RedisError:
        pass
    return body


def is_stamped(value: str, stamp: str) -> bool:
    """Does the cached `value` carry `stamp` (any value does when there is no stamp)?"""
    return not stamp or value.startswith(stamp + "\x00")


def _stamp_of(value: str) -> str:
    return value.split("\x00", 1)[0] if "\x00" in value else ""


def body_of(value: str, stamp: str) -> str:
    """The cached `value` without its stamp."""
    return value[len(stamp) + 1:] if stamp else value


def _quietly(call, *args):
    try:
        call(*args)
    except RedisError:
        pass


def invalidate_game(game_id: int):
    """Drop every cached fragment of one game and the lists it may appear in, and bump the
    generations so cached pages showing it are rebuilt (their stale copies stay, for
    single-flight)."""
    r = redis_clients.store
    keys = [localized(game_key(game_id, part), locale, audience)
            for part in GAME_PARTS for locale in LOCALES for audience in AUDIENCES]
    keys += [localized(PREFIX + "lists:" + name, locale, audience)
             for name in LIST_KEYS for locale in LOCALES for audience in AUDIENCES]
    pipe = r.pipeline(transaction=False)
    pipe.delete(*keys)
    pipe.incr(GENERATION)
    pipe.incr(game_generation_key(game_id))
    pipe.execute()


def invalidate_all():
    """Drop every cached fragment and page (a category or tag was renamed: any page may
    show it), stale copies included, and bump the generation."""
    r = redis_clients.store
    keys = [k for pattern in (f"{PREFIX}game:*", f"{PREFIX}lists:*", "page:*", f"{STALE}*")
            for k in r.scan_iter(match=pattern, count=1000)]
    for start in range(0, len(keys), 1000):
        r.delete(*keys[start:start + 1000])
    r.incr(GENERATION)
