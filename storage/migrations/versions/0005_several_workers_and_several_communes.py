"""several workers and several communes: outbox claims, shared send slots, staff of one commune

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 22:24:43.546279
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('send_slot',
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('next_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', storage.models.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commune_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('channel', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_staff_commune_id'), ['commune_id'], unique=False)
        batch_op.create_foreign_key('fk_staff_commune', 'commune', ['commune_id'], ['id'])




def downgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint('fk_staff_commune', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_staff_commune_id'))
        batch_op.drop_column('channel')
        batch_op.drop_column('commune_id')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')

    op.drop_table('send_slot')

