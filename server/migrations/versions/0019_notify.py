"""Notifications (issue 14.3): the channels a community configures, one row per notification.

Revision ID: 0019_notify
Revises: 0018_city2
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op


revision = "0019_notify"
down_revision = "0018_city2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create notify_channel and notification."""
    op.create_table(
        "notify_channel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("key_id", sa.String(length=100), nullable=True),
        sa.Column("sign_name", sa.String(length=50), nullable=True),
        sa.Column("template_code", sa.String(length=50), nullable=True),
        sa.Column("phones", sa.String(length=300), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_notify_channel_community_id_community"),
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_notify_channel_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_channel")),
    )
    op.create_index("ix_notify_channel_community_id", "notify_channel", ["community_id"])
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=100), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notify_channel.id"],
            name=op.f("fk_notification_channel_id_notify_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_notification_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["help_request.id"], name=op.f("fk_notification_request_id_help_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("event_key", name=op.f("uq_notification_event_key")),
    )
    op.create_index("ix_notification_channel_id", "notification", ["channel_id"])
    op.create_index("ix_notification_community_id", "notification", ["community_id"])
    op.create_index("ix_notification_request_id", "notification", ["request_id"])


def downgrade() -> None:
    """Drop notification and notify_channel."""
    op.drop_table("notification")
    op.drop_table("notify_channel")
