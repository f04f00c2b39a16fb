"""Dispatch to real people (issue 14 part 4): the community's word list matching volunteers'
skills to categories (skill_word), and the buildings a volunteer captains (building_captain).

Revision ID: 0021_field2
Revises: 0020_carewatch
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_field2"
down_revision = "0020_carewatch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create skill_word and building_captain."""
    op.create_table(
        "skill_word",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=40), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["category.id"], name=op.f("fk_skill_word_category_id_category")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_skill_word_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_word")),
        sa.UniqueConstraint(
            "community_id", "category_id", "word", name=op.f("uq_skill_word_community_id")
        ),
    )
    with op.batch_alter_table("skill_word", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_skill_word_community_id"), ["community_id"], unique=False
        )
    op.create_table(
        "building_captain",
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["building.id"], name=op.f("fk_building_captain_building_id_building")
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteer.id"],
            name=op.f("fk_building_captain_volunteer_id_volunteer"),
        ),
        sa.PrimaryKeyConstraint("building_id", "volunteer_id", name=op.f("pk_building_captain")),
    )
    with op.batch_alter_table("building_captain", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_building_captain_volunteer_id"), ["volunteer_id"], unique=False
        )


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("building_captain", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_building_captain_volunteer_id"))
    op.drop_table("building_captain")
    with op.batch_alter_table("skill_word", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_skill_word_community_id"))
    op.drop_table("skill_word")
