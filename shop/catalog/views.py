"""Store-front routes: browsing /games and the game page. The home page rows are
rendered here too (`home_sections`), for core.index."""

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from ..extensions import db
from ..timeutil import utcnow
from . import cache, card_states, overlay, pagecache, pagehead, rankings, storefront, wishlist
from .blueprint import bp
from .models import Game
from .services import dlc_of, find_game
from .text import render_markdown

# (cache key, template, rows) — each row: (heading, "see all" URL arguments, query).
# The cache keys get the locale added (cache.get_or_render): headings are translated.
HOME_FRAGMENTS = [
    ("cache:lists:home:featured", "catalog/_home_featured.html", None),
    ("cache:lists:home:offers", "catalog/_home_rows.html", [
        (_l("Special offers"), {"on_sale": 1}, storefront.on_sale)]),
    ("cache:lists:home:rankings", "catalog/_home_rows.html", [
        (_l("Trending this week"), None, storefront.trending),
        (_l("Top sellers"), {"sort": "bestselling"}, storefront.top_sellers)]),
    ("cache:lists:home:new", "catalog/_home_rows.html", [
        (_l("New releases"), {"sort": "newest"}, storefront.new_releases)]),
]
RANKINGS_TTL = rankings.TRENDING_CACHE_SECONDS


def is_partial() -> bool:
    """htmx asked for a fragment: not a boosted navigation or a history restore,
    which both need the whole page."""
    headers = request.headers
    return ("HX-Request" in headers and "HX-Boosted" not in headers
            and "HX-History-Restore-Request" not in headers)


def home_sections() -> list[Markup]:
    """The home page rows, each cached in Redis under cache:lists:*:<locale> (dropped whenever
    a game changes, and never kept past the next sale start or end)."""
    now = utcnow()
    ttl = storefront.price_ttl(now)
    html = []
    for key, template, rows in HOME_FRAGMENTS:

        def render(template=template, rows=rows):
            if rows is None:
                return render_template(template, games=storefront.featured(now), now=now,
                                       categories=storefront.categories())
            return render_template(template, now=now,
                                   rows=[(title, see_all, query(now)) for title, see_all, query in rows])

        lifetime = min(ttl, RANKINGS_TTL) if key.endswith(":rankings") else ttl
        html.append(Markup(cache.get_or_render(key, lifetime, render)))
    return html


@bp.route("/games")
def browse():
    """Filters, sorts and pages; any query string gives a normal page (bad values are
    dropped or clamped). htmx filter changes get only the list. Anonymous visitors at a
    canonical URL get the shared cached copy (pagecache)."""
    now = utcnow()
    query = storefront.BrowseQuery.from_args(request.args)
    partial = is_partial()
    # The canonical URL of what was asked; a page past the last one is clamped on render.
    asked = url_for("catalog.browse", **query.to_args())
    pushed = []

    def render():
        result = storefront.browse(query, now)
        canonical = url_for("catalog.browse", **query.to_args(page=result.page if result.page > 1 else None))
        pushed.append(canonical)
        viewer = None if overlay.active() else current_user  # shared copy: overlay.fill adds the visitor's
        context = dict(result=result, query=query, canonical=canonical, now=now,
                       cart_states=card_states.states(viewer, result.games))
        if partial:
            return (render_template("catalog/_game_list.html", **context)
                    + render_template("catalog/_sort.html", oob=True, **context))
        return render_template("catalog/browse.html", categories=storefront.categories(),
                               tags=storefront.tags(), **context)

    response = pagecache.page(asked, [cache.GENERATION], lambda: storefront.price_ttl(now), render,
                              partial=partial)
    if partial:
        response.headers["HX-Push-Url"] = pushed[0] if pushed else asked  # the cleaned-up URL, shareable as is
    response.vary.add("HX-Request")
    return response


def find_listed(slug: str):
    """services.find_game, after refusing what no slug can be (PostgreSQL errors on NUL)."""
    if len(slug) > 200 or not slug.isprintable():
        return None, None
    return find_game(slug)


@bp.route("/games/<slug>")
def game_page(slug):
    """A listed game's page. An anonymous visitor whose shared copy is current is served
    from Redis alone (pagehead). A logged-in one finds the game's id and shared buy state
    there too, and the game is read only to render what is not cached. Otherwise the
    game is looked up by its slug (one index read) for its buy state, which the rules
    read from the game itself (release date, age rating, base game)."""
    if len(slug) > 200 or not slug.isprintable():
        abort(404)
    canonical = url_for("catalog.game_page", slug=slug)
    served = pagehead.serve(canonical, is_partial(), _visitor())
    if served is not None:
        return served
    head = pagehead.current(canonical) if current_user.is_authenticated and pagecache.usable(canonical) else None
    if head is not None:
        game_id, shared_state = head
        loaded = []
    else:
        game = db.session.scalar(select(Game).where(Game.slug == slug, Game.status == "listed"))
        if game is None:
            game, current_slug = find_game(slug)  # an old slug redirects; the rest is 404
            if current_slug:
                return redirect(url_for("catalog.game_page", slug=current_slug), 301)
            abort(404)
        game_id, loaded = game.id, [game]
        # The buy state anyone sees (sold out, coming soon...); a visitor's own (in cart,
        # owned) is put in by the buy box slot, or by render() when the page is not shared.
        shared_state = card_states.states(None, [game])[game_id]
    rankings.record_view(game_id, _visitor())
    now = utcnow()

    def the_game() -> Game:
        """The game, read when something must be rendered (the head said it is listed)."""
        if not loaded:
            found = db.session.scalar(select(Game).where(Game.id == game_id, Game.status == "listed"))
            if found is None:
                abort(404)
            loaded.append(found)
        return loaded[0]

    def purchase():
        game = the_game()
        return dict(state=card_states.states(current_user, [game])[game_id],
                    wishlisted=wishlist.is_wishlisted(current_user, game_id))

    def render():
        game = the_game()
        ttl = storefront.price_ttl(now, game)
        parts = {
            part: Markup(cache.get_or_render(cache.game_key(game.id, part), ttl, lambda part=part: render_template(
                f"catalog/_game_{part}.html", game=game, now=now, description=render_markdown(game.description))))
            for part in ("detail", "price", "body")
        }
        dlcs = dlc_of(game)
        shared = overlay.active()  # DLC ownership, the buy box and reviews are the visitor's (overlay.fill)
        states = card_states.states(None if shared else current_user, [game, *dlcs])
        return render_template("catalog/game.html", game=game, parts=parts, dlcs=dlcs, dlc_states=states,
                               base_game=game.base_game if game.base_game_id else None,
                               **({"state": shared_state} if shared else purchase()))

    slots = {"buy": lambda: render_template("catalog/_purchase.html", game=the_game(), **purchase()),
             "reviews": lambda: render_template("catalog/_game_reviews.html", game=the_game())}
    response = pagecache.page(canonical, [cache.game_generation_key(game_id)],
                              lambda: storefront.price_ttl(now, the_game()), render, partial=is_partial(),
                              variant=shared_state, slots=slots, scope=f"game:{game_id}:{shared_state}")
    if head is None and response.headers.get(pagecache.HEADER) != "bypass":
        pagehead.remember(canonical, loaded[0], shared_state)  # the next visitor skips the game's row
    return response


def _visitor() -> str:
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"anon:{request.remote_addr}:{request.user_agent.string[:200]}"
