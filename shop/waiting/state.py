"""The Redis half of a waiting room. Every key of room R carries the hash tag {room:R},
so each script touches one cluster slot and runs unchanged on Redis Cluster:

  wr:{room:R}:seq       int   the last ticket number handed out
  wr:{room:R}:queue     zset  tickets waiting: member ticket id, score its number (FIFO)
                              or a random draw (random order)
  wr:{room:R}:admitted  zset  tickets admitted and not yet picked up (score: admission ms);
                              picking up is one ZREM (in VISIT), so a ticket is redeemed once
  wr:{room:R}:active    zset  tickets admitted within the session (cap mode's head count)
  wr:{room:R}:state     hash  last (ms of the last advance), carry (admissions owed, ×1000),
                              through (highest number admitted), admitted (total),
                              abandoned (admitted, never picked up within the session),
                              stock (the stock last broadcast)
  wr:{room:R}:owner:<t> str   the account that first claimed with ticket t's pass

Admission is ONE script call (ADVANCE) judged by Redis's own clock, so any number of
web processes on any number of nodes may call it: whoever calls it first after a
second has passed admits that second's share, the others find nothing owed. Once the
guarded drop's stock is 0 nobody more is admitted: the line only hears "sold out".
"""
import json
import secrets

from redis.exceptions import RedisError  # noqa: F401  (callers catch it from here)

from ..coupons.redis_state import keys as coupon_keys

KEEP_SECONDS = 2 * 86400  # a room's keys outlive its last activity by this much

JOIN = """
local n = redis.call('INCR', KEYS[1])
local score = n
if ARGV[2] ~= '' then score = tonumber(ARGV[2]) end
redis.call('ZADD', KEYS[2], score, ARGV[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return n
"""

# One step of admission, shared by both scripts below. Keys: the line, the admitted, the
# active and the state; stock: the drop's stock now, '' for a room without one, '?' to
# keep what was last seen. Returns admitted now, through, still waiting, whether waiters
# should hear of it, and the stock it went by.
STEP = """
local function advance(Q, A, C, S, mode, rate, cap, session, opens, keep, stock)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local st = redis.call('HMGET', S, 'last', 'carry', 'through', 'admitted', 'stock')
  local through = tonumber(st[3] or '0')
  local admitted_total = tonumber(st[4] or '0')
  local changed = 0
  if stock == '?' then
    stock = st[5] or ''
  elseif stock ~= (st[5] or '') then
    redis.call('HSET', S, 'stock', stock)
    changed = 1
  end
  local stale = redis.call('ZRANGEBYSCORE', A, '-inf', now - session)
  if #stale > 0 then
    redis.call('ZREMRANGEBYSCORE', A, '-inf', now - session)
    redis.call('HINCRBY', S, 'abandoned', #stale)
  end
  local owed = 0
  if now >= opens and stock ~= '0' then  -- a sold-out drop lets nobody else in
    if mode == 'cap' then
      redis.call('ZREMRANGEBYSCORE', C, '-inf', now - session)
      owed = cap - redis.call('ZCARD', C)
    else
      local last = tonumber(st[1] or opens)
      local credit = tonumber(st[2] or '0') + (now - last) * rate / 60
      local ceiling = math.max(1000, rate * 1000 / 60)
      if credit > ceiling then credit = ceiling end
      owed = math.floor(credit / 1000)
      local waiting = redis.call('ZCARD', Q)
      if owed > waiting then owed = waiting end
      redis.call('HSET', S, 'last', now, 'carry', credit - owed * 1000)
    end
  end
  local picked = 0
  if owed > 0 then
    local next = redis.call('ZRANGE', Q, 0, owed - 1, 'WITHSCORES')
    for i = 1, #next, 2 do
      redis.call('ZADD', A, now, next[i])
      if mode == 'cap' then redis.call('ZADD', C, now, next[i]) end
      local score = tonumber(next[i + 1])
      if score > through then through = score end
      picked = picked + 1
    end
    if picked > 0 then
      redis.call('ZREMRANGEBYRANK', Q, 0, picked - 1)
      admitted_total = admitted_total + picked
      redis.call('HSET', S, 'through', through, 'admitted', admitted_total)
      changed = 1
    end
  end
  for _, key in ipairs({Q, A, C, S}) do redis.call('EXPIRE', key, keep) end
  return picked, through, redis.call('ZCARD', Q), changed, stock
end
"""

