"""Indexes a city-sized database needs (issue 12), found with bench/city.py and EXPLAIN ANALYZE.

- help_request.duplicate_of_id: the request page lists the requests merged into it (a
  sequential scan of every request without it).
- help_request (community_id, received_at): a community's requests in a report period.
- request_event.at: the nightly roll-up counts one day's transitions.
- request_event.request_id where to_status is escalated or reopened: the meeting sheet's
  complex cases (a scan of every event without it).
- service_record.decided_at: the hours page's latest decisions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MARKED = "to_status IN ('escalated', 'reopened')"


def upgrade() -> None:
    op.create_index("ix_help_request_duplicate_of_id", "help_request", ["duplicate_of_id"])
    op.create_index(
        "ix_help_request_community_received", "help_request", ["community_id", "received_at"]
    )
    op.create_index("ix_request_event_at", "request_event", ["at"])
    op.create_index(
        "ix_request_event_marked",
        "request_event",
        ["request_id"],
        postgresql_where=sa.text(MARKED),
        sqlite_where=sa.text(MARKED),
    )
    op.create_index("ix_service_record_decided_at", "service_record", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_service_record_decided_at", table_name="service_record")
    op.drop_index("ix_request_event_marked", table_name="request_event")
    op.drop_index("ix_request_event_at", table_name="request_event")
    op.drop_index("ix_help_request_community_received", table_name="help_request")
    op.drop_index("ix_help_request_duplicate_of_id", table_name="help_request")
