"""The Redis half of a coupon event. Every key of event E carries the hash tag {E},
so each Lua script touches one cluster slot and runs unchanged on Redis Cluster:

  coupon:{E}:meta     hash  opens, closes (epoch ms), quantity
  coupon:{E}:stock    int   coupons left
  coupon:{E}:claimed  set   user ids that claimed
  coupon:{E}:issued   stream of {u: user id, t: claim time ms}; consumer group "persist"
  coupon:{E}:dead     dead-letter stream: issued entries the consumer failed MAX_DELIVERIES times
                      ({u, t, id: the original entry id, error, deliveries})
  coupon:wake         stream the consumer blocks on with the events' streams; an entry
                      ({e: event id}) when an event is created, changed or rebuilt
  coupon:{E}:rl:<uid> int   per-user attempt counter (1 s window), inside the same slot
  coupon:{E}:ip:<ip>  int   per-IP attempt counter (1 s window)

A claim is ONE script call: window, repeat claimer, stock, then DECR + SADD + XADD,
atomically. The window is judged by Redis's own clock (`TIME`), the one clock every web
node shares, not by the calling node's. redis-py's Script object re-sends the script on NOSCRIPT (lost cache).
"""
from datetime import datetime

from flask import current_app
from redis.exceptions import ResponseError

from ..infra.redisconn import redis_clients

GROUP = "persist"
WAKE = "coupon:wake"
# Published (data: the event id) whenever an event's stock is set anew (created, edited,
# rebuilt, reconciled): every process drops its sold-out flag for it (services.py).
RESTOCKED = "broadcast:coupons:restocked"
OUTCOMES = ("claimed", "already_claimed", "sold_out", "not_open", "closed", "not_ready", "rate_limited")

CLAIM = """
local meta = redis.call('HMGET', KEYS[1], 'opens', 'closes')
if not meta[1] then return 'not_ready' end
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if now < tonumber(meta[1]) then return 'not_open' end
if now >= tonumber(meta[2]) then return 'closed' end
local tries = redis.call('INCR', KEYS[5])
if tries == 1 then redis.call('PEXPIRE', KEYS[5], 1000) end
if tries > tonumber(ARGV[3]) then return 'rate_limited' end
local ip_tries = redis.call('INCR', KEYS[6])
if ip_tries == 1 then redis.call('PEXPIRE', KEYS[6], 1000) end
if ip_tries > tonumber(ARGV[4]) then return 'rate_limited' end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 'already_claimed' end
local stock = tonumber(redis.call('GET', KEYS[2]) or '0')
if stock <= 0 then return 'sold_out' end
redis.call('DECR', KEYS[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[4], '*', 'u', ARGV[1], 't', now)
return 'claimed'
"""

# Set the window/quantity and make stock agree with the claimers: stock = quantity − |claimed|.
# Used at creation, when an admin edits the event, and by the reconciler (ARGV[4..] = user ids
# the database knows, added first so a rebuilt set is never smaller than the truth).
SYNC = """
redis.call('HSET', KEYS[1], 'opens', ARGV[1], 'closes', ARGV[2], 'quantity', ARGV[3])
for i = 4, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
local left = tonumber(ARGV[3]) - redis.call('SCARD', KEYS[3])
if left < 0 then left = 0 end
redis.call('SET', KEYS[2], left)
return left
"""

