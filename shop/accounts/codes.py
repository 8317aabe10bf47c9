"""Six-digit email codes kept in Redis: 5 minutes, single use, 5 wrong tries, and a
60-second re-send cooldown. Only an HMAC of the code is stored."""
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l, ngettext

from ..errors import DomainError
from ..infra.redisconn import redis_clients


class ResendCooldown(DomainError):
    def __init__(self, seconds: int):
        super().__init__(ngettext("A code was sent recently. You can ask for a new one in %(num)d second.",
                                  "A code was sent recently. You can ask for a new one in %(num)d seconds.", seconds))
        self.seconds = seconds


class CodeExpired(DomainError):
    message = _l("That code has expired or was already used. Ask for a new one.")


class CodeLocked(DomainError):
    message = _l("Too many wrong codes. Ask for a new code.")


class CodeWrong(DomainError):
    def __init__(self, tries_left: int):
        super().__init__(ngettext("That code is not right. %(num)d try left.",
                                  "That code is not right. %(num)d tries left.", tries_left))
        self.tries_left = tries_left


# Returns {status, payload}: 0 none/expired, 1 ok (payload = email), -1 locked, 2 wrong (payload = tries left)
_CHECK = """
local h = redis.call('HGET', KEYS[1], 'h')
if not h then return {0, ''} end
if h == ARGV[1] then
  local email = redis.call('HGET', KEYS[1], 'email') or ''
  redis.call('DEL', KEYS[1])
  return {1, email}
end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
local max = tonumber(ARGV[2])
if tries >= max then
  redis.call('DEL', KEYS[1])
  return {-1, ''}
end
return {2, tostring(max - tries)}
"""


@dataclass
class IssuedCode:
    code: str
    email: str


def _key(purpose: str, user_id: int) -> str:
    return f"code:{purpose}:{user_id}"


def _digest(code: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, code.encode(), hashlib.sha256).hexdigest()


def issue_code(purpose: str, user_id: int, email: str) -> IssuedCode:
    """Create a fresh code (replacing any earlier one). Raises ResendCooldown."""
    cfg = current_app.config
    r = redis_clients.store
    cooldown_key = _key(purpose, user_id) + ":cooldown"
    if not r.set(cooldown_key, "1", nx=True, ex=cfg["VERIFY_RESEND_COOLDOWN"]):
        raise ResendCooldown(max(r.ttl(cooldown_key), 1))
    code = f"{secrets.randbelow(1_000_000):06d}"
    key = _key(purpose, user_id)
    with r.pipeline() as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping={"h": _digest(code), "tries": 0, "email": email})
        pipe.expire(key, cfg["VERIFY_CODE_TTL"])
        pipe.execute()
    return IssuedCode(code=code, email=email)


def check_code(purpose: str, user_id: int, code: str) -> str:
    """Consume a code. Returns the email it was sent to.

    Raises CodeExpired, CodeLocked or CodeWrong.
    """
    code = (code or "").strip()
    r = redis_clients.store
    status, payload = r.eval(_CHECK, 1, _key(purpose, user_id), _digest(code),
                             current_app.config["VERIFY_CODE_MAX_TRIES"])
    status = int(status)
    if status == 1:
        return payload
    if status == 0:
        raise CodeExpired()
    if status == -1:
        raise CodeLocked()
    raise CodeWrong(int(payload))
