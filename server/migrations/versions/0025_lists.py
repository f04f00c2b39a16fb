"""Indexes for the hours page of one community, chosen from many (issue 12): its latest finished
jobs without hours and its latest decided hours. Without them both walk the whole city's
newest rows (ix_help_request_updated, ix_service_record_decided_at) and drop every other
community's: 73,000 requests read to show 50 of a small community at 1M (180 ms).

Revision ID: 0025_lists
Revises: 0024_ledger
Create Date: 2026-11-30
"""

from alembic import op

revision = "0025_lists"
down_revision = "0024_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index a community's requests by last change and its service records by decision."""
    op.create_index(
        "ix_help_request_community_updated", "help_request", ["community_id", "updated_at"]
    )
    op.create_index(
        "ix_service_record_community_decided", "service_record", ["community_id", "decided_at"]
    )


def downgrade() -> None:
    """Drop the indexes."""
    op.drop_index("ix_service_record_community_decided", table_name="service_record")
    op.drop_index("ix_help_request_community_updated", table_name="help_request")
