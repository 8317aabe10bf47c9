"""Rankings kept in Redis sorted sets: all-time top sellers and 7-day trending.

`rank:sales` scores games by copies sold. Page views go into one sorted set per
Korean calendar day (`rank:views:YYYYMMDD`, kept 8 days); trending is the union of
the last seven of them, stored for a minute under `rank:trending:YYYYMMDD` so busy
home pages share one ZUNIONSTORE.

Rankings are decoration: when Redis is unreachable every reader returns an empty
list and every writer does nothing, so pages still render.
"""
import hashlib
import logging
from datetime import date, datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError

from ..infra.redisconn import redis_clients
from ..timeutil import to_seoul, utcnow

log = logging.getLogger(__name__)

SALES_KEY = "rank:sales"
VIEWS_PREFIX = "rank:views:"
SEEN_PREFIX = "rank:seen:"
TRENDING_PREFIX = "rank:trending:"
WINDOW_DAYS = 7
VIEWS_KEEP_DAYS = 8
VIEWS_KEEP_SECONDS = VIEWS_KEEP_DAYS * 24 * 3600
TRENDING_CACHE_SECONDS = 60
MAX_RANKED = 100

# One round trip: count the view unless this visitor was already counted today.
_RECORD_VIEW = """
if ARGV[2] ~= '' and not redis.call('SET', KEYS[2], '1', 'NX', 'EX', 86400) then
  return 0
end
redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def day_key(day: datetime) -> str:
    """The per-day view set for the Korean calendar day containing `day`."""
    return VIEWS_PREFIX + to_seoul(day).strftime("%Y%m%d")


def views_key(day: date) -> str:
    """The per-day view set of the Korean calendar date `day`."""
    return VIEWS_PREFIX + day.strftime("%Y%m%d")


def views_on(day: date) -> dict[int, int]:
    """{game id: views} counted on the Korean date `day` (empty once its set expired).
    Unlike the readers below this raises RedisError: the job copying the counts to the
    database must fail visibly, not copy nothing."""
    members = redis_clients.store.zrange(views_key(day), 0, -1, withscores=True)
    return {int(m): int(score) for m, score in members if str(m).isdigit()}


def views_of(game_ids: list[int], day: date) -> dict[int, int]:
    """{game id: views} counted so far on the Korean date `day` for `game_ids` (games
    without views left out); empty when Redis is unreachable."""
    if not game_ids:
        return {}
    try:
        scores = redis_clients.store.zmscore(views_key(day), game_ids)
    except RedisError:
        log.warning("rankings unavailable; no views for %s", day)
        return {}
    return {gid: int(score) for gid, score in zip(game_ids, scores) if score}


def visitor_hash(identity: str) -> str:
    """A short keyed hash, so raw IP addresses never land in Redis."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hashlib.blake2b(identity.encode(), key=secret[:64], digest_size=12).hexdigest()


def record_sale(game_id: int, quantity: int = 1) -> None:
    try:
        redis_clients.store.zincrby(SALES_KEY, quantity, game_id)
    except RedisError:
        log.warning("rankings unavailable; sale of game %s not ranked", game_id)


def record_view(game_id: int, visitor: str | None = None, now: datetime | None = None) -> bool:
    """Count one page view for today's trending. With a `visitor` identity, that visitor
    counts at most once per game per day. Returns whether the view counted."""
    try:
        return bool(_record_view_script()(**_view_arguments(game_id, visitor, now)))
    except RedisError:
        log.warning("rankings unavailable; view of game %s not counted", game_id)
        return False


def queue_view(pipe, game_id: int, visitor: str) -> None:
    """Add record_view's command to a pipeline `pipe`, to count the view in a round trip
    the caller makes anyway. Its result is a NoScriptError when Redis has not seen the
    script yet: then call record_view (a visitor counts once a day, so nothing doubles)."""
    script, arguments = _record_view_script(), _view_arguments(game_id, visitor, None)
    pipe.evalsha(script.sha, len(arguments["keys"]), *arguments["keys"], *arguments["args"])


def _record_view_script():
    script = current_app.extensions.get("rankings_record_view")
    if script is None:
        script = current_app.extensions["rankings_record_view"] = redis_clients.store.register_script(_RECORD_VIEW)
    return script


def _view_arguments(game_id: int, visitor: str | None, now: datetime | None) -> dict:
    views = day_key(now or utcnow())
    seen = f"{SEEN_PREFIX}{views[len(VIEWS_PREFIX):]}:{game_id}:{visitor_hash(visitor)}" if visitor else ""
    return {"keys": [views, seen or views], "args": [game_id, "1" if visitor else "", VIEWS_KEEP_SECONDS]}


def top_sellers(n: int = 10) -> list[int]:
    """Game ids, best-selling first."""
    return _top(SALES_KEY, n)


def trending(n: int = 10, now: datetime | None = None) -> list[int]:
    """Game ids with the most views over the last seven Korean days, today included."""
    now = now or utcnow()
    cached = TRENDING_PREFIX + to_seoul(now).strftime("%Y%m%d")
    r = redis_clients.store
    try:
        if not r.exists(cached):
            days = [day_key(now - timedelta(days=i)) for i in range(WINDOW_DAYS)]
            pipe = r.pipeline()
            pipe.zunionstore(cached, days)
            pipe.expire(cached, TRENDING_CACHE_SECONDS)
            pipe.execute()
    except RedisError:
        log.warning("rankings unavailable; no trending list")
        return []
    return _top(cached, n)


def _top(key: str, n: int) -> list[int]:
    n = max(0, min(int(n), MAX_RANKED))
    if not n:
        return []
    try:
        members = redis_clients.store.zrevrange(key, 0, n - 1)
    except RedisError:
        log.warning("rankings unavailable; %s empty", key)
        return []
    return [int(m) for m in members if str(m).isdigit()]
