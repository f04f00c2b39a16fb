"""Roles per community: a role belongs to a (user, community) pair; all-communities users.

Each existing (user, community) row gets the user's current role, so nobody gains or loses
access. `user_account` is referenced by other tables: on SQLite (foreign keys on) a batch
copy-and-drop of it fails once rows point at it, so its columns are added and dropped in
place (`recreate="never"`, SQLite 3.35+). Nobody becomes an all-communities user here: until now a user saw exactly the
communities listed for them, and `linli server user create --all-communities` is the only
way to make one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_LEAST_FIRST = ("viewer", "team_lead", "social_worker", "admin")
"""Downgrading keeps one role per user: the least powerful of their roles."""


def upgrade() -> None:
    with op.batch_alter_table("user_community", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE user_community SET role = "
        "(SELECT user_account.role FROM user_account WHERE user_account.id = user_community.user_id)"
    )
    with op.batch_alter_table("user_community", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=16), nullable=False)
    with op.batch_alter_table("user_account", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("all_communities_role", sa.String(length=16), nullable=True))
        batch_op.drop_column("role")


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="viewer")
        )
    rank = " ".join(f"WHEN '{role}' THEN {i}" for i, role in enumerate(_LEAST_FIRST))
    name = " ".join(f"WHEN {i} THEN '{role}'" for i, role in enumerate(_LEAST_FIRST))
    op.execute(
        f"UPDATE user_account SET role = COALESCE(all_communities_role, (SELECT CASE "
        f"MIN(CASE user_community.role {rank} END) {name} END FROM user_community "
        "WHERE user_community.user_id = user_account.id), 'viewer')"
    )
    op.execute(
        "INSERT INTO user_community (user_id, community_id, role) "
        "SELECT user_account.id, community.id, user_account.all_communities_role "
        "FROM user_account, community WHERE user_account.all_communities_role IS NOT NULL"
    )
    with op.batch_alter_table("user_account", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("all_communities_role")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("user_account", "role", server_default=None)
    with op.batch_alter_table("user_community", schema=None) as batch_op:
        batch_op.drop_column("role")
