"""Korean names of categories and tags (categories.name_ko, tags.name_ko).

Revision ID: 0023_term_names
Revises: 0015_notices
"""
import sqlalchemy as sa
from alembic import op

revision = '0023_term_names'
down_revision = '0015_notices'
branch_labels = None
depends_on = None


def upgrade():
    for table in ("categories", "tags"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("name_ko", sa.String(40), nullable=True))


def downgrade():
    for table in ("categories", "tags"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("name_ko")
