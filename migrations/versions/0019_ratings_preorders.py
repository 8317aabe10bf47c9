"""Age ratings, coming-soon games and pre-orders, verified birth dates.

games.age_rating (GRAC class: all, 12, 15, 19), games.preorder_allowed and
games.release_announced_at (set once the release job told buyers and wishers; games
already out are marked announced so the first run tells nobody about old releases);
library_entries.awaiting_release (a pre-order, unlocked by the release job);
users.birth_date with when it was verified, by which provider, and when the user
consented to its storage.

Revision ID: 0019_ratings_preorders
Revises: 0022_storefront

"""
from alembic import op
import sqlalchemy as sa


revision = '0019_ratings_preorders'
down_revision = '0022_storefront'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, never batch mode: on SQLite batch mode copies `games` into a new
    # table, which drops the triggers that keep the search indexes (0002, 0014) current.
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column('games', sa.Column('age_rating', sa.String(length=4), nullable=False, server_default='all'))
    op.add_column('games', sa.Column('preorder_allowed', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('games', sa.Column('release_announced_at', sa.DateTime(), nullable=True))
    if postgres:  # SQLite can't add a constraint to a table in place; the catalog services check it
        op.create_check_constraint(op.f('ck_games_age_rating'), 'games', "age_rating IN ('all', '12', '15', '19')")
    op.execute("UPDATE games SET release_announced_at = created_at WHERE release_date <= CURRENT_DATE")
    op.create_index('ix_games_unannounced_release', 'games', ['release_date'],
                    sqlite_where=sa.text('release_announced_at IS NULL'),
                    postgresql_where=sa.text('release_announced_at IS NULL'))
    op.add_column('library_entries', sa.Column('awaiting_release', sa.Boolean(), nullable=False,
                                               server_default=sa.false()))
    op.add_column('users', sa.Column('birth_date', sa.Date(), nullable=True))
    op.add_column('users', sa.Column('birth_date_verified_at', sa.DateTime(), nullable=True))
    op.add_column('users', sa.Column('birth_date_consent_at', sa.DateTime(), nullable=True))
    op.add_column('users', sa.Column('identity_provider', sa.String(length=20), nullable=True))


def downgrade():
    for name in ('identity_provider', 'birth_date_consent_at', 'birth_date_verified_at', 'birth_date'):
        op.drop_column('users', name)
    op.drop_column('library_entries', 'awaiting_release')
    op.drop_index('ix_games_unannounced_release', table_name='games')
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f('ck_games_age_rating'), 'games', type_='check')
    for name in ('release_announced_at', 'preorder_allowed', 'age_rating'):
        op.drop_column('games', name)
