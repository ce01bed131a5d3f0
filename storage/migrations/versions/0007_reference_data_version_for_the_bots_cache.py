"""a version of the reference data (communes, meetings, villages, topics, invitations), moved on by triggers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:10:00.000000

The bots keep the reference data in memory and read it again when this number moves. Triggers move
it, so no way of changing a plan (the CLI, the console, a script, another worker) can forget to.
A commune's receipt counter (`last_ref`) moves on every registration and is not reference data:
only its code, name and timezone count.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# (table, the columns whose UPDATE counts: None for all)
WATCHED = [("commune", "code, name, timezone"), ("meeting", None), ("village", None), ("topic", None), ("meeting_village", None)]


def upgrade() -> None:
    op.create_table('reference_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('n', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute("INSERT INTO reference_version (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_reference_version() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE reference_version SET n = n + 1 WHERE id = 1; RETURN NULL; END $$"
        )
        for table, columns in WATCHED:
            update = f"UPDATE OF {columns}" if columns else "UPDATE"
            op.execute(
                f"CREATE TRIGGER reference_version_{table} AFTER INSERT OR {update} OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_version()"
            )
        return
    for table, columns in WATCHED:
        for event in ("INSERT", f"UPDATE OF {columns}" if columns else "UPDATE", "DELETE"):
            name = f"reference_version_{table}_{event.split()[0].lower()}"
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN UPDATE reference_version SET n = n + 1 WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _ in WATCHED:
            op.execute(f"DROP TRIGGER reference_version_{table} ON {table}")
        op.execute("DROP FUNCTION bump_reference_version()")
    else:
        for table, _ in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER reference_version_{table}_{event}")
    op.drop_table('reference_version')
