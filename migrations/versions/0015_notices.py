"""notifications.params (a row holds its kind and parameters, rendered when read) and
email_log.locale (the queuing request's language, for addresses on no account)

Rows written before keep their rendered `message`, shown as it is: `message` becomes
nullable and new rows leave it empty.

Revision ID: 0015_notices
Revises: 0014_hangul

"""
from alembic import op
import sqlalchemy as sa


revision = '0015_notices'
down_revision = '0014_hangul'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications') as batch_op:
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
        batch_op.alter_column('message', existing_type=sa.String(length=300), nullable=True)
    with op.batch_alter_table('email_log') as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=5), nullable=True))


def downgrade():
    with op.batch_alter_table('email_log') as batch_op:
        batch_op.drop_column('locale')
    # Rows without their old text can't go back to a NOT NULL message: say what they were.
    op.execute("UPDATE notifications SET message = kind WHERE message IS NULL")
    with op.batch_alter_table('notifications') as batch_op:
        batch_op.alter_column('message', existing_type=sa.String(length=300), nullable=False)
        batch_op.drop_column('params')
