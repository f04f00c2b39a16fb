"""Sync identity: cloned kiosks flagged, seq_taken told apart from conflicts, wider actors.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kiosk", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instances", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("clone_instance", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("cloned_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sync_conflict", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=32), nullable=True))
    # Rows recorded before this revision: an op at an answered seq was answered seq_taken when
    # no applied op has its id, else it was a replay with other content.
    op.execute(
        "UPDATE sync_conflict SET reason = CASE WHEN EXISTS "
        "(SELECT 1 FROM applied_op WHERE applied_op.op_id = sync_conflict.op_id) "
        "THEN 'conflict' ELSE 'seq_taken' END"
    )
    # "kiosk:" and a kiosk name of up to 100 characters.
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.alter_column(
            "actor", existing_type=sa.String(length=100), type_=sa.String(length=120)
        )


def downgrade() -> None:
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.alter_column(
            "actor", existing_type=sa.String(length=120), type_=sa.String(length=100)
        )
    with op.batch_alter_table("sync_conflict", schema=None) as batch_op:
        batch_op.drop_column("reason")
    with op.batch_alter_table("kiosk", schema=None) as batch_op:
        batch_op.drop_column("cloned_at")
        batch_op.drop_column("clone_instance")
        batch_op.drop_column("instances")
