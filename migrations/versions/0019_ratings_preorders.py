"""Age ratings, coming-soon games and pre-orders, verified birth dates.

games.age_rating (GRAC class: all, 12, 15, 19), games.preorder_allowed and
games.release_announced_at (set once the release job told buyers and wishers; games
already out are marked announced so the first run tells nobody about old releases);
library_entries.awaiting_release (a pre-order, unlocked by the release job);
users.birth_date with when it was verified, by which provider, and when the user
consented to its storage.

Revision ID: 0019_ratings_preorders
Revises: 0015_notices

"""
from alembic import op
import sqlalchemy as sa


revision = '0019_ratings_preorders'
down_revision = '0015_notices'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('games') as batch_op:
        batch_op.add_column(sa.Column('age_rating', sa.String(length=4), nullable=False, server_default='all'))
        batch_op.add_column(sa.Column('preorder_allowed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('release_announced_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_games_age_rating'), "age_rating IN ('all', '12', '15', '19')")
    op.execute("UPDATE games SET release_announced_at = created_at WHERE release_date <= CURRENT_DATE")
    op.create_index('ix_games_unannounced_release', 'games', ['release_date'],
                    sqlite_where=sa.text('release_announced_at IS NULL'),
                    postgresql_where=sa.text('release_announced_at IS NULL'))
    with op.batch_alter_table('library_entries') as batch_op:
        batch_op.add_column(sa.Column('awaiting_release', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('birth_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('birth_date_verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('birth_date_consent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('identity_provider', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        for name in ('identity_provider', 'birth_date_consent_at', 'birth_date_verified_at', 'birth_date'):
            batch_op.drop_column(name)
    with op.batch_alter_table('library_entries') as batch_op:
        batch_op.drop_column('awaiting_release')
    op.drop_index('ix_games_unannounced_release', table_name='games')
    with op.batch_alter_table('games') as batch_op:
        batch_op.drop_constraint(op.f('ck_games_age_rating'), type_='check')
        for name in ('release_announced_at', 'preorder_allowed', 'age_rating'):
            batch_op.drop_column(name)
