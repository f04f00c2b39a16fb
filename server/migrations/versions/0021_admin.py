"""Admin screens (issue 16.2): a community's time zone and points rate, retired rooms, and an
agency's contact.

Revision ID: 0021_admin
Revises: 0013_signs
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_admin"
down_revision = "0013_signs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns the admin screens set."""
    with op.batch_alter_table("community") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("points_per_hour", sa.Integer(), nullable=True))
    with op.batch_alter_table("room") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("agency") as batch:
        batch.add_column(sa.Column("contact_name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("contact_phone", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("agency") as batch:
        batch.drop_column("contact_phone")
        batch.drop_column("contact_name")
    with op.batch_alter_table("room") as batch:
        batch.drop_column("retired_at")
    with op.batch_alter_table("community") as batch:
        batch.drop_column("points_per_hour")
        batch.drop_column("timezone")
