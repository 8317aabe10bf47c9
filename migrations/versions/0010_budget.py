"""game_daily_views: per-day page views copied from Redis

Revision ID: 0010_budget
Revises: 0009_admin
Create Date: 2026-12-02 06:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_budget'
down_revision = '0009_admin'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('game_daily_views',
    sa.Column('game_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['game_id'], ['games.id'], name=op.f('fk_game_daily_views_game_id_games'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('game_id', 'day', name=op.f('pk_game_daily_views'))
    )
    op.create_index(op.f('ix_game_daily_views_day'), 'game_daily_views', ['day'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_game_daily_views_day'), table_name='game_daily_views')
    op.drop_table('game_daily_views')
