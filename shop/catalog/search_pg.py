"""PostgreSQL side of game search (the plan and the why are in search.py).

Each tier asks for its first n games in popularity order, and there are two ways
to get them:

* walk — read the covering popularity index (`ix_games_listed_popular`: sales_count
  DESC, id DESC, including slug and search_vector) from the top, index-only, and keep
  the rows that match, until n are found. Cheap when matches are common: "indie"
  needs ~40 index entries for a page. Bounded: when the budget runs out first, the
  lookup below answers instead.
* lookup — a GIN (or slug pattern) index finds every match, then a top-n sort.
  Cheap when matches are few.

Which one is chosen here, from the words' frequencies in the statistics ANALYZE
keeps (pg_stats most_common_elems for search_vector and for the title-words
expression index), not by the planner: its estimates for these combined conditions
are off by orders of magnitude (it once walked all 20,000 rows for a word in
none of them), and a wrong walk costs a full index scan.
"""
import bisect
import threading
import time
from dataclasses import dataclass

from sqlalchemy import text

from ..extensions import db
from .text import query_grams

STATS_TTL = 300  # seconds between re-reads of pg_stats
WALK_MIN, WALK_MAX = 2_000, 200_000  # index entries a walk may read before giving up
ROW_COST = 4  # a table row fetched by a lookup costs about as much as 4 index entries walked
STARTS_PROBE = 4_000  # "title starts with" matches read off the slug index before walking instead
UNION_MAX_ROWS = 1_500  # lookups this small share one (see BOTH)
FORCE_PATH = None  # "walk" or "lookup": tests check both give the same answers

# ix_games_listed_title_words: the title's words and Hangul grams (migration 0014).
TITLE_WORDS = "to_tsvector('simple', replace(slug, '-', ' ') || ' ' || title_grams)"
LOOKUP = ("SELECT {tier:d} AS tier, id, sales_count FROM (SELECT id, sales_count FROM games "
          "WHERE status = 'listed' AND {where} OFFSET 0) m ORDER BY sales_count DESC, id DESC LIMIT {n:d}")
WALK = ("SELECT id FROM (SELECT id, sales_count, slug, search_vector FROM games WHERE status = 'listed' "
        "ORDER BY sales_count DESC, id DESC LIMIT {budget:d}) w "
        "WHERE {where} ORDER BY sales_count DESC, id DESC LIMIT {n:d}")
# Tiers 2 and 3 in one lookup: title matches, then tag matches, each by popularity.
BOTH = ("SELECT id FROM (SELECT id, sales_count, slug FROM games WHERE status = 'listed' "
        "AND search_vector @@ {query} AND NOT {starts} OFFSET 0) m "
        "ORDER BY CASE WHEN {in_title} THEN 0 ELSE 1 END, sales_count DESC, id DESC LIMIT {n:d}")
# Reads at most STARTS_PROBE + 1 entries of ix_games_listed_slug_prefix (index-only: it
# includes sales_count and id), and says how many it found.
STARTS = ("WITH r AS MATERIALIZED (SELECT id, sales_count FROM games WHERE status = 'listed' AND {where} "
          "ORDER BY slug USING ~<~ LIMIT {probe:d}) "
          "SELECT id, (SELECT count(*) FROM r) FROM r ORDER BY sales_count DESC, id DESC LIMIT {n:d}")


@dataclass
class Tier:
    lookup: str      # SQL condition an index answers
    walk: str        # the same condition, cheap to test on an entry of the popularity index
    matches: float   # games in the tier (estimated from the statistics)
    scan: float      # table rows its lookup reads (estimated)


