"""Care watch (issue 15): care plans on residents' profiles and the staged follow-up steps.

Revision ID: 0020_carewatch
Revises: 0019_notify
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op


revision = "0020_carewatch"
down_revision = "0019_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create care_plan and care_step."""
    op.create_table(
        "care_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("is_watched", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("rhythm", sa.String(length=16), nullable=False),
        sa.Column("consent", sa.String(length=16), nullable=False),
        sa.Column("consent_note", sa.String(length=300), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("captain_id", sa.Integer(), nullable=True),
        sa.Column("buddy_id", sa.Integer(), nullable=True),
        sa.Column("family_name", sa.String(length=100), nullable=True),
        sa.Column("family_phone", sa.String(length=20), nullable=True),
        sa.Column("quiet_reason", sa.String(length=16), nullable=True),
        sa.Column("quiet_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watched_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_care_plan_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_care_plan_resident_id_resident")
        ),
        sa.ForeignKeyConstraint(
            ["captain_id"], ["volunteer.id"], name=op.f("fk_care_plan_captain_id_volunteer")
        ),
        sa.ForeignKeyConstraint(
            ["buddy_id"], ["volunteer.id"], name=op.f("fk_care_plan_buddy_id_volunteer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plan")),
        sa.UniqueConstraint("resident_id", name=op.f("uq_care_plan_resident_id")),
    )
    op.create_index("ix_care_plan_community_id", "care_plan", ["community_id"])
    op.create_table(
        "care_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("is_urgent", sa.Boolean(), nullable=False),
        sa.Column("assignee", sa.String(length=100), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notify_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_error", sa.String(length=300), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_sign_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_care_step_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["care_plan.id"], name=op.f("fk_care_step_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteer.id"], name=op.f("fk_care_step_volunteer_id_volunteer")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_sign_id"],
            ["sign_of_life.id"],
            name=op.f("fk_care_step_closed_by_sign_id_sign_of_life"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_step")),
        sa.UniqueConstraint("plan_id", "since", "step", name=op.f("uq_care_step_plan_id")),
    )
    op.create_index("ix_care_step_plan_id", "care_step", ["plan_id"])
    op.create_index("ix_care_step_community_open", "care_step", ["community_id", "closed_at"])


def downgrade() -> None:
    """Drop care_step and care_plan."""
    op.drop_table("care_step")
    op.drop_table("care_plan")
