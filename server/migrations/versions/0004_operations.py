"""Operations: kiosk health and duplicate counts, overdue and purge marks, daily statistics.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kiosk", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("duplicates", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("health", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("health_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("overdue_marked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("personal_data_purged_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "daily_stat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("urgent", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_daily_stat_community_id_community"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_stat")),
        sa.UniqueConstraint("day", "community_id", "category", name=op.f("uq_daily_stat_day")),
    )
    op.create_index(op.f("ix_daily_stat_day"), "daily_stat", ["day"])


def downgrade() -> None:
    op.drop_index(op.f("ix_daily_stat_day"), table_name="daily_stat")
    op.drop_table("daily_stat")
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_column("personal_data_purged_at")
        batch_op.drop_column("overdue_marked_at")
    with op.batch_alter_table("kiosk", schema=None) as batch_op:
        batch_op.drop_column("health_at")
        batch_op.drop_column("health")
        batch_op.drop_column("duplicates")
