"""Login sessions: one record in Redis per login, named by the login cookie.

The login cookie id is "<user id>:<session token>:<session id>" (User.get_id). A request
is logged in only while the record of its session id exists and the token is the user's
current one (while Redis cannot be reached, the token alone decides: `check`). So logging out (the record is deleted) ends every copy of that browser's
session and remember-me cookies while the user's other logins go on, and rotating the
token (password change or reset, "Sign out of all devices", withdrawal) ends them all;
their records are deleted after that commit.

Keys, with one hash tag per user so that a user's keys share a Redis Cluster slot:
  login:{<uid>}:<sid>  hash: device, ip (coarse), created, seen, remember, tok
  login:{<uid>}        sorted set of the user's session ids, scored by creation time
A record expires after IDLE_TTL without a request. The per-request check is one Lua
call that also writes `seen`, the coarse address and the expiry, at most once per
SEEN_EVERY seconds per session.
"""
import hashlib
import ipaddress
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import redis
from flask import current_app
from redis.exceptions import NoScriptError
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from ..errors import DomainError
from ..infra.redisconn import redis_clients
from .models import User

log = logging.getLogger(__name__)

SEEN_EVERY = 60                  # seconds: at most one write per session per minute
IDLE_TTL = 60 * 60 * 24 * 30     # a login unused this long ends (the remember-me cookie's lifetime)
MAX_PER_USER = 30                # beyond this, a new login ends the user's oldest one
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22}")

# KEYS: record, index. ARGV: now, SEEN_EVERY, ttl, coarse ip.
# 0: no such record; 1: alive; 2: alive, and `seen` was written.
_TOUCH = """
local seen = redis.call('HGET', KEYS[1], 'seen')
if not seen then return 0 end
if tonumber(ARGV[1]) - tonumber(seen) < tonumber(ARGV[2]) then return 1 end
redis.call('HSET', KEYS[1], 'seen', ARGV[1], 'ip', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 2
"""


class StoreUnavailable(DomainError):
    message = _l("Logging in is unavailable for a moment. Please try again in a minute.")


@dataclass(frozen=True)
class LoginSession:
    id: str
    device: str
    ip: str
    created_at: datetime
    last_seen: datetime
    remember: bool


def record_key(user_id: int, sid: str) -> str:
    return f"login:{{{user_id}}}:{sid}"


def index_key(user_id: int) -> str:
    return f"login:{{{user_id}}}"


def token_tag(token: str) -> str:
    """A short digest of the session token: the list leaves out records of an old token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _ttl() -> int:
    return int(current_app.config.get("LOGIN_SESSION_IDLE_TTL", IDLE_TTL))


def _when(stamp) -> datetime:
    return datetime.fromtimestamp(float(stamp), timezone.utc)


# --- what a login looks like in the list ------------------------------------------------

_BROWSERS = (("Edg", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser", "Samsung Internet"), ("Whale/", "Whale"),
             ("Firefox/", "Firefox"), ("FxiOS", "Firefox"), ("CriOS", "Chrome"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))


def device_label(user_agent: str | None) -> str:
    """"Firefox on Windows" from a User-Agent header; "Unknown device" when it says nothing we know."""
    ua = (user_agent or "")[:512]
    browser = next((name for mark, name in _BROWSERS if mark in ua), None)
    system = next((name for mark, name in _SYSTEMS if mark in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


def device_text(stored: str | None) -> str:
    """A record's device label (kept in English) in the reader's language."""
    if not stored or stored == "Unknown device":
        return _("Unknown device")
    browser, on, system = stored.partition(" on ")
    return _("%(browser)s on %(system)s", browser=browser, system=system) if on else stored


@lru_cache(maxsize=4096)
def coarse_ip(address: str | None) -> str:
    """The network, not the address: /24 for IPv4, /48 for IPv6 ("" if not an address)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return ""
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))


# --- the records --------------------------------------------------------------------------

def start(user: User, *, user_agent: str | None = None, remote_addr: str | None = None,
          remember: bool = False) -> str:
    """Create the record of a new login and return its session id. Past MAX_PER_USER
    logins, the oldest ones end. Raises StoreUnavailable."""
    sid = secrets.token_urlsafe(16)
    now, ttl = time.time(), _ttl()
    index = index_key(user.id)
    try:
        with redis_clients.store.pipeline(transaction=True) as pipe:
            pipe.hset(record_key(user.id, sid), mapping={
                "device": device_label(user_agent), "ip": coarse_ip(remote_addr), "created": f"{now:.3f}",
                "seen": f"{now:.3f}", "remember": int(bool(remember)), "tok": token_tag(user.session_token)})
            pipe.expire(record_key(user.id, sid), ttl)
            pipe.zadd(index, {sid: now})
            pipe.expire(index, ttl)
            pipe.zrange(index, 0, -(MAX_PER_USER + 1))
            oldest = pipe.execute()[-1]
        if oldest:
            _delete(user.id, oldest)
    except redis.RedisError as exc:
        log.warning("login session store unavailable at log-in: %s", exc)
        raise StoreUnavailable() from exc
    return sid


