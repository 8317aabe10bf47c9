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
import re
from types import SimpleNamespace

from flask import g, render_template
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from . import card_states, ratings

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


def fill(body: str, slots: dict) -> str:
    """The shared `body` with the current visitor's parts put in. `slots` maps a marker
    name to a function returning its HTML; the header and stream slots are built in."""
    ids = [int(m.group(2)) for m in GAME.finditer(body)]
    marks = card_states.viewer_marks(current_user, sorted(set(ids))) if ids else {}
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
    parts = {"header": lambda: render_template("_site_header.html"),
             "toasts": lambda: render_template("notifications/_toasts.html"), **slots}
    return SLOT.sub(lambda m: parts[m.group(1)]() if m.group(1) in parts else "", body)


def _owned_badge() -> str:
    return Markup('<span class="badge ok dlc-owned">{}</span>').format(_("Owned"))
