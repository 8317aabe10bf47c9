"""sale-boundary indexes: the next sale start / end without scanning the games on sale

Revision ID: 0011_search
Revises: 0010_seed
Create Date: 2026-12-02 07:20:00

Every page that shows prices asks when the next sale starts or ends
(`storefront.sale_boundary_queries`), before its cache is consulted. These partial
indexes hold only listed games with a sale price, so each answer is the first index
entry past now.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_search'
down_revision = '0010_seed'
branch_labels = None
depends_on = None

WHERE = "status = 'listed' AND sale_price IS NOT NULL"
INDEXES = {"ix_games_sale_starts": "sale_starts_at", "ix_games_sale_ends": "sale_ends_at"}


def upgrade():
    for name, column in INDEXES.items():
        op.create_index(name, "games", [column], unique=False,
                        sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="games")
