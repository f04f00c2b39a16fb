"""Each console user's language (issue 16.1): null until they choose; then it wins over the cookie.

Revision ID: 0014_language
Revises: 0013_signs
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op


revision = "0014_language"
down_revision = "0013_signs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add user_account.language."""
    with op.batch_alter_table("user_account", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    """Drop user_account.language."""
    with op.batch_alter_table("user_account", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("language")
