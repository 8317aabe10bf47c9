"""product_keys: a game's pool of product keys (encrypted), one per paid copy

Revision ID: 0012_keys
Revises: 0011_search

"""
from alembic import op
import sqlalchemy as sa
import shop.timeutil


revision = '0012_keys'
down_revision = '0011_search'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('product_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('game_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('ciphertext', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', shop.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('assigned_at', shop.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['game_id'], ['games.id'], name=op.f('fk_product_keys_game_id_games'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_product_keys_order_id_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_product_keys_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_keys')),
    sa.UniqueConstraint('game_id', 'key_hash', name=op.f('uq_product_keys_game_id'))
    )
    op.create_index('ix_product_keys_game_status', 'product_keys', ['game_id', 'status'], unique=False)
    op.create_index(op.f('ix_product_keys_order_id'), 'product_keys', ['order_id'], unique=False)
    op.create_index(op.f('ix_product_keys_user_id'), 'product_keys', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_product_keys_user_id'), table_name='product_keys')
    op.drop_index(op.f('ix_product_keys_order_id'), table_name='product_keys')
    op.drop_index('ix_product_keys_game_status', table_name='product_keys')
    op.drop_table('product_keys')
