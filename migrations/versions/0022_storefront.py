"""store front at any catalog size: featured games and the biggest current discounts from indexes

Revision ID: 0022_storefront
Revises: 0016_builds
Create Date: 2026-12-02 14:00:00

The home page's "Special offers" row orders listed games on sale by their discount.
This partial expression index holds only listed games with a sale price, ordered by the
discount in permille, so the row is the first few index entries whose sale is running
(`storefront.on_sale`), not a sort of every game on sale. The featured row reads a
partial index of featured listed games by sales the same way.
"""
from alembic import op
import sqlalchemy as sa


revision = '0022_storefront'
down_revision = '0016_builds'
branch_labels = None
depends_on = None

WHERE = "status = 'listed' AND sale_price IS NOT NULL"
FEATURED = "status = 'listed' AND featured"


def upgrade():
    op.create_index("ix_games_featured", "games", ["sales_count"], unique=False,
                    sqlite_where=sa.text(FEATURED), postgresql_where=sa.text(FEATURED))
    op.create_index("ix_games_sale_discount", "games", [sa.text("((price - sale_price) * 1000 / price) DESC")],
                    unique=False, sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade():
    op.drop_index("ix_games_sale_discount", table_name="games")
    op.drop_index("ix_games_featured", table_name="games")
