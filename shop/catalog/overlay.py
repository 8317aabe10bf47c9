"""A logged-in visitor's copy of a shared cached store-front page (pagecache.py).

The page is rendered once for every logged-in visitor of the same language and age
audience, as no one in particular (`shared`): the viewer is a stand-in with no id, no
name and nothing in a cart or library, and the templates leave a marker where a
visitor's own part goes (`active()` is true while they render):

- `<!--overlay:NAME-->`: a whole part rendered for the visitor, named by the page's
  `slots` (the site header with cart badge, notification bell and account menu, and
  the live-notification stream, on every page; the game page's buy box and reviews);
- `<!--overlay:cart:ID:STATE:AUDIENCE-->button<!--/overlay-->`: a game card's cart button
  as anyone sees it (STATE from card_states with no viewer, AUDIENCE "adult" for an
  adults-only game), replaced when the visitor owns the game, has it in the cart, or may
  not buy it (not a verified adult);
- `<!--overlay:dlc:ID-->not owned<!--/overlay-->`: a DLC line, replaced when owned.

`fill` reads the visitor's marks for every game id on the page in two indexed queries
(card_states.viewer_marks) and substitutes; the markers never reach the browser.
Game titles and other text are HTML-escaped, so no stored text can forge a marker.
"""
import json
import re
from types import SimpleNamespace

from flask import g, render_template
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from redis.exceptions import RedisError

from ..infra import memberview
from ..infra.redisconn import redis_clients
from ..web.i18n import current_locale
from . import card_states, ratings

CSRF_PLACEHOLDER = "%%csrf-token%%"  # where a cached copy had its CSRF token

SLOT = re.compile(r"<!--overlay:(\w+)-->")
GAME = re.compile(r"<!--overlay:(cart|dlc):(\d+)(?::(\w+):(\w+))?-->(.*?)<!--/overlay-->", re.S)
BUYABLE = ("buy", "preorder")


class SharedViewer:
    """Whom a shared logged-in page is rendered for: a member with no identity, so
    anything a template reads of "the user" is empty, never another visitor's."""
    is_authenticated = True
    is_active = True
    is_anonymous = False
    id = None
    nickname = ""
    email = ""
    avatar_key = None
    role = "customer"
    is_verified = True
    is_publisher = False
    is_admin = False
    birth_date = None
    birth_date_verified_at = None

    def get_id(self):
        return None


def active() -> bool:
    """Is a shared logged-in page being rendered (templates write markers)?"""
    return g.get("page_overlay", False)


def shared(render) -> str:
    """`render()` as the shared page: markers for the visitor's parts, no visitor."""
    ratings.viewer_is_adult()  # the real visitor's audience, asked before the stand-in
    real = g.get("_login_user")
    g.page_overlay, g._login_user = True, SharedViewer()
    try:
        return render()
    finally:
        g.page_overlay = False
        if real is None:
            g.pop("_login_user", None)
        else:
            g._login_user = real


def fill(body: str, slots: dict, scope: tuple[str, list[str]] | None = None, prefetched: dict | None = None) -> str:
    """The shared `body` with the current visitor's parts put in. `slots` maps a marker
    name to a function returning its HTML; the header and stream slots are built in, and
    come with the visitor's marks from their cached parts (member_parts). With `scope`,
    (a name, the Redis keys of the facts they show), the page's own slots are cached for
    the visitor under that name too, trusted while those facts are unchanged."""
    ids = [int(m.group(2)) for m in GAME.finditer(body)]
    own = member_parts(slots, scope, prefetched)
    marks = own["marks"] if own["marks"] is not None else (
        card_states.viewer_marks(current_user, sorted(set(ids))) if ids else {})
    adult = ratings.viewer_is_adult()
    buttons = {}

    def game_part(match):
        kind, game_id, state, audience, shared_html = match.groups()
        mark = marks.get(int(game_id))
        if kind == "dlc":
            return _owned_badge() if mark == "owned" else shared_html
        if mark is None and audience == "adult" and state in BUYABLE and not adult:
            mark = "adult_only"
        if mark is None:
            return shared_html
        if mark not in buttons:  # one render per state; only the id differs between cards
            buttons[mark] = render_template("cart/_button.html", game=SimpleNamespace(id="__game__"),
                                            state=mark, error=None)
        return buttons[mark].replace("__game__", game_id)

    body = GAME.sub(game_part, body)
    return SLOT.sub(lambda m: own["slots"].get(m.group(1), ""), body)