# Put a dead letter back on the issued stream (a new entry: delivered afresh) and delete it
# from the dead-letter stream, in one step. Returns its user field ('' if none), false if it is gone.
RETRY_DEAD = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields, copy, user = found[1][2], {}, ''
for i = 1, #fields, 2 do
  if fields[i] == 'u' or fields[i] == 't' then
    copy[#copy + 1] = fields[i]
    copy[#copy + 1] = fields[i + 1]
  end
  if fields[i] == 'u' then user = fields[i + 1] end
end
redis.call('XADD', KEYS[2], '*', unpack(copy))
redis.call('XDEL', KEYS[1], ARGV[1])
return user
"""


def keys(event_id: int) -> dict[str, str]:
    tag = f"coupon:{{{event_id}}}"
    return {"meta": f"{tag}:meta", "stock": f"{tag}:stock", "claimed": f"{tag}:claimed",
            "stream": f"{tag}:issued", "dead": f"{tag}:dead"}


def rate_key(event_id: int, user_id: int) -> str:
    return f"coupon:{{{event_id}}}:rl:{user_id}"


def ip_key(event_id: int, ip: str) -> str:
    return f"coupon:{{{event_id}}}:ip:{ip}"


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class CouponRedis:
    """Scripts bound to one client (plain Redis or RedisCluster)."""

    def __init__(self, client):
        self.client = client
        self._claim = client.register_script(CLAIM)
        self._sync = client.register_script(SYNC)
        self._retry_dead = client.register_script(RETRY_DEAD)

    def claim(self, event_id: int, user_id: int, ip: str = "-", user_per_second: int = 5,
              ip_per_second: int = 100, now_ms: int | None = None) -> str:
        k = keys(event_id)
        # No time from here: the script reads Redis TIME. `now_ms` pins it (tests only).
        result = self._claim(keys=[k["meta"], k["stock"], k["claimed"], k["stream"], rate_key(event_id, user_id),
                                   ip_key(event_id, ip)],
                             args=[user_id, "" if now_ms is None else now_ms, user_per_second, ip_per_second])
        return result.decode() if isinstance(result, bytes) else result

    def sync(self, event_id: int, opens: datetime, closes: datetime, quantity: int, known_user_ids=()) -> int:
        k = keys(event_id)
        left = self._sync(keys=[k["meta"], k["stock"], k["claimed"]],
                          args=[epoch_ms(opens), epoch_ms(closes), quantity, *known_user_ids])
        self.ensure_group(event_id)
        # Wake a consumer blocked on the other streams so it starts reading this one now.
        self.client.xadd(WAKE, {"e": event_id}, maxlen=1000, approximate=True)
        self.client.publish(RESTOCKED, str(event_id))
        return int(left)

    def ensure_group(self, event_id: int):
        try:
            self.client.xgroup_create(keys(event_id)["stream"], GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def exists(self, event_id: int) -> bool:
        return bool(self.client.exists(keys(event_id)["meta"]))

    def stock(self, event_id: int) -> int | None:
        value = self.client.get(keys(event_id)["stock"])
        return int(value) if value is not None else None

    def claimed_count(self, event_id: int) -> int:
        return int(self.client.scard(keys(event_id)["claimed"]))

    def claimed_users(self, event_id: int) -> set[int]:
        return {int(v) for v in self.client.smembers(keys(event_id)["claimed"])}

    def drop(self, event_id: int):
        k = keys(event_id)
        self.client.delete(k["meta"], k["stock"], k["claimed"], k["stream"], k["dead"])

    def dead_letters(self, event_ids, limit: int = 50) -> dict[int, list[dict]]:
        """{event id: [{id, u, t, error, deliveries}, …]} for the events that have any
        (oldest first, at most `limit` each), read in one pipeline."""
        event_ids = list(event_ids)
        if not event_ids:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.xrange(keys(event_id)["dead"], count=limit)
        found = {}
        for event_id, entries in zip(event_ids, pipe.execute()):
            if entries:
                found[event_id] = [{**_text_fields(fields), "entry": _text(entry_id)} for entry_id, fields in entries]
        return found

    def retry_dead(self, event_id: int, entry_id: str) -> str | None:
        """Move one dead letter back to the issued stream; its user field as written, None
        if it is gone."""
        k = keys(event_id)
        user = self._retry_dead(keys=[k["dead"], k["stream"]], args=[entry_id])
        return None if user is None else _text(user)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _text_fields(fields) -> dict:
    return {_text(k): _text(v) for k, v in (fields or {}).items()}


def coupon_redis() -> CouponRedis:
    """Scripts on the app's Redis (cached per app)."""
    state = current_app.extensions.get("coupon_redis")
    if state is None:
        state = current_app.extensions["coupon_redis"] = CouponRedis(redis_clients.store)
    return state
