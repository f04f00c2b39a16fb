"""The report's covering index also carries sub-choice, preferred time, room, ticket, closing
time and team; service records get an index by community and start (issue 12).

ix_help_request_report (PostgreSQL) gains choice_code, preferred_time and room_id, so every
count of the report (by channel, sub-choice, preferred time, category and state: one
statement now) and the needs map's count per room stay index-only scans, and ticket,
closed_at and team_id, so requests.csv reads it alone. Without them a year of community 1 at
1M read 11,254 heap pages for the counts by sub-choice and by preferred time (78 and 38 ms),
908 for a month's needs map, and the export of the year 19,291 heap rows (137 ms, 25 with
them; the index grows from 125 to 150 MB).

ix_service_record_community_started (community_id, started_at, id): hours.csv reads a
community's records of a period in order, whatever their status. Without it a year of
community 1 walked ix_service_record_started_at through every community's records (291,520
removed by filter, 215 ms at 1M).

Revision ID: 0023_reports3
Revises: 0022_agency
Create Date: 2026-11-30
"""

from alembic import op

revision = "0023_reports3"
down_revision = "0022_agency"
branch_labels = None
depends_on = None

REPORT_COLUMNS = [
    "id",
    "category_id",
    "status",
    "arrived_at",
    "resident_id",
    "acknowledged_at",
    "first_dispatched_at",
    "first_completed_at",
    "first_closed_at",
    "channel",
]
"""0011_channels' report columns."""


def _report_index(columns: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no INCLUDE: its index is the same key either way
    op.drop_index("ix_help_request_report", table_name="help_request")
    op.create_index(
        "ix_help_request_report",
        "help_request",
        ["community_id", "received_at"],
        postgresql_include=columns,
    )


def upgrade() -> None:
    """Rebuild the report index with the columns the report's counts group by; index service
    records by community and start."""
    _report_index(
        [
            *REPORT_COLUMNS,
            "choice_code",
            "preferred_time",
            "room_id",
            "ticket",
            "closed_at",
            "team_id",
        ]
    )
    op.create_index(
        "ix_service_record_community_started",
        "service_record",
        ["community_id", "started_at", "id"],
    )


def downgrade() -> None:
    """Drop the service records' index; rebuild the report index as 0011_channels left it."""
    op.drop_index("ix_service_record_community_started", table_name="service_record")
    _report_index(REPORT_COLUMNS)
