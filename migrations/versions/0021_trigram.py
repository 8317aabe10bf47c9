"""search_words: the words of every game title and tag, with a trigram index, for "did you mean"

Revision ID: 0021_trigram
Revises: 0018_gifts_dlc

A search with no hits falls back to the closest known words (shop/catalog/typos.py):
`search_words` holds each distinct title word once (`word`, as search folds it) and its
`key` — the word cut to the 12 characters search compares, decomposed (NFD) so that a
Hangul syllable is its jamo and a one-letter slip in Korean ("전셜" for "전설") is one
edit, as in English. The key has a trigram index:

* PostgreSQL: pg_trgm (`CREATE EXTENSION IF NOT EXISTS pg_trgm`), a GiST index on
  `key` (nearest-first by trigram distance, and LIKE '%…%').
* SQLite: a contentless FTS5 table `search_words_trigram` (tokenize='trigram', rowid =
  search_words.id) of the keys between spaces (so that, as in pg_trgm, a word's first
  and last letters make trigrams of their own: "숩" shares " ㅅㅜ" with "숲"), filled by
  an insert trigger (words are only ever added).

The catalog services and the demo seeder add a title's words when they write it; the
words of existing games are backfilled here.
"""
import unicodedata

from alembic import op
import sqlalchemy as sa

from shop.catalog.text import words


revision = '0021_trigram'
down_revision = '0018_gifts_dlc'
branch_labels = None
depends_on = None

BATCH = 5000
KEY_LENGTH = 12  # search.MAX_TERM_LENGTH


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute('CREATE TABLE search_words (id serial PRIMARY KEY, word text COLLATE "C" NOT NULL UNIQUE, '
                   "key text NOT NULL)")
    else:
        _sqlite_drop()
        op.execute("CREATE TABLE search_words (id INTEGER PRIMARY KEY, word TEXT NOT NULL UNIQUE, key TEXT NOT NULL)")
        op.execute("CREATE VIRTUAL TABLE search_words_trigram USING fts5(key, content='', tokenize='trigram')")
        op.execute("CREATE TRIGGER search_words_ai AFTER INSERT ON search_words BEGIN "
                   "INSERT INTO search_words_trigram(rowid, key) VALUES (new.id, ' ' || new.key || ' '); END")
    _backfill(postgres)
    if postgres:
        op.execute("CREATE INDEX ix_search_words_key_trgm ON search_words USING gist (key gist_trgm_ops)")
        op.execute("ANALYZE search_words")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS search_words")
    else:
        _sqlite_drop()


def _sqlite_drop():
    op.execute("DROP TRIGGER IF EXISTS search_words_ai")
    op.execute("DROP TABLE IF EXISTS search_words_trigram")
    op.execute("DROP TABLE IF EXISTS search_words")


def _backfill(postgres: bool):
    """Every distinct word of every title (a copy of typos.vocabulary, frozen here)."""
    conn = op.get_bind()
    found: set[str] = set()
    names = sa.text("SELECT DISTINCT title FROM games UNION SELECT name FROM tags")
    for (title,) in conn.execute(names):
        found.update(w for w in words(title) if len(w) > 1 and not w.isdigit())
    rows = [{"word": w, "key": unicodedata.normalize("NFD", w[:KEY_LENGTH])} for w in sorted(found)]
    statement = sa.text("INSERT INTO search_words (word, key) VALUES (:word, :key)")
    for start in range(0, len(rows), BATCH):
        conn.execute(statement, rows[start:start + BATCH])
