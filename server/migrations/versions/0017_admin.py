"""Admin screens (issue 16.2): a community's time zone and points rate, retired rooms, and an
agency's contact. Settings and retirements are tables of their own, so the community and room
rows (written by every version's commands) keep their columns.

Revision ID: 0017_admin
Revises: 0016_subchoices
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_admin"
down_revision = "0016_subchoices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create community_setting and room_retirement; add the agency's contact."""
    op.create_table(
        "community_setting",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("points_per_hour", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_community_setting_community_id_community"),
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_community_setting")),
    )
    op.create_table(
        "room_retirement",
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["room.id"], name=op.f("fk_room_retirement_room_id_room")
        ),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_room_retirement")),
    )
    with op.batch_alter_table("agency") as batch:
        batch.add_column(sa.Column("contact_name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("contact_phone", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("agency") as batch:
        batch.drop_column("contact_phone")
        batch.drop_column("contact_name")
    op.drop_table("room_retirement")
    op.drop_table("community_setting")
