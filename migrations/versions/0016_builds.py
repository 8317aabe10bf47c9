"""game_builds (uploaded builds per platform) and downloads (who downloaded which build)

Revision ID: 0016_builds
Revises: 0020_waiting_room

"""
from alembic import op
import sqlalchemy as sa
import shop.timeutil


revision = '0016_builds'
down_revision = '0020_waiting_room'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('game_builds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('game_id', sa.Integer(), nullable=False),
    sa.Column('uploader_id', sa.Integer(), nullable=True),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('claimed_sha256', sa.String(length=64), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('upload_id', sa.String(length=300), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('created_at', shop.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('verified_at', shop.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_at', shop.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['game_id'], ['games.id'], name=op.f('fk_game_builds_game_id_games'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploader_id'], ['users.id'], name=op.f('fk_game_builds_uploader_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_game_builds'))
    )
    op.create_index('ix_game_builds_game_platform', 'game_builds', ['game_id', 'platform', 'status'], unique=False)
    op.create_table('downloads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('game_id', sa.Integer(), nullable=False),
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.Column('created_at', shop.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['build_id'], ['game_builds.id'], name=op.f('fk_downloads_build_id_game_builds'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['game_id'], ['games.id'], name=op.f('fk_downloads_game_id_games'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_downloads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_downloads'))
    )
    op.create_index('ix_downloads_user_game', 'downloads', ['user_id', 'game_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_downloads_build_id'), 'downloads', ['build_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_downloads_build_id'), table_name='downloads')
    op.drop_index('ix_downloads_user_game', table_name='downloads')
    op.drop_table('downloads')
    op.drop_index('ix_game_builds_game_platform', table_name='game_builds')
    op.drop_table('game_builds')
