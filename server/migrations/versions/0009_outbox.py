"""The server's outbox (issue 11): outbound messages written in the transaction that decided
them and sent after it commits. Escalations not yet delivered get their message, so the timer
(or staff) delivers them as before.

Revision ID: 0009_outbox
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_outbox"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=True),
        sa.Column("target_url", sa.String(length=500), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_message_idempotency_key")),
    )
    op.create_index("ix_outbox_message_kind_ref", "outbox_message", ["kind", "ref_id"])
    op.create_index(
        op.f("ix_outbox_message_next_attempt_at"), "outbox_message", ["next_attempt_at"]
    )
    op.execute(
        "INSERT INTO outbox_message (kind, ref_id, target_url, body, idempotency_key, attempts,"
        " next_attempt_at, last_error, created_at)"
        " SELECT 'escalation', e.id, a.endpoint_url, e.payload,"
        " 'linli-escalation-' || CAST(e.id AS VARCHAR), e.attempts,"
        " CASE WHEN e.delivery_status = 'pending'"
        " THEN COALESCE(e.next_attempt_at, e.created_at) END, e.last_error, e.created_at"
        " FROM escalation e JOIN agency a ON a.id = e.agency_id"
        " WHERE e.delivery_status <> 'delivered'"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_message_next_attempt_at"), table_name="outbox_message")
    op.drop_index("ix_outbox_message_kind_ref", table_name="outbox_message")
    op.drop_table("outbox_message")
