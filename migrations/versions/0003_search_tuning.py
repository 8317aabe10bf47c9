"""search tuning: popularity-ordered search indexes (see shop/catalog/search.py)

Revision ID: 0003_search_tuning
Revises: 0008_social
Create Date: 2026-11-21 09:30:00

Search reads the first n matches of each tier in popularity order, so the indexes
hand them over in that order (SQLite) or can be walked in it (PostgreSQL):

* SQLite: `games_fts` (rowid = game id, every match ranked per query) is replaced
  by two contentless FTS5 tables whose rowid is the popularity key
  `sales_count << 32 | id`, so `ORDER BY rowid DESC LIMIT n` reads n hits and stops:
  `games_title` (the title words, i.e. the slug's words, folded like search_text,
  led by the first word behind a '§' marker for "title starts with") and
  `games_search` (search_text: title and tag words). Separate tables because an
  FTS5 column filter still reads the word's whole doclist. Only listed games are
  indexed; prefix indexes of 1..13 characters keep `word*` one doclist instead of
  a merge of every word with that prefix.
* PostgreSQL: partial indexes on listed games: a covering btree in popularity
  order (walked index-only), GIN on the title words, a covering pattern index on
  slug ("title starts with", read index-only), and
  the search_vector GIN made partial; small GIN pending lists so a burst of writes
  never makes searches scan megabytes of unmerged entries.

Placed after the newest revision present when it was written (0008_social) so the
history stays one line; its number only names it.
"""
from alembic import op


revision = '0003_search_tuning'
down_revision = '0008_social'
branch_labels = None
depends_on = None

# SQLite: a row's popularity key and what each index holds (`r` is `new`, `old` or
# `games`).
_KEY = "((max(0, min({r}.sales_count, 1073741823)) << 32) | {r}.id)"
_TITLE = "'§' || substr({r}.slug, 1, instr({r}.slug || '-', '-') - 1) || ' ' || replace({r}.slug, '-', ' ')"
_INDEXES = {"games_title": ("title", _TITLE), "games_search": ("body", "{r}.search_text")}
_TOKENIZE = "unicode61 remove_diacritics 2 tokenchars ''§''"
_TRIGGERS = ("games_search_ai", "games_search_ad", "games_search_au")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _postgres_up()
    else:
        _sqlite_up()


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        _postgres_down()
    else:
        _sqlite_down()


def _sqlite_up():
    for trigger in ("games_fts_ai", "games_fts_ad", "games_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS games_fts")
    for table, (column, _) in _INDEXES.items():
        op.execute(f"CREATE VIRTUAL TABLE {table} USING fts5({column}, content='', columnsize=0, "
                   f"tokenize='{_TOKENIZE}', prefix='1 2 3 4 5 6 7 8 9 10 11 12 13')")
    # Existing games in key order: FTS5 writes out a segment whenever a key goes down.
    for statement in _inserts("games"):
        op.execute(f"{statement} FROM games WHERE status = 'listed' ORDER BY 1")
    # A contentless index forgets a row only when told its exact old values.
    op.execute("CREATE TRIGGER games_search_ai AFTER INSERT ON games WHEN new.status = 'listed' BEGIN "
               + _statements(_inserts("new")) + " END")
    op.execute("CREATE TRIGGER games_search_ad AFTER DELETE ON games WHEN old.status = 'listed' BEGIN "
               + _statements(_deletes("old")) + " END")
    op.execute("CREATE TRIGGER games_search_au AFTER UPDATE OF status, sales_count, slug, search_text ON games BEGIN "
               + _statements(f"{s} WHERE old.status = 'listed'" for s in _deletes("old"))
               + _statements(f"{s} WHERE new.status = 'listed'" for s in _inserts("new")) + " END")


def _inserts(r):
    return [f"INSERT INTO {table}(rowid, {column}) SELECT {_KEY.format(r=r)}, {value.format(r=r)}"
            for table, (column, value) in _INDEXES.items()]


def _deletes(r):
    return [f"INSERT INTO {table}({table}, rowid, {column}) "
            f"SELECT 'delete', {_KEY.format(r=r)}, {value.format(r=r)}"
            for table, (column, value) in _INDEXES.items()]


def _statements(statements):
    return " ".join(f"{s};" for s in statements)


def _sqlite_down():
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table in _INDEXES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
    # 0002's index, rebuilt from the games table.
    op.execute("CREATE VIRTUAL TABLE games_fts USING fts5(search_text, content='games', "
               "content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='1 2 3')")
    op.execute("INSERT INTO games_fts(games_fts) VALUES ('rebuild')")
    op.execute("""CREATE TRIGGER games_fts_ai AFTER INSERT ON games BEGIN
        INSERT INTO games_fts(rowid, search_text) VALUES (new.id, new.search_text); END""")
    op.execute("""CREATE TRIGGER games_fts_ad AFTER DELETE ON games BEGIN
        INSERT INTO games_fts(games_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); END""")
    op.execute("""CREATE TRIGGER games_fts_au AFTER UPDATE OF search_text ON games BEGIN
        INSERT INTO games_fts(games_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
        INSERT INTO games_fts(rowid, search_text) VALUES (new.id, new.search_text); END""")


def _postgres_up():
    op.execute("DROP INDEX IF EXISTS ix_games_search_vector")
    op.execute("CREATE INDEX ix_games_listed_search ON games USING gin (search_vector) "
               "WITH (gin_pending_list_limit = 256) WHERE status = 'listed'")
    op.execute("CREATE INDEX ix_games_listed_title_words ON games "
               "USING gin (to_tsvector('simple', replace(slug, '-', ' '))) "
               "WITH (gin_pending_list_limit = 256) WHERE status = 'listed'")
    op.execute("CREATE INDEX ix_games_listed_slug_prefix ON games (slug text_pattern_ops) "
               "INCLUDE (sales_count, id) WHERE status = 'listed'")
    op.execute("CREATE INDEX ix_games_listed_popular ON games (sales_count DESC, id DESC) "
               "INCLUDE (slug, search_vector) WHERE status = 'listed'")
    op.execute("ANALYZE games")  # statistics for the title-words expression (search_pg.py reads them)


def _postgres_down():
    for index in ("ix_games_listed_popular", "ix_games_listed_slug_prefix", "ix_games_listed_title_words",
                  "ix_games_listed_search"):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    op.execute("CREATE INDEX ix_games_search_vector ON games USING gin (search_vector)")
