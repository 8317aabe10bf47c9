"""The anonymous game page without the database: what the page cache needs to find a
game page's shared copy (the game's id, for its generation, and its buy state, which
names the copy) is kept in Redis under the page's URL, and by each process for as long,
so a visitor whose copy is fresh costs one Redis round trip (which also counts the
view) and no query.

A head is `<game id>:<generation>:<state>`, written when a page is served the long way
(views.game_page). It is trusted only while the game's generation is still the one it
was written with: any change to the game (price, sale, listing, stock, title, whose new
slug makes this URL a redirect) bumps the generation (cache.invalidate_game), and the
request goes the long way again. The one thing that changes a buy state without a
change is the calendar (coming soon -> buy or pre-order on release day), so a head of
a coming-soon game expires at the start of its release day in Korea.
"""
from datetime import datetime, time as clock
from time import monotonic

from flask import current_app, make_response
from flask_login import current_user
from redis.exceptions import NoScriptError, RedisError

from ..infra.redisconn import redis_clients
from ..timeutil import SEOUL, utcnow
from . import cache, pagecache, rankings, ratings

PREFIX = "pagehead:"
MEMO_SIZE = 10_000  # heads each process keeps (about 100 bytes each); past it the memo starts over


def serve(canonical: str, partial: bool, visitor: str):
    """The response from the shared copy when this anonymous request may use it and the
    head and the copy are both current, with the view counted (rankings) in the same
    round trip; None otherwise (go the long way)."""
    if current_user.is_authenticated or not pagecache.usable(canonical):
        return None
    known = _known(canonical)
    if known is None:
        return None
    _, game_id, generation, state = known
    r = redis_clients.store
    try:
        pipe = r.pipeline(transaction=False)
        pipe.mget(cache.game_generation_key(game_id), pagecache.page_key(canonical, partial, state))
        rankings.queue_view(pipe, game_id, visitor)
        (current, fresh), counted = pipe.execute(raise_on_error=False)
    except RedisError:
        return None
    stamp = current or "0"
    if stamp != generation or fresh is None or not cache.is_stamped(fresh, stamp):
        _memo().pop(canonical, None)
        return None
    if isinstance(counted, NoScriptError):
        rankings.record_view(game_id, visitor)
    response = make_response(pagecache.with_csrf(cache.body_of(fresh, stamp)))
    response.headers[pagecache.HEADER] = "hit"
    return response


def current(canonical: str) -> tuple[int, str] | None:
    """(game id, shared buy state) of the page at `canonical` while its head is current
    (for a logged-in visitor, whose page is the shared copy plus their own parts), else
    None (go the long way). The head this process knows is checked against Redis's in
    the same round trip as the game's generation, so a head Redis no longer has (it
    restarted empty) is never trusted."""
    known = _known(canonical)
    if known is None:
        return None
    head, game_id, generation, state = known
    try:
        stored, current_generation = redis_clients.store.mget(PREFIX + canonical,
                                                              cache.game_generation_key(game_id))
    except RedisError:
        return None
    if stored != head or (current_generation or "0") != generation:
        _memo().pop(canonical, None)
        return None
    return game_id, state


def _known(canonical: str) -> tuple[str, int, str, str] | None:
    """The head at `canonical` and its parts: (head, game id, generation, buy state), or
    None (none kept, one of another shape, Redis unreachable)."""
    try:
        head = _head(redis_clients.store, canonical)
        if head is None:
            return None
        game_id, generation, state = head.split(":", 2)
        return head, int(game_id), generation, state
    except (RedisError, ValueError):
        return None


def _head(r, canonical: str) -> str | None:
    """The head at `canonical`: this process's copy while it lasts, else Redis's."""
    head, expires = _memo().get(canonical, (None, 0.0))
    if head is not None and expires > monotonic():
        return head
    pipe = r.pipeline(transaction=False)
    head, seconds = pipe.get(PREFIX + canonical).ttl(PREFIX + canonical).execute()
    if head is not None:
        _keep(canonical, head, seconds)
    return head


def _memo() -> dict[str, tuple[str, float]]:
    """This process's heads for this app: canonical URL -> (head, monotonic expiry)."""
    return current_app.extensions.setdefault("playcation.pagehead", {})


def _keep(canonical: str, head: str, seconds: int):
    if seconds is None or seconds <= 0:
        return
    memo = _memo()
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[canonical] = (head, monotonic() + seconds)


def remember(canonical: str, game, state: str):
    """Keep the head of `game`'s page at `canonical` (after an anonymous visitor was
    served the long way); a lost write only means the next visitor goes the long way."""
    r = redis_clients.store
    seconds = _lifetime(game)
    try:
        head = f"{game.id}:{r.get(cache.game_generation_key(game.id)) or '0'}:{state}"
        r.set(PREFIX + canonical, head, ex=seconds)
    except RedisError:
        return
    _keep(canonical, head, seconds)


def _lifetime(game) -> int:
    """A head's seconds: until the release day starts (a coming-soon game's state changes
    then by itself), at most a stale copy's lifetime."""
    seconds = cache.STALE_SECONDS
    if ratings.coming_soon(game):
        release = datetime.combine(game.release_date, clock.min, tzinfo=SEOUL)
        seconds = min(seconds, int((release - utcnow()).total_seconds()) + 1)
    return max(1, seconds)
