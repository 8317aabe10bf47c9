"""Full-text game search behind one interface, on SQLite (FTS5) or PostgreSQL (GIN).

What the user gets: every listed game whose words start with every word typed
(title and tags; case, accents and word order ignored), ordered in four tiers —
where a word with Hangul may also sit anywhere inside the title's words ("늑대" finds
"흰늑대의 노래", "하늘" finds "황금 하늘의 검"): Korean glues particles and compounds onto
words, so the title's Hangul bigrams (`games.title_grams`, text.hangul_grams) are
indexed beside its words, and a Hangul query word matches as a word prefix OR by all
of its own bigrams (text.query_grams; a lone character as a gram prefix). Two-character
queries, the most common Korean ones, are one bigram: one index lookup.

  0. the title is the query, word for word ("stellar souls" → "Stellar Souls",
     ahead of a best-selling "Stellar Souls: Remastered"),
  1. the title starts with the query ("hollow kn" → "Hollow Knight: Silksong"),
  2. every query word starts a word of the title,
  3. the rest: some query word matched only a tag,

and inside each tier by popularity (sales_count, then newest id). Tier 0 is a
lookup of the unique slug index (a title's slug is its words joined by "-", plus
"-2", "-3"… for a repeated title), so it costs the same on both databases and at
any catalog size; the other tiers are per database, below. No match score
is computed: on short titles a text score ranks mostly by length, while the tiers
say what a shopper means by "relevant", and they are cheap.

Why it is fast at a million games: each tier is a query for the first
`offset + limit + 1` matches in popularity order, so the work is proportional to
the page asked for, not to how many games match. A very common word ("indie",
half the catalog) costs the same as a rare one:

* SQLite: `games_search` (migration 0003) is a contentless FTS5 index whose rowid
  is the popularity key `sales_count << 32 | id`. FTS5 walks doclists in rowid
  order, so `ORDER BY rowid DESC LIMIT n` stops after n hits and never ranks or
  sorts the rest; prefix indexes of 1..12 characters make `word*` a single
  doclist instead of a merge of every word with that prefix. Only listed games
  are in it (triggers keep it in step with status, sales, slug, search text and
  grams). Both FTS5 tables hold the title's Hangul grams after their words.
* PostgreSQL: per tier, either an index-only walk of the covering popularity
  index (`ix_games_listed_popular`) that stops at n hits — best for common words —
  or a GIN/slug index lookup plus a top-n sort — best for rare ones — chosen from
  the words' frequencies in pg_stats (search_pg.py says why not by the planner).
  All indexes are partial on listed games. The title-words index and search_vector
  hold the title's Hangul grams too (migration 0014); the walk checks a Hangul word
  with strpos on the slug.

The /search page also says how many games match: when there is more than one page,
it asks the same tiers for MAX_RESULTS + 1 ids (`count=True`), so that count costs what
the last reachable page does; the live dropdown and /games do not count.

The query is folded and split into words exactly like `games.search_text`
(`text.words`), so hostile input (quotes, `%`, FTS operators, SQL, NUL bytes)
never reaches an index as syntax: every term is a plain word used as a prefix.
"""
import logging
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from . import search_pg
from .models import Game
from .text import query_grams, words

log = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 500
MAX_TERMS = 8
# Words are compared on their first 12 characters: the longest prefix index
# SQLite keeps (longer prefixes would merge every matching word's doclist).
MAX_TERM_LENGTH = 12
# Pages end here: nobody reads result 1,001, and deep offsets are the one thing
# that still costs in proportion to their depth.
MAX_RESULTS = 1000


@dataclass
class SearchHits:
    ids: list[int]          # listed games, best first
    has_more: bool
    total: int = 0          # matches in all when counted, up to MAX_RESULTS + 1 (see _count)


def query_terms(q: str | None) -> list[str]:
    """The words of `q` as the index stores them (folded, at most 8 of 12 characters)."""
    terms = []
    for word in words((q or "")[:MAX_QUERY_LENGTH]):
        term = word[:MAX_TERM_LENGTH]
        if term not in terms:
            terms.append(term)
    return terms[:MAX_TERMS]


