"""Per-game refunds: order lines get a status (ACTIVE | REFUNDED), when and how much was
refunded; the sandbox gateway keeps a balance and its partial cancels (one row per
idempotency key); a points spend's allocations remember how much a partial refund
already returned.

Revision ID: 0017_line_refunds
Revises: 0023_term_names

"""
from alembic import op
import sqlalchemy as sa
import shop.timeutil


revision = '0017_line_refunds'
down_revision = '0023_term_names'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('order_lines') as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), nullable=False, server_default='ACTIVE'))
        batch_op.add_column(sa.Column('refunded_at', shop.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('refund_amount', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_order_lines_status'), "status IN ('ACTIVE', 'REFUNDED')")
    with op.batch_alter_table('sandbox_payments') as batch_op:
        batch_op.add_column(sa.Column('cancelled_amount', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'sandbox_cancels',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('payment_key', sa.String(length=200), nullable=False),
        sa.Column('idempotency_key', sa.String(length=80), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('created_at', shop.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_cancels')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_sandbox_cancels_idempotency_key')),
    )
    op.create_index(op.f('ix_sandbox_cancels_payment_key'), 'sandbox_cancels', ['payment_key'])
    with op.batch_alter_table('point_allocations') as batch_op:
        batch_op.add_column(sa.Column('returned', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('point_allocations') as batch_op:
        batch_op.drop_column('returned')
    op.drop_index('ix_sandbox_cancels_payment_key', table_name='sandbox_cancels')
    op.drop_table('sandbox_cancels')
    with op.batch_alter_table('sandbox_payments') as batch_op:
        batch_op.drop_column('cancelled_amount')
    with op.batch_alter_table('order_lines') as batch_op:
        batch_op.drop_constraint(op.f('ck_order_lines_status'), type_='check')
        batch_op.drop_column('refund_amount')
        batch_op.drop_column('refunded_at')
        batch_op.drop_column('status')
