"""gifts (an order line with a recipient, claimable once) and DLC (games.base_game_id)

order_lines gain gift_to and gift_message: a line with a recipient is a gift, paid for
by the buyer and granted to whoever claims it. games gain base_game_id: a DLC's base game.

Revision ID: 0018_gifts_dlc
Revises: 0017_line_refunds

"""
from alembic import op
import sqlalchemy as sa
import shop.timeutil


revision = '0018_gifts_dlc'
down_revision = '0017_line_refunds'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('order_lines') as batch_op:
        batch_op.add_column(sa.Column('gift_to', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('gift_message', sa.String(length=500), nullable=True))
    # Not batch mode for games: on SQLite it would copy the table and lose the search
    # triggers (0003, 0014). SQLite adds a NULL column with its REFERENCES in place.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE games ADD COLUMN base_game_id INTEGER '
                   'CONSTRAINT fk_games_base_game_id_games REFERENCES games (id) ON DELETE SET NULL')
    else:
        op.add_column('games', sa.Column('base_game_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_games_base_game_id_games'), 'games', 'games', ['base_game_id'], ['id'],
                              ondelete='SET NULL')
    op.create_index(op.f('ix_games_base_game_id'), 'games', ['base_game_id'], unique=False)
    op.create_table('gifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('giver_id', sa.Integer(), nullable=False),
    sa.Column('game_id', sa.Integer(), nullable=False),
    sa.Column('recipient_email', sa.String(length=254), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claimed_at', shop.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refunded_at', shop.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('owned_at', shop.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', shop.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('sent', 'claimed', 'refunding', 'refunded')", name=op.f('ck_gifts_status')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_gifts_order_id_orders')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_gifts_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['giver_id'], ['users.id'], name=op.f('fk_gifts_giver_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['game_id'], ['games.id'], name=op.f('fk_gifts_game_id_games')),
    sa.ForeignKeyConstraint(['claimed_by'], ['users.id'], name=op.f('fk_gifts_claimed_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gifts')),
    sa.UniqueConstraint('public_id', name=op.f('uq_gifts_public_id')),
    sa.UniqueConstraint('order_line_id', name=op.f('uq_gifts_order_line_id'))
    )
    op.create_index('ix_gifts_giver_created', 'gifts', ['giver_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_gifts_order_id'), 'gifts', ['order_id'], unique=False)
    op.create_index(op.f('ix_gifts_game_id'), 'gifts', ['game_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_gifts_game_id'), table_name='gifts')
    op.drop_index(op.f('ix_gifts_order_id'), table_name='gifts')
    op.drop_index('ix_gifts_giver_created', table_name='gifts')
    op.drop_table('gifts')
    op.drop_index(op.f('ix_games_base_game_id'), table_name='games')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE games DROP COLUMN base_game_id')  # SQLite 3.35+, triggers kept
    else:
        op.drop_constraint(op.f('fk_games_base_game_id_games'), 'games', type_='foreignkey')
        op.drop_column('games', 'base_game_id')
    with op.batch_alter_table('order_lines') as batch_op:
        batch_op.drop_column('gift_message')
        batch_op.drop_column('gift_to')
