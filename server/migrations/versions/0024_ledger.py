"""Passbook checkpoints (how far each chain was last verified in full, so the passbook page
re-checks only the entries after it), and one volunteer's service records by time (the
printable record's period and sums, the profile's latest records).

Revision ID: 0024_ledger
Revises: 0023_reports3
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op


revision = "0024_ledger"
down_revision = "0023_reports3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The checkpoint table (empty: the next full check or page view fills it) and the index."""
    op.create_table(
        "passbook_checkpoint",
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteer.id"],
            name=op.f("fk_passbook_checkpoint_volunteer_id_volunteer"),
        ),
        sa.PrimaryKeyConstraint("volunteer_id", name=op.f("pk_passbook_checkpoint")),
    )
    op.create_index(
        "ix_service_record_volunteer_started",
        "service_record",
        ["volunteer_id", "started_at"],
        postgresql_include=["status", "source", "minutes"],
    )


def downgrade() -> None:
    """Drop the index and the checkpoints (the page then checks whole chains again)."""
    op.drop_index("ix_service_record_volunteer_started", table_name="service_record")
    op.drop_table("passbook_checkpoint")
