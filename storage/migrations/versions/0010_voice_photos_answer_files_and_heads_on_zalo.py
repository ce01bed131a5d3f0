"""voice, photos and documents: files that belong to a submission (the resident's voice question and photos, an answer's files), the voice question awaiting its transcript, staff on Zalo and their one-time link code

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 13:20:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'submission_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('attachment_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('position', sa.Integer(), server_default='0', nullable=False),
        sa.Column('seconds', sa.Integer(), nullable=True),
        sa.Column('public', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['attachment_id'], ['attachment.id']),
        sa.ForeignKeyConstraint(['submission_id'], ['submission.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('submission_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_file_submission_id'), ['submission_id'], unique=False)
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('awaiting_transcript', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zalo_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('zalo_channel', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('link_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('link_code_expires_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint('uq_staff_zalo_id', ['zalo_id'])
        batch_op.create_unique_constraint('uq_staff_link_code', ['link_code'])


def downgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint('uq_staff_link_code', type_='unique')
        batch_op.drop_constraint('uq_staff_zalo_id', type_='unique')
        batch_op.drop_column('link_code_expires_at')
        batch_op.drop_column('link_code')
        batch_op.drop_column('zalo_channel')
        batch_op.drop_column('zalo_id')
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_column('awaiting_transcript')
    with op.batch_alter_table('submission_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_file_submission_id'))
    op.drop_table('submission_file')
