"""Whole store-front pages for anonymous visitors, served from Redis.

A page is cached under its canonical URL, the language and whether htmx asked for the
partial (`page:<locale>:<full|part>:<url>`), stamped with the generations of the facts
it shows (cache.generations: any game change for lists, the one game for its page);
`cache.invalidate_game` bumps them when a game, price, sale or review changes, and
the page's lifetime never passes the next sale start or end. Rebuilds are single-flight
(cache.single_flight).

What one visitor must never see of another:
- only anonymous GET requests without pending flash messages use the cache, and only at
  the page's canonical URL (extra query arguments render normally);
- the body holds no session data: the CSRF token the renderer got is replaced by a
  placeholder before storing and each request's own token is put back when serving;
- only the body is stored, never headers, so no Set-Cookie is ever replayed;
- logged-in visitors share a second copy (`member-adult` or `member-all`: which covers it
  shows), rendered for no one in particular with markers where each visitor's own parts go
  (header, cart buttons, buy box, DLC lines, reviews); overlay.fill puts them in per request.
"""
import json
from urllib.parse import parse_qsl, unquote, urlsplit

from flask import g, make_response, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from redis.exceptions import RedisError

from ..infra.redisconn import redis_clients
from . import cache, overlay, ratings
from .overlay import CSRF_PLACEHOLDER
from ..web.i18n import current_locale

HEADER = "X-Page-Cache"  # hit | miss | bypass, for operators and tests


def usable(canonical: str) -> bool:
    """May this request be answered from (and fill) the shared page cache?"""
    return (request.method == "GET"
            and "_flashes" not in session
            and _asked_for(canonical))


def _asked_for(canonical: str) -> bool:
    """Whether this request's path and arguments are exactly `canonical`'s (decoded on
    both sides: url_for percent-encodes a Korean slug, request.path holds it decoded)."""
    parts = urlsplit(canonical)
    return (request.path == unquote(parts.path)
            and sorted(request.args.items(multi=True)) == sorted(parse_qsl(parts.query, keep_blank_values=True)))


def page_key(canonical: str, partial: bool, variant: str, audience: str = "") -> str:
    """Where the shared copy of `canonical` is kept, for this request's language."""
    return f"page:{current_locale()}:{'part' if partial else 'full'}:{variant}:{audience}{canonical}"


def with_csrf(body: str) -> str:
    """A shared copy with this visitor's CSRF token where the copy holds the placeholder."""
    return body.replace(CSRF_PLACEHOLDER, generate_csrf()) if CSRF_PLACEHOLDER in body else body


def page(canonical: str, facts: list[str], ttl, render, partial: bool = False, variant: str = "",
         slots: dict | None = None, scope: str | None = None):
    """The response for a store-front page: `render()` (the page's HTML) when the cache
    may not be used, else the shared copy for `canonical`, rendered once per change.
    `ttl` (seconds, or a function returning them) is only asked when rendering;
    `variant` names what else, the same for many visitors, changes the page; `slots`
    renders the page's own per-visitor parts for a logged-in visitor (overlay.fill),
    kept for that visitor under `scope` (a name) while `facts` are unchanged.
    `render` must read the viewer's own state only when `overlay.active()` is false."""
    if not usable(canonical):
        response = make_response(render())
        response.headers[HEADER] = "bypass"
        return response
    rendered = []

    member = current_user.is_authenticated

    def render_shareable():
        body = overlay.shared(render) if member else render()
        rendered.append(True)
        token = g.get("csrf_token")
        return body.replace(token, CSRF_PLACEHOLDER) if token else body

    audience = f"member-{ratings.audience()}:" if member else ""
    own = (scope, facts) if scope else None
    prefetched = dict.fromkeys(overlay.member_keys(own)) if member and g.get("member_view") else None
    body = cache.single_flight(page_key(canonical, partial, variant, audience), ttl, render_shareable,
                               facts=facts, also=prefetched)  # Redis down: rendered, not stored
    body = with_csrf(body)  # before the visitor's parts, which carry the token already
    if member:
        body = overlay.fill(body, slots or {}, own, prefetched)
    response = make_response(body)
    response.headers[HEADER] = "miss" if rendered else "hit"
    return response


def member_page(name: str, facts: list[str], ttl, render):
    """A logged-in visitor's own page (e.g. the cart), kept for them under their view
    generation (infra/memberview.py), language and audience, and trusted while `facts`
    (Redis keys, e.g. the catalog's generation) are unchanged: one MGET when nothing
    changed. `ttl()` (seconds, asked when rendering) bounds what time alone changes, such
    as a sale's start. Not kept with flash messages pending or Redis down."""
    stamp = g.get("member_view")
    if request.method != "GET" or "_flashes" in session or stamp is None:
        return make_response(render())
    key = f"mview:page:{current_user.id}:{stamp}:{current_locale()}:{ratings.audience()}:{name}"
    r = redis_clients.store
    try:
        copy, *now = r.mget([key, *facts])
    except RedisError:
        return make_response(render())
    now = [value or "0" for value in now]
    stored = overlay.decoded(copy, generate_csrf())
    if stored is not None and stored.get("facts") == now:
        response = make_response(stored["body"])
        response.headers[HEADER] = "hit"
        return response
    body = render()
    if "_flashes" not in session:  # the render took them: they are shown once
        token = g.get("csrf_token")
        value = json.dumps({"facts": now, "body": body}, separators=(",", ":"))
        try:
            r.set(key, value.replace(token, CSRF_PLACEHOLDER) if token else value, ex=max(1, int(ttl())))
        except RedisError:
            pass
    response = make_response(body)
    response.headers[HEADER] = "miss"
    return response