def first_ids(terms: list[str], need: int) -> list[int]:
    """The first `need` ids over the three tiers of search.py, in order.

    Terms go in as literals, not parameters: a prepared statement's generic plan
    would treat "indie" and "axolotl" alike. They are letters and digits only
    (`text.words`), and quoted all the same."""
    stats = statistics()
    query = f"to_tsquery('simple', {_quote(tsquery(terms))})"
    starts = f"slug LIKE {_quote('-'.join(terms) + '%')}"
    # A word starts a title word; a Hangul word may also sit inside one.
    in_title = " AND ".join(f"strpos(slug, {_quote(t)}) > 0" if query_grams(t)
                            else f"strpos('-' || slug, {_quote('-' + t)}) > 0" for t in terms)
    # The grams say a Hangul word may be in the title; strpos says it is.
    inside = "".join(f" AND strpos(slug, {_quote(t)}) > 0" for t in terms if query_grams(t))
    title_count = stats.listed * stats.selectivity(terms, title=True)
    every_count = stats.listed * stats.selectivity(terms)

    ids, starting = _starting(starts, need, stats, terms, title_count)
    rest = [
        Tier(f"{TITLE_WORDS} @@ {query}{inside} AND NOT {starts}", f"{in_title} AND NOT {starts}",
             max(title_count - starting, 0.0), title_count),
        Tier(f"search_vector @@ {query} AND NOT ({in_title})", f"search_vector @@ {query} AND NOT ({in_title})",
             max(every_count - title_count, 0.0), every_count),
    ]
    n = need - len(ids)
    if n > 0 and all(_walk_budget(t, n, stats.listed) is None for t in rest) \
            and every_count <= max(UNION_MAX_ROWS, 2 * title_count):
        # Both are lookups: one GIN lookup of search_vector (it holds the title's words and
        # grams too) finds both tiers' games, and the title check tells them apart.
        return ids + _ids(BOTH.format(query=query, starts=starts, in_title=in_title, n=n))
    for tier in rest:
        if len(ids) >= need:
            break
        ids += fetch(tier, need - len(ids), stats.listed)
    return ids


def tsquery(terms: list[str]) -> str:
    """The words as a tsquery: each a prefix, a Hangul one or else all its grams."""
    parts = []
    for term in terms:
        grams = query_grams(term)
        if not grams or grams in ([(term, False)], [(term, True)]):
            parts.append(f"{term}:*")  # a one- or two-character Hangul word is its own gram
        else:
            parts.append(f"({term}:* | " + " & ".join(g + (":*" if prefix else "") for g, prefix in grams) + ")")
    return " & ".join(parts)


def _starting(starts: str, n: int, stats: "Statistics", terms: list[str], in_titles: float):
    """Tier 1, games whose title starts with the query: (first n ids, how many there
    are, or at least). Many: walk for them. Few: straight off the slug index."""
    share = stats.starting_share("-".join(terms))  # the histogram sees >= 1% only
    # Words common in titles often start them too (a third of the time, say): try
    # a short walk before counting them on the slug index.
    guess = max(share * stats.listed, in_titles / 3)
    # ("sta" at 1M games: ~7,000 titles start so, a guess of ~15,000; the probe below would
    # read 4,001 slug entries, 6.8 ms, and a walk finds a page in ~1,800 entries, 0.7 ms.)
    if FORCE_PATH is None and guess > 2 * STARTS_PROBE:
        budget = int(min(WALK_MAX, max(WALK_MIN, 4 * n * stats.listed / guess)))
        ids = _ids(WALK.format(where=starts, n=n, budget=budget))
        if len(ids) >= n:
            return ids, guess
    if FORCE_PATH != "walk":
        rows = db.session.execute(text(STARTS.format(where=starts, probe=STARTS_PROBE + 1, n=n))).all()
        total = rows[0][1] if rows else 0
        if total <= STARTS_PROBE:
            return [r[0] for r in rows], total
    count = max(guess, STARTS_PROBE + 1)
    return fetch(Tier(starts, starts, count, count), n, stats.listed, walk=True), count


def fetch(tier: Tier, n: int, listed: float, walk: bool = False) -> list[int]:
    """The first n ids of one tier in popularity order, by walk or lookup."""
    budget = _walk_budget(tier, n, listed, walk)
    lookup = f"SELECT id FROM ({LOOKUP.format(tier=0, where=tier.lookup, n=n)}) l"
    if budget is None:
        return _ids(lookup)
    ids = _ids(WALK.format(where=tier.walk, n=n, budget=budget))
    if len(ids) >= n or FORCE_PATH == "walk":
        return ids
    return _ids(lookup)  # rarer than the statistics said (or the walk saw every game)


