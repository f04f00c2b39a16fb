"""Signs of life (care watch, issue 15): one row per sign, unique by where it came from.

Revision ID: 0013_signs
Revises: 0012_duplicates
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op


revision = "0013_signs"
down_revision = "0012_duplicates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create sign_of_life."""
    op.create_table(
        "sign_of_life",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_key", sa.String(length=80), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_sign_of_life_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_sign_of_life_resident_id_resident")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"], name=op.f("fk_sign_of_life_room_id_room")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_of_life")),
        sa.UniqueConstraint("source_key", name=op.f("uq_sign_of_life_source_key")),
    )
    op.create_index("ix_sign_of_life_community_id", "sign_of_life", ["community_id"])
    op.create_index("ix_sign_of_life_resident_at", "sign_of_life", ["resident_id", "at"])
    op.create_index("ix_sign_of_life_room_at", "sign_of_life", ["room_id", "at"])


def downgrade() -> None:
    """Drop sign_of_life."""
    op.drop_table("sign_of_life")
