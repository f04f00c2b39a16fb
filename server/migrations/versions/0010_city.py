"""Indexes the city-scale query rewrites read (issue 12), each found with EXPLAIN ANALYZE at 1M.

- help_request open requests: a partial index on (received_at, id) of requests not in a final
  state, carrying every column the queue's needs-action keys are computed from (PostgreSQL
  INCLUDE), so the queue reads the open requests only (about 3 % of a city's history) and
  never the table; the same led by community_id for a social worker's few communities.
- escalation.request_id where delivery failed: the queue's "delivery failed" flag (a hashed
  set of a few ids instead of a probe per open request).
- help_request.updated_at: the live refresh's rows changed since the page's cursor, and the
  hours page's latest finished jobs.
- help_request's milestones (acknowledged_at, first_dispatched_at, first_completed_at,
  first_closed_at): the first time of each step of a request's life, kept by a trigger on
  request_event in the transaction that records the step (and filled in from the events here),
  so the report's response measures read one row per request instead of all its events.
- help_request (community_id, received_at) with the report's columns: a year's report by an
  index-only scan (it replaces 0008's ix_help_request_community_received, the same key);
  service_record's approved records by (community_id, started_at) with the columns of the
  report's service and retention figures, likewise.

Revision ID: 0010_city
Revises: 0009_outbox
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_city"
down_revision = "0009_outbox"
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
MILESTONES = ["acknowledged_at", "first_dispatched_at", "first_completed_at", "first_closed_at"]
REPORT_COLUMNS = ["id", "category_id", "status", "arrived_at", "resident_id", *MILESTONES]
SERVICE_COLUMNS = ["id", "volunteer_id", "team_id", "source", "minutes"]
APPROVED = "status = 'approved'"
STEPS = {
    "acknowledged_at": "NEW.from_status IS NOT NULL",
    "first_dispatched_at": "NEW.to_status = 'dispatched'",
    "first_completed_at": "NEW.to_status = 'completed'",
    "first_closed_at": "NEW.to_status IN ('closed_fixed', 'closed_not_fixed')",
}
"""Each milestone and the status events that reach it (the report's MEASURES)."""
MILESTONES_PG = [
    """
CREATE FUNCTION linli_request_milestones() RETURNS trigger AS $$
BEGIN
    UPDATE help_request SET
"""
    + ",\n".join(
        f"        {column} = CASE WHEN {when} THEN LEAST({column}, NEW.at) ELSE {column} END"
        for column, when in STEPS.items()
    )
    + """
    WHERE id = NEW.request_id AND ("""
    + " OR ".join(STEPS.values())
    + """);
    RETURN NULL;
END
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER request_event_milestones AFTER INSERT ON request_event
FOR EACH ROW WHEN (NEW.kind = 'status') EXECUTE FUNCTION linli_request_milestones()
""",
]
MILESTONES_SQLITE = [
    """
CREATE TRIGGER request_event_milestones AFTER INSERT ON request_event
WHEN NEW.kind = 'status'
BEGIN
    UPDATE help_request SET
"""
    + ",\n".join(
        f"        {column} = CASE WHEN ({when}) AND ({column} IS NULL OR NEW.at < {column}) "
        f"THEN NEW.at ELSE {column} END"
        for column, when in STEPS.items()
    )
    + """
    WHERE id = NEW.request_id AND ("""
    + " OR ".join(STEPS.values())
    + """);
END
""",
]
FIRSTS = ", ".join(
    f"min(at) FILTER (WHERE {when.replace('NEW.', '')}) AS {column}"
    for column, when in STEPS.items()
)
BACKFILL_PG = f"""
UPDATE help_request h SET {", ".join(f"{c} = m.{c}" for c in STEPS)}
FROM (SELECT request_id, {FIRSTS} FROM request_event WHERE kind = 'status' GROUP BY request_id) m
WHERE h.id = m.request_id
"""
BACKFILL_SQLITE = "UPDATE help_request SET " + ", ".join(
    f"{column} = (SELECT min(at) FROM request_event e WHERE e.request_id = help_request.id "
    f"AND e.kind = 'status' AND {when.replace('NEW.', 'e.')})"
    for column, when in STEPS.items()
)


def upgrade() -> None:
    for column in MILESTONES:
        op.add_column("help_request", sa.Column(column, sa.DateTime(timezone=True)))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BACKFILL_PG)
        for statement in MILESTONES_PG:
            op.execute(statement)
    else:
        op.execute(BACKFILL_SQLITE)
        for statement in MILESTONES_SQLITE:
            op.execute(statement)
    op.create_index(
        "ix_help_request_open",
        "help_request",
        ["received_at", "id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
        postgresql_include=QUEUE_COLUMNS,
    )
    op.create_index(
        "ix_help_request_open_community",
        "help_request",
        ["community_id", "received_at", "id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
        postgresql_include=[c for c in QUEUE_COLUMNS if c != "community_id"],
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
    op.drop_index("ix_help_request_community_received", table_name="help_request")
    op.create_index(
        "ix_service_record_approved",
        "service_record",
        ["community_id", "started_at"],
        postgresql_where=sa.text(APPROVED),
        sqlite_where=sa.text(APPROVED),
        postgresql_include=SERVICE_COLUMNS,
    )


def downgrade() -> None:
    op.drop_index("ix_service_record_approved", table_name="service_record")
    op.create_index(
        "ix_help_request_community_received", "help_request", ["community_id", "received_at"]
    )
    op.drop_index("ix_help_request_report", table_name="help_request")
    op.drop_index("ix_help_request_updated", table_name="help_request")
    op.drop_index("ix_escalation_failed", table_name="escalation")
    op.drop_index("ix_help_request_open_community", table_name="help_request")
    op.drop_index("ix_help_request_open", table_name="help_request")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER request_event_milestones ON request_event")
        op.execute("DROP FUNCTION linli_request_milestones()")
    else:
        op.execute("DROP TRIGGER request_event_milestones")
    with op.batch_alter_table("help_request") as batch:
        for column in reversed(MILESTONES):
            batch.drop_column(column)
