"""answers, notices and the delivery queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:55:16.879887
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('mime_type', sa.String(length=100), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('notice_run',
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('fired_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], ),
    sa.PrimaryKeyConstraint('meeting_id', 'kind')
    )
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agenda', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('concluded_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('conclusion_summary', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('conclusion_document_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_meeting_conclusion_document', 'attachment', ['conclusion_document_id'], ['id'])

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=32), server_default='reply', nullable=False))
        batch_op.add_column(sa.Column('meeting_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_foreign_key('fk_outbox_meeting', 'meeting', ['meeting_id'], ['id'])

    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('village_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('notices', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('unreachable_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_resident_village_id'), ['village_id'], unique=False)
        batch_op.create_foreign_key('fk_resident_village', 'village', ['village_id'], ['id'])

    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('answered_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('forwarded_to', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('expected_by', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('answered_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('answer_revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('delivered_revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('feedback', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('feedback_at', storage.models.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_column('feedback_at')
        batch_op.drop_column('feedback')
        batch_op.drop_column('delivered_revision')
        batch_op.drop_column('answer_revision')
        batch_op.drop_column('answered_at')
        batch_op.drop_column('expected_by')
        batch_op.drop_column('forwarded_to')
        batch_op.drop_column('answered_by')
        batch_op.drop_column('answer')

    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_constraint('fk_resident_village', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_resident_village_id'))
        batch_op.drop_column('unreachable_at')
        batch_op.drop_column('notices')
        batch_op.drop_column('village_id')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_meeting', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_meeting_id'))
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('priority')
        batch_op.drop_column('meeting_id')
        batch_op.drop_column('kind')

    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_constraint('fk_meeting_conclusion_document', type_='foreignkey')
        batch_op.drop_column('conclusion_document_id')
        batch_op.drop_column('conclusion_summary')
        batch_op.drop_column('concluded_at')
        batch_op.drop_column('agenda')

    op.drop_table('notice_run')
    op.drop_table('attachment')
