"""Full-text game search behind one interface: SQLite FTS5 or PostgreSQL tsvector/GIN.

The query is folded and split into words exactly like `games.search_text`
(`text.words`), so hostile input (quotes, `%`, FTS operators, SQL) never reaches the
index as syntax: every term is a plain word used as a prefix.
"""
from dataclasses import dataclass

from sqlalchemy import text

from ..extensions import db
from .text import words

MAX_TERMS = 8
MAX_TERM_LENGTH = 40


@dataclass
class SearchHits:
    ids: list[int]          # listed games, best first
    has_more: bool


def query_terms(q: str | None) -> list[str]:
    terms = [w[:MAX_TERM_LENGTH] for w in words((q or "")[:500])]
    return terms[:MAX_TERMS]


def search_ids(q: str, limit: int = 20, offset: int = 0) -> SearchHits:
    """Games matching every word of `q` as a prefix (title and tags)."""
    terms = query_terms(q)
    if not terms:
        return SearchHits([], False)
    backend = _postgres if db.engine.dialect.name == "postgresql" else _sqlite
    ids = backend(terms, limit + 1, offset)
    return SearchHits(ids[:limit], len(ids) > limit)


def _sqlite(terms, limit, offset):
    match = " ".join(f'"{t}"*' for t in terms)
    rows = db.session.execute(text(
        "SELECT g.id FROM games_fts f JOIN games g ON g.id = f.rowid "
        "WHERE games_fts MATCH :match AND g.status = 'listed' "
        "ORDER BY f.rank, g.sales_count DESC LIMIT :limit OFFSET :offset"),
        {"match": match, "limit": limit, "offset": offset})
    return [r[0] for r in rows]


def _postgres(terms, limit, offset):
    query = " & ".join(f"{t}:*" for t in terms)
    rows = db.session.execute(text(
        "SELECT id FROM games, to_tsquery('simple', :query) q "
        "WHERE search_vector @@ q AND status = 'listed' "
        "ORDER BY ts_rank(search_vector, q) DESC, sales_count DESC LIMIT :limit OFFSET :offset"),
        {"query": query, "limit": limit, "offset": offset})
    return [r[0] for r in rows]