def _walk_budget(tier: Tier, n: int, listed: float, walk: bool = False) -> int | None:
    """How many index entries to walk for this tier, or None to look it up instead:
    a walk reads about n * listed / matches entries, a lookup `scan` table rows."""
    walked = n * max(listed, 1.0) / max(tier.matches, 0.5)
    if FORCE_PATH == "lookup" or (FORCE_PATH is None and not walk and tier.scan * ROW_COST <= walked):
        return None
    if FORCE_PATH == "walk":
        return 2**62  # the whole index
    return int(min(WALK_MAX, max(WALK_MIN, 4 * walked)))


def _ids(sql: str) -> list[int]:
    return list(db.session.scalars(text(sql)))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Statistics:
    listed: float
    search: tuple[list[str], list[float], float]  # sorted lexemes, their frequencies, floor
    title: tuple[list[str], list[float], float]
    slugs: list[str]  # the slug histogram's bounds

    def starting_share(self, prefix: str) -> float:
        """Share of games whose slug starts with `prefix`, to the histogram's grain
        (1%): 0 for anything rarer."""
        inside = sum(1 for bound in self.slugs if bound.startswith(prefix))
        return max(inside - 1, 0) / max(len(self.slugs) - 1, 1)

    def selectivity(self, terms: list[str], title: bool = False) -> float:
        """Share of listed games matching every term as a prefix (independence
        assumed between terms; a word the statistics do not list is rare)."""
        elements = self.title if title else self.search
        share = 1.0
        for term in terms:
            grams = query_grams(term)
            # A Hangul word: as a prefix, or as its rarest gram (its grams go together).
            by_grams = min((_prefix_share(elements, g) for g, _ in grams), default=0.0)
            share *= max(_prefix_share(elements, term), by_grams)
        return share


def _prefix_share(elements, prefix: str) -> float:
    lexemes, freqs, floor = elements
    i, total = bisect.bisect_left(lexemes, prefix), 0.0
    while i < len(lexemes) and lexemes[i].startswith(prefix):
        total += freqs[i]
        i += 1
    return min(1.0, total) if total else floor


_cache: dict[str, tuple[float, Statistics]] = {}
_lock = threading.Lock()


def statistics() -> Statistics:
    """pg_stats for the search columns, re-read every STATS_TTL seconds per database.

    Single-flight: one caller re-reads them while the others wait for its result (a
    cold cache) or keep using the previous copy (a stale one), so a burst of
    searches never runs the pg_stats queries more than once."""
    key = db.engine.engine.url.render_as_string(hide_password=True)  # (tests bind a Connection)
    cached = _cache.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    if not _lock.acquire(blocking=cached is None):
        return cached[1]  # another caller is refreshing it
    try:
        cached = _cache.get(key)  # whoever held the lock before may have just read them
        if cached and cached[0] > time.monotonic():
            return cached[1]
        stats = _read_statistics()
        _cache[key] = (time.monotonic() + STATS_TTL, stats)
        return stats
    finally:
        _lock.release()


def _read_statistics() -> Statistics:
    rows = db.session.execute(text(
        "SELECT tablename, (most_common_elems::text)::text[], most_common_elem_freqs FROM pg_stats "
        "WHERE schemaname = current_schema() AND ((tablename = 'games' AND attname = 'search_vector') "
        "OR tablename = 'ix_games_listed_title_words')")).all()
    listed = db.session.scalar(text("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'games'::regclass"))
    slugs = db.session.scalar(text(
        "SELECT (histogram_bounds::text)::text[] FROM pg_stats "
        "WHERE schemaname = current_schema() AND tablename = 'games' AND attname = 'slug'"))
    found = {table: _elements(elems, freqs) for table, elems, freqs in rows}
    empty = ([], [], 0.0)  # no statistics yet: every word counts as rare
    return Statistics(float(listed or 0), found.get("games", empty),
                      found.get("ix_games_listed_title_words", empty), list(slugs or []))


def _elements(elems, freqs):
    if not elems or not freqs:
        return [], [], 0.0
    pairs = sorted(zip(elems, freqs[:len(elems)]))
    # After the elements' own frequencies pg_stats lists their min, max and null share;
    # a word below the list is rarer than the rarest one listed (PostgreSQL guesses half).
    return [p[0] for p in pairs], [p[1] for p in pairs], freqs[len(elems)] / 2
