"""list pages at any catalog size: covering indexes for the best-selling order and for
"which games are listed"; special offers ordered by the index alone

Revision ID: 0024_list_pages
Revises: 0019_ratings_preorders
Create Date: 2026-12-03 01:00:00

`/games` in its default order (best selling, then title, then id) reads page N's ids from
`ix_games_listed_bestselling` alone (an index-only scan: page 500 walks 12,000 index
entries instead of 12,000 rows), then fetches the 24 games by id. A tag page's count
joins the tag's games with `ix_games_listed_id`, the ids of listed games, without
reading each game's row for its status. Both end with `status`, which the partial index
implies, so that SQLite too reads them as covering indexes.
"""
from alembic import op
import sqlalchemy as sa


revision = '0024_list_pages'
down_revision = '0019_ratings_preorders'
branch_labels = None
depends_on = None

LISTED = "status = 'listed'"


DISCOUNT = sa.text("((price - sale_price) * 1000 / price) DESC")
ON_SALE = "status = 'listed' AND sale_price IS NOT NULL"


def upgrade():
    # "Special offers" orders by discount, then best-selling: the whole order is the index's,
    # so the row is its first entries (many games share a discount; no sort of the ties)
    op.drop_index("ix_games_sale_discount", table_name="games")
    op.create_index("ix_games_sale_discount", "games", [DISCOUNT, sa.text("sales_count DESC"), "id"], unique=False,
                    sqlite_where=sa.text(ON_SALE), postgresql_where=sa.text(ON_SALE))
    op.create_index("ix_games_listed_bestselling", "games", [sa.text("sales_count DESC"), "title", "id", "status"],
                    unique=False, sqlite_where=sa.text(LISTED), postgresql_where=sa.text(LISTED))
    op.create_index("ix_games_listed_id", "games", ["id", "status"], unique=False,
                    sqlite_where=sa.text(LISTED), postgresql_where=sa.text(LISTED))


def downgrade():
    op.drop_index("ix_games_listed_id", table_name="games")
    op.drop_index("ix_games_listed_bestselling", table_name="games")
    op.drop_index("ix_games_sale_discount", table_name="games")
    op.create_index("ix_games_sale_discount", "games", [DISCOUNT], unique=False,
                    sqlite_where=sa.text(ON_SALE), postgresql_where=sa.text(ON_SALE))
