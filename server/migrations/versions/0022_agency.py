"""Departments that answer back: agencies' delivery (webhook or 转办单) and reply days, the
reply links printed on 转办单 (hashed tokens) and the replies agencies record through them;
民生实事清单: items and the requests linked to them; the joint meeting's decisions.

Revision ID: 0022_agency
Revises: 0021_field2
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op


revision = "0022_agency"
down_revision = "0021_field2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Agencies get a delivery and reply days; reply links and agency replies are created."""
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivery", sa.String(length=16), server_default="webhook", nullable=False)
        )
        batch_op.add_column(
            sa.Column("reply_days", sa.Integer(), server_default="3", nullable=False)
        )
    op.create_table(
        "reply_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"], ["escalation.id"], name=op.f("fk_reply_link_escalation_id_escalation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_reply_link_token_hash")),
    )
    with op.batch_alter_table("reply_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reply_link_escalation_id"), ["escalation_id"], unique=False
        )
    op.create_table(
        "agency_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("photo_name", sa.String(length=64), nullable=True),
        sa.Column("photo_type", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
            name=op.f("fk_agency_reply_escalation_id_escalation"),
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["reply_link.id"], name=op.f("fk_agency_reply_link_id_reply_link")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_reply")),
    )
    with op.batch_alter_table("agency_reply", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agency_reply_escalation_id"), ["escalation_id"], unique=False
        )
    op.create_table(
        "minsheng_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("pattern_key", sa.String(length=100), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("drop_reason", sa.String(length=300), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_minsheng_item_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minsheng_item")),
    )
    with op.batch_alter_table("minsheng_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_minsheng_item_community_id"), ["community_id"], unique=False
        )
    op.create_table(
        "minsheng_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["minsheng_item.id"], name=op.f("fk_minsheng_link_item_id_minsheng_item")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
            name=op.f("fk_minsheng_link_request_id_help_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minsheng_link")),
        sa.UniqueConstraint(
            "item_id", "request_id", name=op.f("uq_minsheng_link_item_id")
        ),
    )
    with op.batch_alter_table("minsheng_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_minsheng_link_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_minsheng_link_request_id"), ["request_id"], unique=False
        )
    op.create_table(
        "meeting_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_note", sa.String(length=300), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_meeting_decision_community_id_community"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["minsheng_item.id"], name=op.f("fk_meeting_decision_item_id_minsheng_item")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
            name=op.f("fk_meeting_decision_request_id_help_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_decision")),
    )
    with op.batch_alter_table("meeting_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_decision_community_id"), ["community_id"], unique=False
        )


def downgrade() -> None:
    """Drop the 民生实事 and reply tables and the agencies' new columns."""
    with op.batch_alter_table("meeting_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_decision_community_id"))
    op.drop_table("meeting_decision")
    with op.batch_alter_table("minsheng_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_minsheng_link_request_id"))
        batch_op.drop_index(batch_op.f("ix_minsheng_link_item_id"))
    op.drop_table("minsheng_link")
    with op.batch_alter_table("minsheng_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_minsheng_item_community_id"))
    op.drop_table("minsheng_item")
    with op.batch_alter_table("agency_reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_reply_escalation_id"))
    op.drop_table("agency_reply")
    with op.batch_alter_table("reply_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reply_link_escalation_id"))
    op.drop_table("reply_link")
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.drop_column("reply_days")
        batch_op.drop_column("delivery")
