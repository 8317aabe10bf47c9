"""users.locale: the language a user picked (ko/en), for pages, emails and notifications

Revision ID: 0013_locale
Revises: 0012_keys

"""
from alembic import op
import sqlalchemy as sa


revision = '0013_locale'
down_revision = '0012_keys'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=5), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('locale')