def search_ids(q: str, limit: int = 20, offset: int = 0, count: bool = False) -> SearchHits:
    """Listed games matching every word of `q` as a prefix, best first (see module doc).
    With `count`, `total` says how many match in all (see _count); without, it is
    only the matches fetched.

    Never raises for odd input; at most MAX_RESULTS games are reachable."""
    terms = query_terms(q)
    offset = max(0, offset)
    limit = max(0, min(limit, MAX_RESULTS - offset))
    if not terms or limit == 0:
        return SearchHits([], False)
    tiered = search_pg.first_ids if db.engine.dialect.name == "postgresql" else _sqlite_first_ids
    exact = _exact_title_ids(q)

    def first_ids(terms: list[str], need: int) -> list[int]:
        # The exact titles lead; the tiers are asked for as many more so that
        # leaving those out of them still fills the page.
        rest = [i for i in tiered(terms, need + len(exact)) if i not in exact]
        return (exact + rest)[:need]

    try:
        ids = first_ids(terms, offset + limit + 1)
    except DBAPIError:
        # Defence in depth: a term some tokenizer reads unlike `words` must cost an
        # empty result, not a 500. Search only reads, so nothing is lost.
        log.warning("search failed for %r", terms, exc_info=True)
        db.session.rollback()
        ids = []
    end = offset + limit
    has_more = len(ids) > end and end < MAX_RESULTS
    total = max(_count(first_ids, terms), len(ids)) if count and len(ids) > end else len(ids)
    return SearchHits(ids[offset:end], has_more, total)


EXACT_SUFFIXES = 5  # "-2" … "-5": a title repeated more often than that is found by the tiers


def _exact_title_ids(q: str) -> list[int]:
    """Listed games whose title is `q` word for word (folded), most popular first:
    slugs `base`, `base-2`, … read off the unique slug index, then checked against
    the title itself so that "Souls 2" is not an exact match for "souls"."""
    wanted = words((q or "")[:MAX_QUERY_LENGTH])
    if not wanted:
        return []
    base = "-".join(wanted)
    if len(base) > 120:  # longer than any slug (text.slugify cuts there)
        return []
    slugs = [base] + [f"{base}-{n}" for n in range(2, EXACT_SUFFIXES + 1)]
    try:
        rows = db.session.execute(
            select(Game.id, Game.title).where(Game.slug.in_(slugs), Game.status == "listed")
            .order_by(Game.sales_count.desc(), Game.id.desc())).all()
    except DBAPIError:
        log.warning("exact title lookup failed for %r", q, exc_info=True)
        db.session.rollback()
        return []
    return [game_id for game_id, title in rows if words(title) == wanted]


def _count(first_ids, terms: list[str]) -> int:
    """How many games match, up to MAX_RESULTS + 1 ("more than 1,000"): the same tiered
    queries asked for that many ids, so the count is exactly the reachable result
    list and costs what its last page costs. Only needed when the page asked for
    is not the last one."""
    try:
        return len(first_ids(terms, MAX_RESULTS + 1))
    except DBAPIError:
        log.warning("search count failed for %r", terms, exc_info=True)
        db.session.rollback()
        return 0


def _sqlite_first_ids(terms: list[str], need: int) -> list[int]:
    """The first `need` ids over the three tiers, one FTS5 query each, in order."""
    ids: list[int] = []
    for fetch in _sqlite_tiers(terms):
        if len(ids) >= need:
            break
        ids += fetch(need - len(ids))
    return ids


def _sqlite_tiers(terms: list[str]):
    """FTS5 queries, one per tier, each read in popularity (rowid) order. Terms are
    letters and digits only, so inside double quotes they are plain words."""
    every = " AND ".join(_fts_term(t) for t in terms)
    # games_title starts with "§" + the first title word, so "the title starts with
    # the query" is a phrase: that marker token, then the query's words.
    starts = f'"§{terms[0]}"*' if len(terms) == 1 else '"§' + " ".join([terms[0], *terms]) + '"*'
    yield _fts("games_title", starts)
    yield _fts("games_title", f"({every}) NOT {starts}")
    # Asked for only when the title tiers fell short of a page, so the title
    # matches to leave out are few.
    yield _fts("games_search", every, "AND rowid NOT IN (SELECT rowid FROM games_title WHERE games_title MATCH :match)")


def _fts_term(term: str) -> str:
    """A word as an FTS5 query: a word prefix, or for Hangul also all of its grams."""
    grams = query_grams(term)
    if not grams or grams == [(term, False)] or grams == [(term, True)]:
        return f'"{term}"*'  # a one- or two-character Hangul word is its own gram
    return f'("{term}"* OR (' + " AND ".join(f'"{g}"' + ("*" if prefix else "") for g, prefix in grams) + "))"


def _fts(table: str, match: str, extra: str = ""):
    sql = (f"SELECT rowid & 4294967295 FROM {table} WHERE {table} MATCH :match {extra} "
           "ORDER BY rowid DESC LIMIT :n")
    return lambda n: list(db.session.scalars(text(sql), {"match": match, "n": n}))
