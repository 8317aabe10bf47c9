"""waiting_rooms: admin-configured waiting rooms (the queue itself lives in Redis)

Revision ID: 0020_waiting_room
Revises: 0021_trigram

"""
from alembic import op
import sqlalchemy as sa

from shop.timeutil import UTCDateTime

revision = '0020_waiting_room'
down_revision = '0021_trigram'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'waiting_rooms',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('target_kind', sa.String(length=8), nullable=False),
        sa.Column('target', sa.Text(), nullable=False),
        sa.Column('mode', sa.String(length=8), nullable=False),
        sa.Column('rate_per_minute', sa.Integer(), nullable=False),
        sa.Column('active_cap', sa.Integer(), nullable=False),
        sa.Column('session_minutes', sa.Integer(), nullable=False),
        sa.Column('queue_order', sa.String(length=8), nullable=False),
        sa.Column('opens_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('on_redis_down', sa.String(length=8), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("target_kind IN ('coupon', 'game', 'paths')", name=op.f('ck_waiting_rooms_target_kind')),
        sa.CheckConstraint("mode IN ('rate', 'cap')", name=op.f('ck_waiting_rooms_mode')),
        sa.CheckConstraint("queue_order IN ('fifo', 'random')", name=op.f('ck_waiting_rooms_queue_order')),
        sa.CheckConstraint("on_redis_down IN ('open', 'closed')", name=op.f('ck_waiting_rooms_on_redis_down')),
        sa.CheckConstraint("rate_per_minute > 0 AND active_cap > 0 AND session_minutes > 0",
                           name=op.f('ck_waiting_rooms_limits')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_waiting_rooms')),
    )


def downgrade():
    op.drop_table('waiting_rooms')
