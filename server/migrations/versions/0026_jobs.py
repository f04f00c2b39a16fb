"""The jobs list's index: requests being worked on (dispatched, accepted, on site) by
received time. Through the open requests' index a city's first page walked 24,750 older open
requests nobody is working on yet to find its 51 (39 ms at 1M).

Revision ID: 0026_jobs
Revises: 0025_lists
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_jobs"
down_revision = "0025_lists"
branch_labels = None
depends_on = None

ACTIVE_SQL = "status IN ('accepted', 'dispatched', 'on_site')"
"""server.requests.models.ACTIVE_SQL when this migration was written (frozen here)."""


def upgrade() -> None:
    """Index the requests being worked on by received time."""
    op.create_index(
        "ix_help_request_active",
        "help_request",
        ["received_at", "id"],
        postgresql_where=sa.text(ACTIVE_SQL),
        sqlite_where=sa.text(ACTIVE_SQL),
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_help_request_active", table_name="help_request")
