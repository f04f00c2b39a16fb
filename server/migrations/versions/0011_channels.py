"""Every channel in (issue 13): how a request came in and who reported it, staff-made tickets,
and the staff API's idempotency keys.

- help_request.channel (kiosk, phone, walk_in, building_captain, suggestion_box,
  residents_meeting, hotline, open311, other; server.requests.models.CHANNELS): every request
  already stored came from a kiosk or Open311 and is marked so.
- help_request.reporter_kind and reporter_name: who told the community (nullable).
- community.last_staff_ticket: the counter of `O-0001` tickets given to requests not made at a
  kiosk (kiosk prefixes never hold an O).
- api_idempotency_key: a `POST /api/v1/requests`'s key per token, its body's digest and answer.
- ix_help_request_report (PostgreSQL) also carries channel, so the report's counts by channel
  stay an index-only scan like its other figures.

Revision ID: 0011_channels
Revises: 0010_city
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_channels"
down_revision = "0010_city"
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
]
"""0010_city's report columns."""


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
    """Add the columns and the keys' table; mark Open311's requests (no kiosk, `O-` ticket)."""
    with op.batch_alter_table("help_request") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=20), server_default="kiosk", nullable=False)
        )
        batch.add_column(sa.Column("reporter_kind", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("reporter_name", sa.String(length=100), nullable=True))
    op.execute(
        "UPDATE help_request SET channel = 'open311' WHERE kiosk_id IS NULL AND ticket LIKE 'O-%'"
    )
    _report_index([*REPORT_COLUMNS, "channel"])
    with op.batch_alter_table("community") as batch:
        batch.add_column(
            sa.Column("last_staff_ticket", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "api_idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_token.id"],
            name=op.f("fk_api_idempotency_key_token_id_api_token"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
            name=op.f("fk_api_idempotency_key_request_id_help_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_key")),
        sa.UniqueConstraint("token_id", "key", name=op.f("uq_api_idempotency_key_token_id")),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("api_idempotency_key")
    with op.batch_alter_table("community") as batch:
        batch.drop_column("last_staff_ticket")
    _report_index(REPORT_COLUMNS)
    with op.batch_alter_table("help_request") as batch:
        batch.drop_column("reporter_name")
        batch.drop_column("reporter_kind")
        batch.drop_column("channel")
