"""Indexes the city-scale query rewrites read (issue 12), each found with EXPLAIN ANALYZE at 1M.

- help_request open requests: a partial index on (received_at, id) of requests not in a final
  state, carrying every column the queue's needs-action keys are computed from (PostgreSQL
  INCLUDE), so the queue reads the open requests only (about 3 % of a city's history) and
  never the table.
- escalation.request_id where delivery failed: the queue's "delivery failed" flag (a hashed
  set of a few ids instead of a probe per open request).
- help_request.updated_at: the live refresh's rows changed since the page's cursor, and the
  hours page's latest finished jobs.
- help_request (community_id, received_at) with the report's columns: a year's report by an
  index-only scan.

Revision ID: 0010_city
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_city"
down_revision = "0008"
branch_labels = None
depends_on = None

OPEN = "status NOT IN ('cancelled', 'closed_fixed', 'closed_not_fixed', 'duplicate')"
"""Not final (sync.statuses.FINAL, sorted): the same words as the queue's WHERE clause."""
FAILED = "delivery_status = 'failed'"
QUEUE_COLUMNS = [
    "community_id",
    "status",
    "category_id",
    "priority",
    "is_urgent",
    "is_cancel_requested",
    "team_id",
    "room_id",
]
REPORT_COLUMNS = ["category_id", "status", "arrived_at", "resident_id"]


def upgrade() -> None:
    op.create_index(
        "ix_help_request_open",
        "help_request",
        ["received_at", "id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
        postgresql_include=QUEUE_COLUMNS,
    )
    op.create_index(
        "ix_escalation_failed",
        "escalation",
        ["request_id"],
        postgresql_where=sa.text(FAILED),
        sqlite_where=sa.text(FAILED),
    )
    op.create_index("ix_help_request_updated", "help_request", ["updated_at"])
    op.create_index(
        "ix_help_request_report",
        "help_request",
        ["community_id", "received_at"],
        postgresql_include=REPORT_COLUMNS,
    )


def downgrade() -> None:
    op.drop_index("ix_help_request_report", table_name="help_request")
    op.drop_index("ix_help_request_updated", table_name="help_request")
    op.drop_index("ix_escalation_failed", table_name="escalation")
    op.drop_index("ix_help_request_open", table_name="help_request")
