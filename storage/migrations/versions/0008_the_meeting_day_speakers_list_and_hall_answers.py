"""the meeting day: each submission's place and state on the speakers' list, answers given in the hall, the list's end

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 11:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hall_position', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hall_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('answered_in_hall', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Not in a batch: on SQLite a batch may copy the table, and the copy would lose the triggers
    # that move the reference data's version (0007). SQLite adds and drops a column in place.
    op.add_column('meeting', sa.Column('speakers_closed_at', storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('meeting', 'speakers_closed_at')
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_column('answered_in_hall')
        batch_op.drop_column('hall_status')
        batch_op.drop_column('hall_position')