def member_keys(scope: tuple[str, list[str]] | None = None) -> list[str]:
    """Where member_parts finds the visitor's parts (and the facts a page's slots show)."""
    uid, stamp, locale = current_user.id, g.get("member_view"), current_locale()
    keys = [f"mview:parts:{uid}:{stamp}:{locale}"]
    if scope is not None:
        keys += [f"mview:slots:{uid}:{stamp}:{locale}:{ratings.audience()}:{scope[0]}", *scope[1]]
    return keys


def member_parts(slots: dict, scope: tuple[str, list[str]] | None = None, prefetched: dict | None = None) -> dict:
    """The visitor's own parts: `slots` (the page's, rendered: {name: HTML}, with the
    header and live-notification stream), and their marks (every game they own or have
    in the cart, {id: "owned" | "in_cart"}, or None when there are too many to keep).

    Cached under their view generation (infra/memberview.py) and language: the header,
    stream and marks once for all pages, a page's slots per `scope` (see fill). One MGET
    when nothing changed, none when the caller `prefetched` the values of member_keys
    (with the page's own copy). CSRF tokens are kept out of the copies."""
    stamp = g.get("member_view")
    keys = member_keys(scope)
    values = [None] * len(keys)
    if prefetched is not None and all(key in prefetched for key in keys):
        values = [prefetched[key] for key in keys]
    elif stamp is not None:
        try:
            values = redis_clients.store.mget(keys)
        except RedisError:
            stamp = None  # Redis is down: render, keep nothing
    token = generate_csrf()
    writes = {}
    common = decoded(values[0], token)
    if common is None:
        common = {"header": render_template("_site_header.html"),
                  "toasts": render_template("notifications/_toasts.html"),
                  "marks": card_states.viewer_marks(current_user, None)}
        writes[keys[0]] = common
    elif common["marks"] is not None:
        common["marks"] = {int(k): v for k, v in common["marks"].items()}
    own = {"header": common["header"], "toasts": common["toasts"]}
    mine = {name: render for name, render in slots.items() if name not in own}
    if scope is not None:
        facts = [v or "0" for v in values[2:]]
        cached = decoded(values[1], token)
        if cached is not None and cached.get("facts") == facts:
            own.update(cached["slots"])
            mine = {}
        elif mine:
            rendered = {name: render() for name, render in mine.items()}
            writes[keys[1]] = {"facts": facts, "slots": rendered}
            own.update(rendered)
            mine = {}
    own.update((name, render()) for name, render in mine.items())
    if writes and stamp is not None:
        try:
            with redis_clients.store.pipeline(transaction=False) as pipe:
                for key, value in writes.items():
                    pipe.set(key, json.dumps(value, separators=(",", ":")).replace(token, CSRF_PLACEHOLDER),
                             ex=memberview.TTL)
                pipe.execute()
        except RedisError:
            pass
    return {"slots": own, "marks": common["marks"]}


def decoded(copy: str | None, token: str):
    """A cached copy (JSON, CSRF placeholders given this visitor's token), or None."""
    if copy is None:
        return None
    try:
        return json.loads(copy.replace(CSRF_PLACEHOLDER, token))
    except ValueError:
        return None  # not a copy this code wrote: make a new one


def _owned_badge() -> str:
    return Markup('<span class="badge ok dlc-owned">{}</span>').format(_("Owned"))
