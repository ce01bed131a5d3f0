"""the record and after: the minutes' chair, secretary and attendance; the resident's follow-up ("chưa hài lòng"); questions kept off the public page

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 12:20:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_feedback', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('followup_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('followup_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('followup_closed_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('public_hidden_reason', sa.Text(), nullable=True))
    # Verdicts given before this revision were the first ones.
    op.execute("UPDATE submission SET first_feedback = feedback WHERE feedback IS NOT NULL")
    # Not in a batch: SQLite must keep the meeting table's 0007 triggers (see 0008).
    op.add_column('meeting', sa.Column('chair', sa.String(length=200), nullable=True))
    op.add_column('meeting', sa.Column('secretary', sa.String(length=200), nullable=True))
    op.add_column('meeting', sa.Column('attendance', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('meeting', 'attendance')
    op.drop_column('meeting', 'secretary')
    op.drop_column('meeting', 'chair')
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_column('public_hidden_reason')
        batch_op.drop_column('followup_closed_at')
        batch_op.drop_column('followup_at')
        batch_op.drop_column('followup_text')
        batch_op.drop_column('first_feedback')
