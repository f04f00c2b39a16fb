"""Volunteers' own phone pages (issue 14): who is on each job (job_assignee), sign-in links
printed on volunteer cards and the phones signed in through them, an optional PIN, the console
user who is also a volunteer, the actions phones sent (unique by the phone-made id), the days a
volunteer said 今天有空, and a resident's access notes.

Revision ID: 0015_field
Revises: 0014_language
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_field"
down_revision = "0014_language"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the field tables; residents get access notes."""
    op.create_table(
        "volunteer_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteer.id"],
            name=op.f("fk_volunteer_link_volunteer_id_volunteer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_volunteer_link_token_hash")),
    )
    with op.batch_alter_table("volunteer_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_volunteer_link_volunteer_id"), ["volunteer_id"], unique=False
        )

    op.create_table(
        "volunteer_pin",
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("pin_hash", sa.String(length=255), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteer.id"], name=op.f("fk_volunteer_pin_volunteer_id_volunteer")
        ),
        sa.PrimaryKeyConstraint("volunteer_id", name=op.f("pk_volunteer_pin")),
    )
    op.create_table(
        "volunteer_user",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("linked_by", sa.String(length=100), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_volunteer_user_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteer.id"],
            name=op.f("fk_volunteer_user_volunteer_id_volunteer"),
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_volunteer_user")),
        sa.UniqueConstraint("volunteer_id", name=op.f("uq_volunteer_user_volunteer_id")),
    )
    op.create_table(
        "volunteer_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("is_pin_checked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["volunteer_link.id"],
            name=op.f("fk_volunteer_device_link_id_volunteer_link"),
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteer.id"],
            name=op.f("fk_volunteer_device_volunteer_id_volunteer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_device")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_volunteer_device_token_hash")),
    )
    with op.batch_alter_table("volunteer_device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volunteer_device_link_id"), ["link_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_volunteer_device_volunteer_id"), ["volunteer_id"], unique=False
        )

    op.create_table(
        "field_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
            name=op.f("fk_field_action_request_id_help_request"),
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteer.id"], name=op.f("fk_field_action_volunteer_id_volunteer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_action")),
        sa.UniqueConstraint("client_id", name=op.f("uq_field_action_client_id")),
    )
    with op.batch_alter_table("field_action", schema=None) as batch_op:
        batch_op.create_index("ix_field_action_request", ["request_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_field_action_volunteer_id"), ["volunteer_id"], unique=False
        )

    op.create_table(
        "job_assignee",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("done_note", sa.String(length=2000), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("service_record_id", sa.Integer(), nullable=True),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
            name=op.f("fk_job_assignee_request_id_help_request"),
        ),
        sa.ForeignKeyConstraint(
            ["service_record_id"],
            ["service_record.id"],
            name=op.f("fk_job_assignee_service_record_id_service_record"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_job_assignee_team_id_team")
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteer.id"], name=op.f("fk_job_assignee_volunteer_id_volunteer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_assignee")),
        sa.UniqueConstraint("request_id", "volunteer_id", name=op.f("uq_job_assignee_request_id")),
    )
    with op.batch_alter_table("job_assignee", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_assignee_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_job_assignee_volunteer_id"), ["volunteer_id"], unique=False
        )

    op.create_table(
        "volunteer_day",
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteer.id"], name=op.f("fk_volunteer_day_volunteer_id_volunteer")
        ),
        sa.PrimaryKeyConstraint("volunteer_id", "day", name=op.f("pk_volunteer_day")),
    )
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_notes", sa.String(length=300), nullable=True))


def downgrade() -> None:
    """Drop them."""
    op.drop_table("volunteer_day")
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.drop_column("access_notes")

    with op.batch_alter_table("job_assignee", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_assignee_volunteer_id"))
        batch_op.drop_index(batch_op.f("ix_job_assignee_request_id"))

    op.drop_table("job_assignee")
    with op.batch_alter_table("field_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_field_action_volunteer_id"))
        batch_op.drop_index("ix_field_action_request")

    op.drop_table("field_action")
    with op.batch_alter_table("volunteer_device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volunteer_device_volunteer_id"))
        batch_op.drop_index(batch_op.f("ix_volunteer_device_link_id"))

    op.drop_table("volunteer_device")
    op.drop_table("volunteer_user")
    op.drop_table("volunteer_pin")
    with op.batch_alter_table("volunteer_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volunteer_link_volunteer_id"))

    op.drop_table("volunteer_link")
