"""Is the coupon Redis durable? A claim answered "claimed" exists only in Redis until the
consumer persists it, so that Redis must write every command to its append-only file and
fsync it before replying, and must never evict a key:

    appendonly yes, appendfsync always, maxmemory-policy noeviction

`problems()` reads those settings with CONFIG GET (cached briefly per process) and says
in plain words what is wrong. The admin page shows the answer, and services refuse to
open a drop while there is any problem (unless COUPON_REQUIRE_DURABLE_REDIS is off).
"""
import time

from flask import current_app
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError, ResponseError

from .redis_state import coupon_redis

REQUIRED = {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}
CACHE_SECONDS = 10.0

# Lazy: the answer is cached per process and read by admins in either language.
CONFIG_DISABLED = _l("The coupon Redis refuses CONFIG GET (the host disabled or restricted it), so its persistence "
                     "can't be checked. Make sure it runs with appendonly yes, appendfsync always and "
                     "maxmemory-policy noeviction, then set COUPON_REQUIRE_DURABLE_REDIS=0.")
UNREACHABLE = _l("The coupon Redis can't be reached, so its persistence can't be checked.")


def read_problems(client) -> list[str]:
    """What is wrong with `client`'s Redis as the coupon Redis (empty: durable)."""
    try:
        pipe = client.pipeline(transaction=False)
        for name in REQUIRED:
            pipe.config_get(name)
        replies = pipe.execute()
    except ResponseError:
        return [CONFIG_DISABLED]
    except RedisError:
        return [UNREACHABLE]
    problems = []
    for (name, wanted), reply in zip(REQUIRED.items(), replies):
        actual = _text(reply.get(name) if reply else None)
        if actual != wanted:
            problems.append(_l("The coupon Redis has %(name)s %(actual)s; it must be %(wanted)s, or claimed "
                               "coupons can be lost when it restarts.", name=name, actual=actual or "unset",
                               wanted=wanted))
    return problems


def problems(refresh: bool = False) -> list[str]:
    """read_problems() for the app's coupon Redis, remembered for CACHE_SECONDS per process
    (`refresh` asks again). Empty when durability is not required by the config."""
    if not current_app.config.get("COUPON_REQUIRE_DURABLE_REDIS", True):
        return []
    cached = current_app.extensions.get("coupon_durability")
    if refresh or cached is None or time.monotonic() - cached[0] > CACHE_SECONDS:
        cached = current_app.extensions["coupon_durability"] = (time.monotonic(),
                                                                 read_problems(coupon_redis().client))
    return cached[1]


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