# The admission loop's call (its broadcasts are the only ones). KEYS: queue, admitted, active, state.
# ARGV: mode, rate per minute, cap, session ms, opens ms, keep seconds, stock ('' if none)
ADVANCE = STEP + """
local picked, through, waiting, _, stock = advance(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7])
-- Waiters hear of it when "through" or the stock moved since the last broadcast,
-- whoever moved it (page loads admit too but never publish): at most one a tick.
local sent = redis.call('HMGET', KEYS[4], 'sent_through', 'sent_stock')
local changed = 0
if tostring(through) ~= (sent[1] or '') or stock ~= (sent[2] or '') then
  redis.call('HSET', KEYS[4], 'sent_through', tostring(through), 'sent_stock', stock)
  changed = 1
end
return {picked, tostring(through), waiting, changed}
"""

# A waiting-page load, in one round trip: find the visitor's ticket (or give a new one at
# the back), advance the room, and pick up the pass if the ticket is admitted.
# KEYS: seq, queue, admitted, active, state. ARGV: the cookie's ticket id ('' if none),
# a new ticket id, a random draw ('' for FIFO), mode, rate, cap, session ms, opens ms, keep,
# the drop's stock as the page just read it ('' for a room without one, '?' if unknown).
# Returns {'in' or 'wait', ticket, new number (-1 if the ticket was known), through,
# waiting, rank (random order, else -1), changed, stock}.
VISIT = STEP + """
local ticket = ARGV[1]
if ticket ~= '' and not redis.call('ZSCORE', KEYS[2], ticket) and not redis.call('ZSCORE', KEYS[3], ticket) then
  ticket = ''
end
local number = -1
if ticket == '' then
  ticket = ARGV[2]
  number = redis.call('INCR', KEYS[1])
  local score = number
  if ARGV[3] ~= '' then score = tonumber(ARGV[3]) end
  redis.call('ZADD', KEYS[2], score, ticket)
  redis.call('EXPIRE', KEYS[1], ARGV[9])
end
local picked, through, waiting, changed, stock = advance(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[4],
  tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[10])
if redis.call('ZREM', KEYS[3], ticket) == 1 then
  return {'in', ticket, number, tostring(through), waiting, -1, changed, stock}
end
local rank = -1
if ARGV[3] ~= '' then rank = redis.call('ZRANK', KEYS[2], ticket) end
return {'wait', ticket, number, tostring(through), waiting, rank, changed, stock}
"""


def tag(room_id: int) -> str:
    return f"wr:{{room:{room_id}}}"


def keys(room_id: int) -> dict[str, str]:
    t = tag(room_id)
    return {name: f"{t}:{name}" for name in ("seq", "queue", "admitted", "active", "state")}


def owner_key(room_id: int, ticket: str) -> str:
    return f"{tag(room_id)}:owner:{ticket}"


def channel(room_id: int) -> str:
    """The one broadcast every waiter of the room listens to (the SSE hub's broadcast:*)."""
    return f"broadcast:waiting:{room_id}"


def new_ticket_id() -> str:
    return secrets.token_urlsafe(12)


