"""Hangul n-grams: games.title_grams, in both search indexes, so "늑대" finds "흰늑대"

Revision ID: 0014_hangul
Revises: 0013_locale
Create Date: 2026-12-02 10:10:00

Korean glues particles and compounds onto words ("젤다의 전설", "흰늑대의 노래"), so a
word-prefix index cannot find "늑대" in "흰늑대". `games.title_grams` holds the title's
Hangul bigrams plus each stretch's last character (`text.hangul_grams`), written by the
catalog services beside `search_text`, and both databases index it beside the words:

* SQLite: the contentless FTS5 tables of 0003 are rebuilt with the grams appended to
  their text (`games_title`: marker, title words, grams; `games_search`: search_text,
  grams), and their triggers also follow title_grams.
* PostgreSQL: the title-words GIN expression and the generated `search_vector` take
  the grams too (the column is dropped and added again: PostgreSQL 15 cannot change a
  generated expression), and the indexes that hold them are rebuilt as in 0003.

Existing rows are backfilled (title_grams computed here in Python, then the indexes
built from it).
"""
import re

from alembic import op
import sqlalchemy as sa

from shop.catalog.text import hangul_grams


revision = '0014_hangul'
down_revision = '0013_locale'
branch_labels = None
depends_on = None

# SQLite, as in 0003 (`r` is `new`, `old` or `games`).
_KEY = "((max(0, min({r}.sales_count, 1073741823)) << 32) | {r}.id)"
_TITLE = "'§' || substr({r}.slug, 1, instr({r}.slug || '-', '-') - 1) || ' ' || replace({r}.slug, '-', ' ')"
_OLD = {"games_title": ("title", _TITLE), "games_search": ("body", "{r}.search_text")}
_NEW = {"games_title": ("title", _TITLE + " || ' ' || {r}.title_grams"),
        "games_search": ("body", "{r}.search_text || ' ' || {r}.title_grams")}
_TOKENIZE = "unicode61 remove_diacritics 2 tokenchars ''§''"
_TRIGGERS = ("games_search_ai", "games_search_ad", "games_search_au")

# PostgreSQL.
_TITLE_WORDS = {"old": "to_tsvector('simple', replace(slug, '-', ' '))",
                "new": "to_tsvector('simple', replace(slug, '-', ' ') || ' ' || title_grams)"}
_SEARCH_VECTOR = {"old": "to_tsvector('simple', search_text)",
                  "new": "to_tsvector('simple', search_text || ' ' || title_grams)"}
_HANGUL = re.compile("[\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]")
BATCH = 5000


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    if not postgres:
        _sqlite_drop()
    op.add_column("games", sa.Column("title_grams", sa.Text(), nullable=False, server_default=""))
    _backfill()
    if postgres:
        _postgres_indexes("new")
    else:
        _sqlite_create(_NEW, "status, sales_count, slug, search_text, title_grams")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        _postgres_indexes("old")
        op.drop_column("games", "title_grams")
    else:
        _sqlite_drop()
        op.drop_column("games", "title_grams")
        _sqlite_create(_OLD, "status, sales_count, slug, search_text")


def _backfill():
    """title_grams for every game with Hangul in its title."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, title FROM games")).all()
    updates = [{"id": game_id, "grams": " ".join(hangul_grams(title))}
               for game_id, title in rows if title and _HANGUL.search(title)]
    statement = sa.text("UPDATE games SET title_grams = :grams WHERE id = :id")
    for start in range(0, len(updates), BATCH):
        conn.execute(statement, updates[start:start + BATCH])


def _sqlite_drop():
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table in _NEW:
        op.execute(f"DROP TABLE IF EXISTS {table}")


def _sqlite_create(indexes: dict, watched: str):
    for table, (column, _) in indexes.items():
        op.execute(f"CREATE VIRTUAL TABLE {table} USING fts5({column}, content='', columnsize=0, "
                   f"tokenize='{_TOKENIZE}', prefix='1 2 3 4 5 6 7 8 9 10 11 12 13')")
    # Existing games in key order: FTS5 writes out a segment whenever a key goes down.
    for statement in _inserts(indexes, "games"):
        op.execute(f"{statement} FROM games WHERE status = 'listed' ORDER BY 1")
    # A contentless index forgets a row only when told its exact old values.
    op.execute("CREATE TRIGGER games_search_ai AFTER INSERT ON games WHEN new.status = 'listed' BEGIN "
               + _statements(_inserts(indexes, "new")) + " END")
    op.execute("CREATE TRIGGER games_search_ad AFTER DELETE ON games WHEN old.status = 'listed' BEGIN "
               + _statements(_deletes(indexes, "old")) + " END")
    op.execute(f"CREATE TRIGGER games_search_au AFTER UPDATE OF {watched} ON games BEGIN "
               + _statements(f"{s} WHERE old.status = 'listed'" for s in _deletes(indexes, "old"))
               + _statements(f"{s} WHERE new.status = 'listed'" for s in _inserts(indexes, "new")) + " END")


def _inserts(indexes, r):
    return [f"INSERT INTO {table}(rowid, {column}) SELECT {_KEY.format(r=r)}, {value.format(r=r)}"
            for table, (column, value) in indexes.items()]


def _deletes(indexes, r):
    return [f"INSERT INTO {table}({table}, rowid, {column}) "
            f"SELECT 'delete', {_KEY.format(r=r)}, {value.format(r=r)}"
            for table, (column, value) in indexes.items()]


def _statements(statements):
    return " ".join(f"{s};" for s in statements)


def _postgres_indexes(version: str):
    """The title-words index and search_vector (with its two indexes) as of 0003
    ("old") or with the grams ("new")."""
    op.execute("DROP INDEX IF EXISTS ix_games_listed_title_words")
    op.execute("CREATE INDEX ix_games_listed_title_words ON games "
               f"USING gin ({_TITLE_WORDS[version]}) "
               "WITH (gin_pending_list_limit = 256) WHERE status = 'listed'")
    for index in ("ix_games_listed_popular", "ix_games_listed_search"):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    op.execute("ALTER TABLE games DROP COLUMN search_vector")
    op.execute(f"ALTER TABLE games ADD COLUMN search_vector tsvector "
               f"GENERATED ALWAYS AS ({_SEARCH_VECTOR[version]}) STORED")
    op.execute("CREATE INDEX ix_games_listed_search ON games USING gin (search_vector) "
               "WITH (gin_pending_list_limit = 256) WHERE status = 'listed'")
    op.execute("CREATE INDEX ix_games_listed_popular ON games (sales_count DESC, id DESC) "
               "INCLUDE (slug, search_vector) WHERE status = 'listed'")
    op.execute("ANALYZE games")  # search_pg.py reads the new indexes' statistics
