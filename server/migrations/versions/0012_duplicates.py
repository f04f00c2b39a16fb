"""An index on help_request.ticket: a merge may name the request it goes into by its ticket
(A-0012) in the user's communities; without it that lookup reads every request of those
communities. Possible duplicates need no new index: they read the room's requests and the
community's open requests of the last day (ix_help_request_room_id, ix_help_request_open_community).

Revision ID: 0012_duplicates
Revises: 0011_channels
Create Date: 2026-11-30
"""

from alembic import op

revision = "0012_duplicates"
down_revision = "0011_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index the tickets."""
    op.create_index("ix_help_request_ticket", "help_request", ["ticket"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_help_request_ticket", table_name="help_request")