class RoomRedis:
    """Scripts bound to one client (plain Redis or RedisCluster)."""

    def __init__(self, client):
        self.client = client
        self._join = client.register_script(JOIN)
        self._advance = client.register_script(ADVANCE)
        self._visit = client.register_script(VISIT)

    def join(self, room_id: int, ticket: str, random_order: bool) -> int:
        """A new ticket at the back of the line (or at a random place): its number."""
        k = keys(room_id)
        draw = str(secrets.randbelow(10**12)) if random_order else ""
        return int(self._join(keys=[k["seq"], k["queue"], k["state"]], args=[ticket, draw, KEEP_SECONDS]))

    def advance(self, room, stock: int | None) -> tuple[int, int, int, bool]:
        """(admitted now, admitting up to this number, still waiting, whether waiters
        should hear about it)."""
        k = keys(room.id)
        picked, through, waiting, changed = self._advance(
            keys=[k["queue"], k["admitted"], k["active"], k["state"]],
            args=[room.mode, room.rate_per_minute, room.active_cap, room.session_minutes * 60000,
                  int(room.opens_at.timestamp() * 1000), KEEP_SECONDS, "" if stock is None else stock])
        return int(picked), int(float(through)), int(waiting), bool(changed)

    def visit(self, room, ticket: str | None, stock: int | None | str = "?") -> dict:
        """A waiting-page load (VISIT): {state: 'in'|'wait', ticket, number (None if the
        ticket was known), through, waiting, rank (random order), changed, stock}.
        `stock`: the drop's stock just read (None: the room guards no drop), or "?" to go
        by the one last seen."""
        k = keys(room.id)
        random_order = room.queue_order == "random"
        draw = str(secrets.randbelow(10**12)) if random_order else ""
        got = self._visit(keys=[k["seq"], k["queue"], k["admitted"], k["active"], k["state"]],
                          args=[ticket or "", new_ticket_id(), draw if random_order else "", room.mode,
                                room.rate_per_minute, room.active_cap, room.session_minutes * 60000,
                                int(room.opens_at.timestamp() * 1000), KEEP_SECONDS,
                                "" if stock is None else stock])
        state, ticket_id, number, through, waiting, rank, changed, stock = (
            v.decode() if isinstance(v, bytes) else v for v in got)
        return {"state": state, "ticket": ticket_id, "number": None if int(number) < 0 else int(number),
                "through": int(float(through)), "waiting": int(waiting), "rank": None if int(rank) < 0 else int(rank),
                "changed": bool(changed), "stock": int(stock) if stock not in ("", None) else None}

    def bind_owner(self, room_id: int, ticket: str, user_id: int, seconds: int) -> bool:
        """The pass's first account keeps it: False when another account already used it."""
        key = owner_key(room_id, ticket)
        if self.client.set(key, user_id, nx=True, ex=seconds):
            return True
        return self.client.get(key) == str(user_id)

    def summary(self, room_id: int, coupon_event_id: int | None = None) -> dict:
        """through, waiting, admitted, abandoned, stock (as last seen by admission): the
        broadcast's numbers and the metrics'. With the guarded drop's id, also
        `live_stock`, the drop's stock read now, in the same round trip."""
        k = keys(room_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hmget(k["state"], "through", "admitted", "abandoned", "stock")
            pipe.zcard(k["queue"])
            if coupon_event_id is not None:
                pipe.get(coupon_keys(coupon_event_id)["stock"])
            (through, admitted, abandoned, stock), waiting, *live = pipe.execute()
        found = {"through": int(float(through or 0)), "waiting": int(waiting), "admitted": int(admitted or 0),
                 "abandoned": int(abandoned or 0), "stock": int(stock) if stock not in (None, "") else None}
        found["live_stock"] = int(live[0]) if live and live[0] is not None else None
        return found

    def clear(self, room_id: int):
        self.client.delete(*keys(room_id).values())


def message(through: int, waiting: int, stock: int | None, rate: float) -> str:
    """The broadcast: "now admitting up to ticket N", how many wait, stock left."""
    return json.dumps({"through": through, "waiting": waiting, "stock": stock, "rate": round(rate, 2)},
                      separators=(",", ":"))