def _touch_script():
    script = current_app.extensions.get("login_session_touch")
    if script is None:  # EVALSHA from then on (redis-py loads the script when Redis lacks it)
        script = current_app.extensions["login_session_touch"] = redis_clients.store.register_script(_TOUCH)
    return script


def _touch(keys, args):
    return _touch_script()(keys=keys, args=args, client=redis_clients.store)


def check(user_id: int, sid: str, remote_addr: str | None, also=()) -> tuple[bool, list]:
    """Whether the login is still alive; notes it was seen (one write a minute at most).
    In the same round trip, the values of the keys `also` names (None where missing).

    If Redis cannot be reached, the record cannot be read: the login is taken as alive,
    so the signed cookie and the user's session token (checked against the database by
    the caller) decide, as they did before records existed, and `also` reads as missing.
    See docs/accounts.md."""
    store, keys = redis_clients.store, [record_key(user_id, sid), index_key(user_id)]
    args = [int(time.time()), SEEN_EVERY, _ttl(), coarse_ip(remote_addr)]
    try:
        with store.pipeline(transaction=False) as pipe:
            # EVALSHA in the pipeline itself: a Script would ask SCRIPT EXISTS first, a round trip
            pipe.evalsha(_touch_script().sha, len(keys), *keys, *args)
            if also:
                pipe.mget(list(also))
            replies = pipe.execute(raise_on_error=False)
        if isinstance(replies[0], NoScriptError):  # Redis restarted: load it, once
            replies[0] = _touch(keys, args)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
    except redis.RedisError as exc:
        log.warning("login session store unavailable; trusting the signed cookie and its token: %s", exc)
        return True, [None] * len(also)
    return bool(replies[0]), (replies[1] if also else [])


def end(user_id: int, sid: str) -> bool:
    """End one login of this user (only theirs: the key is under their id). Returns
    whether it was alive. Raises StoreUnavailable."""
    try:
        return _delete(user_id, [sid]) > 0
    except redis.RedisError as exc:
        raise StoreUnavailable() from exc


def end_all(user_id: int) -> None:
    """End every login of the user. Raises StoreUnavailable."""
    try:
        store = redis_clients.store
        sids = store.zrange(index_key(user_id), 0, -1)
        with store.pipeline(transaction=True) as pipe:
            for sid in sids:
                pipe.delete(record_key(user_id, sid))
            pipe.delete(index_key(user_id))
            pipe.execute()
    except redis.RedisError as exc:
        raise StoreUnavailable() from exc


def _delete(user_id: int, sids) -> int:
    with redis_clients.store.pipeline(transaction=True) as pipe:
        pipe.delete(*(record_key(user_id, sid) for sid in sids))
        pipe.zrem(index_key(user_id), *sids)
        return pipe.execute()[0]


def active(user: User) -> list[LoginSession]:
    """The user's live logins, most recently seen first. Records that expired or belong
    to an older session token are dropped on the way. Raises StoreUnavailable."""
    try:
        store = redis_clients.store
        sids = store.zrange(index_key(user.id), 0, -1)
        with store.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.hgetall(record_key(user.id, sid))
            records = pipe.execute() if sids else []
        tag, found, dead = token_tag(user.session_token), [], []
        for sid, rec in zip(sids, records):
            if not rec or rec.get("tok") != tag:
                dead.append(sid)
                continue
            found.append(LoginSession(id=sid, device=device_text(rec.get("device")), ip=rec.get("ip", ""),
                                      created_at=_when(rec["created"]), last_seen=_when(rec["seen"]),
                                      remember=rec.get("remember") == "1"))
        if dead:
            _delete(user.id, dead)
    except redis.RedisError as exc:
        raise StoreUnavailable() from exc
    return sorted(found, key=lambda s: s.last_seen, reverse=True)


@event.listens_for(Session, "after_flush")
def _end_logins_of_rotated_tokens(session_, flush_context):
    """A new session token ends every login of the user: the cookies already fail the
    token check; the records go too (after commit), so the list shows the truth."""
    rotated = [obj.id for obj in session_.dirty
               if isinstance(obj, User) and inspect(obj).attrs.session_token.history.has_changes()]
    if not rotated:
        return
    from ..infra.jobs import call_after_commit

    def end_them():
        for uid in rotated:
            try:
                end_all(uid)
            except StoreUnavailable:  # the token already refuses them; the list drops them
                log.warning("could not delete the login records of user %s", uid)

    call_after_commit(end_them)
