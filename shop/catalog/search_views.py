"""Search pages: /search (full results, paginated) and /search/live (the header's
dropdown, an htmx partial). Ranking and speed live in search.py."""
from flask import redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import lazyload, selectinload

from ..web.numbers import page_number
from ..extensions import db
from ..timeutil import utcnow
from .blueprint import bp
from .models import Game
from . import cache, pagecache, storefront, typos
from .search import MAX_RESULTS, query_terms
from .views import is_partial

PAGE_SIZE = 20
LIVE_SIZE = 8
LIVE_MIN_CHARS = 2
MAX_QUERY_CHARS = 200  # what we echo back; the header's input stops at 100
MAX_PAGE = MAX_RESULTS // PAGE_SIZE


def _query() -> str:
    """`q` as printable text: PostgreSQL refuses NUL bytes and nothing we index has
    control characters, so they are dropped rather than allowed to reach a page."""
    raw = request.args.get("q", "", type=str)[:MAX_QUERY_CHARS * 2]
    return " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())[:MAX_QUERY_CHARS]


def _page() -> int:
    return page_number(request.args.get("page"), MAX_PAGE)


def games_by_ids(ids: list[int]) -> list[Game]:
    """Listed games for `ids` in that order, loaded with what a result row shows
    (category, tags) and not what it does not (publisher, screenshots)."""
    if not ids:
        return []
    query = (select(Game).where(Game.id.in_(ids), Game.status == "listed")
             .options(lazyload(Game.publisher), lazyload(Game.screenshots), selectinload(Game.tags)))
    found = {game.id: game for game in db.session.scalars(query)}
    return [found[i] for i in ids if i in found]


class _PastTheEnd(Exception):
    """The asked page is past the last one: `last` is where to go instead."""

    def __init__(self, last: int):
        super().__init__(last)
        self.last = last


@bp.route("/search")
def search_page():
    """Results for `q`, page by page. Anonymous visitors at the canonical URL get the
    shared cached copy (pagecache), stamped with the catalog's generation: results show
    prices, ranks and listings, and any game change bumps it."""
    q, page = _query(), _page()
    partial = is_partial()

    def render():
        # No hits: the corrected query's, under "did you mean" (typos.py); paging follows it.
        hits, suggestion = typos.search(q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, count=True)
        if page > 1 and not hits.ids:  # past the last page (the count is exact here)
            raise _PastTheEnd(max(1, -(-hits.total // PAGE_SIZE)))
        context = dict(q=q, suggestion=suggestion, results_q=suggestion.query if suggestion else q, page=page,
                       games=games_by_ids(hits.ids), has_more=hits.has_more, total=hits.total,
                       max_results=MAX_RESULTS, searchable=bool(query_terms(q)),
                       first=(page - 1) * PAGE_SIZE + 1, now=now)
        return render_template("catalog/_search_results.html" if partial else "catalog/search.html", **context)

    now = utcnow()
    canonical = url_for("catalog.search_page", q=q or None, page=page if page > 1 else None)
    try:
        return pagecache.page(canonical, [cache.GENERATION], lambda: storefront.price_ttl(now), render,
                              partial=partial)
    except _PastTheEnd as past:  # go to the last page
        return redirect(url_for("catalog.search_page", q=q, page=past.last if past.last > 1 else None))


@bp.route("/search/live")
def live_search():
    """The top few games for the header's search box; nothing for under 2 characters."""
    q = _query()
    if len(q) < LIVE_MIN_CHARS or not query_terms(q):
        return ""
    hits, suggestion = typos.search(q, limit=LIVE_SIZE)
    return render_template("catalog/_live_results.html", q=q, suggestion=suggestion,
                           results_q=suggestion.query if suggestion else q, games=games_by_ids(hits.ids),
                           has_more=hits.has_more, now=utcnow())
