""""Did you mean": a search with no hits tries the closest known words instead.

Only when a search finds nothing (page 1), so a search with hits never pays for it.
Then every query word that no title or tag word starts with (or, for Hangul, contains)
is replaced by the nearest word of `search_words` (migration 0021): candidates that
share trigrams with it, read off a trigram index (pg_trgm GiST on PostgreSQL, an FTS5
trigram table on SQLite), ranked by edit distance — optimal string alignment, so a
swap of two neighbours ("kinght", "dargon", "adventrue") is one edit. Words are
compared decomposed (NFD): a Hangul syllable is its jamo, and "전셜" is one edit from
"전설". The corrected query is searched like any other; when it finds games they are
shown under "Did you mean …?", naming the title itself when it is one.

The vocabulary only grows: the catalog services and the demo seeder add a title's
words when they write it (`remember`), the admin a tag's. Words of a delisted game stay;
they cost nothing, and a correction that finds no listed game is not offered.
"""
import logging
import unicodedata
from dataclasses import dataclass

from sqlalchemy import column, select, table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from .models import Game
from .search import MAX_TERM_LENGTH, SearchHits, query_terms, search_ids
from .text import hangul_runs, words

log = logging.getLogger(__name__)

CANDIDATES = 50  # nearest words by trigrams, then ranked by edit distance
_WORDS = table("search_words", column("word"), column("key"))


@dataclass
class Suggestion:
    query: str   # the corrected query, searched instead
    label: str   # what "did you mean" names: the title when the query is one, else the query


def key(word: str) -> str:
    """How a word is compared: its first 12 characters (as search compares them), decomposed."""
    return unicodedata.normalize("NFD", word[:MAX_TERM_LENGTH])


def vocabulary(text_: str) -> set[str]:
    """The words of a title or tag name worth correcting to (not numbers, not single letters)."""
    return {w for w in words(text_) if len(w) > 1 and not w.isdigit()}


def remember(texts) -> None:
    """Adds the words of `texts` (titles, tag names) to search_words, in the caller's
    transaction; words already there are left alone."""
    found = set().union(*(vocabulary(t) for t in texts)) if texts else set()
    if not found:
        return
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    rows = [{"word": w, "key": key(w)} for w in sorted(found)]
    db.session.execute(dialect.insert(_WORDS).on_conflict_do_nothing(index_elements=["word"]), rows)


def search(q: str, limit: int, offset: int = 0, count: bool = False) -> tuple[SearchHits, Suggestion | None]:
    """search_ids(q), or when that finds nothing on the first page, the hits of the
    corrected query and the suggestion that names it."""
    hits = search_ids(q, limit=limit, offset=offset, count=count)
    if hits.ids or offset or limit <= 0:
        return hits, None
    try:
        fixed = corrected(q)
    except DBAPIError:
        log.warning("typo fallback failed for %r", q, exc_info=True)
        db.session.rollback()
        return hits, None
    if fixed is None:
        return hits, None
    better = search_ids(fixed, limit=limit, count=count)
    if not better.ids:
        return hits, None
    title = db.session.scalar(select(Game.title).where(Game.id == better.ids[0]))
    label = title if title is not None and words(title) == fixed.split() else fixed
    return better, Suggestion(fixed, label)


def corrected(q: str) -> str | None:
    """`q` with each unknown word replaced by its nearest known word; None when some
    word has no near neighbour or every word is known (nothing to correct)."""
    terms = query_terms(q)
    fixed, changed = [], False
    for term in terms:
        if _known(term):
            fixed.append(term)
            continue
        best = _nearest(term)
        if best is None:
            return None
        fixed.append(best)
        changed = True
    return " ".join(fixed) if changed else None


def _known(term: str) -> bool:
    """Some title or tag word starts with `term` (or contains it, for Hangul)."""
    if hangul_runs(term) and len(key(term)) >= 3:
        if _postgres():
            sql, params = "SELECT 1 FROM search_words WHERE key LIKE :pattern LIMIT 1", {"pattern": f"%{key(term)}%"}
        else:  # a trigram table's phrase is a substring
            sql, params = "SELECT 1 FROM search_words_trigram WHERE search_words_trigram MATCH :phrase LIMIT 1", \
                {"phrase": f'"{key(term)}"'}
        return db.session.scalar(text(sql), params) is not None
    sql = "SELECT 1 FROM search_words WHERE word >= :low AND word < :high LIMIT 1"
    return db.session.scalar(text(sql), {"low": term, "high": term + "\U0010ffff"}) is not None


def _nearest(term: str) -> str | None:
    """The known word nearest to `term` within allowed_edits, or None."""
    wanted = key(term)
    if len(wanted) < 3:
        return None  # no trigram to look up, and too short to guess from
    best, best_score = None, allowed_edits(wanted) + 0.5
    for word, word_key in _candidates(wanted):
        score = min(distance(wanted, word_key),
                    # typing a word's beginning with a slip in it ("advnetu" → "adventure")
                    distance(wanted, word_key[:len(wanted)]) + 0.5 if len(wanted) >= 4 else 99)
        if score < best_score:
            best, best_score = word, score
    return best


def allowed_edits(wanted: str) -> int:
    return 1 if len(wanted) <= 5 else 2 if len(wanted) <= 9 else 3


def _candidates(wanted: str) -> list[tuple[str, str]]:
    """Up to CANDIDATES known words sharing the most trigrams with `wanted`, best first."""
    if _postgres():
        sql = "SELECT word, key FROM search_words ORDER BY key <-> :key LIMIT :n"
        return [tuple(r) for r in db.session.execute(text(sql), {"key": wanted, "n": CANDIDATES})]
    padded = f" {wanted} "  # as the index holds them
    grams = list(dict.fromkeys(padded[i:i + 3] for i in range(len(padded) - 2)))
    match = " OR ".join(f'"{g}"' for g in grams)  # letters, digits and jamo only: no quotes inside
    sql = ("SELECT w.word, w.key FROM search_words_trigram t JOIN search_words w ON w.id = t.rowid "
           "WHERE search_words_trigram MATCH :match ORDER BY t.rank LIMIT :n")
    return [tuple(r) for r in db.session.execute(text(sql), {"match": match, "n": CANDIDATES})]


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and
    swaps of two neighbours each cost one edit."""
    before, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"
