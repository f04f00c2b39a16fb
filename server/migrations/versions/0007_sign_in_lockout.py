"""Sign-in lockout: failed sign-ins per user name (known or not) and when the lock ends.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failure",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sign_in_failure")),
    )
    op.create_index(
        op.f("ix_sign_in_failure_last_failed_at"), "sign_in_failure", ["last_failed_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_failure_last_failed_at"), table_name="sign_in_failure")
    op.drop_table("sign_in_failure")
