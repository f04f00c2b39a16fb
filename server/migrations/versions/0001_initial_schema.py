"""Initial schema: communities, rooms, kiosks, categories, requests, sync logs, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Also seeds the nine categories with stable codes and publishes them to the change log,
and gives this database its sync epoch (the identity that pull cursors carry).
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CATEGORIES = [
    # code, Chinese, English, urgent
    ("electrical", "照明/电路", "Lights & wiring", False),
    ("plumbing", "水暖", "Plumbing & heating", False),
    ("appliance", "家电维修", "Appliance repair", False),
    ("health", "健康", "Health", False),
    ("meals", "助餐", "Meals", False),
    ("company", "陪伴聊天", "Company & a chat", False),
    ("errands", "代办跑腿", "Errands", False),
    ("emergency", "紧急求助", "Emergency", True),
    ("other", "其他", "Other", False),
]


def upgrade():
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("name", name=op.f("uq_api_token_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_urgent", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category")),
        sa.UniqueConstraint("code", name=op.f("uq_category_code")),
    )
    op.create_table(
        "community",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community")),
        sa.UniqueConstraint("slug", name=op.f("uq_community_slug")),
    )
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("last_change_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "api_token_community",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_api_token_community_community_id_community"),
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_token.id"], name=op.f("fk_api_token_community_token_id_api_token")
        ),
        sa.PrimaryKeyConstraint("token_id", "community_id", name=op.f("pk_api_token_community")),
    )
    op.create_table(
        "building",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_building_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_building")),
        sa.UniqueConstraint("community_id", "code", name=op.f("uq_building_community_id")),
    )
    with op.batch_alter_table("building", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_building_community_id"), ["community_id"], unique=False
        )

    op.create_table(
        "kiosk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("ticket_prefix", sa.String(length=2), nullable=False),
        sa.Column("enroll_code_hash", sa.String(length=64), nullable=True),
        sa.Column("enroll_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_device_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_kiosk_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk")),
        sa.UniqueConstraint("enroll_code_hash", name=op.f("uq_kiosk_enroll_code_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_kiosk_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_kiosk_token_hash")),
    )
    with op.batch_alter_table("kiosk", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kiosk_community_id"), ["community_id"], unique=False)

    op.create_table(
        "applied_op",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("op_id", sa.Uuid(), nullable=False),
        sa.Column("kiosk_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("device_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kiosk_id"], ["kiosk.id"], name=op.f("fk_applied_op_kiosk_id_kiosk")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applied_op")),
        sa.UniqueConstraint("kiosk_id", "seq", name=op.f("uq_applied_op_kiosk_id")),
        sa.UniqueConstraint("op_id", name=op.f("uq_applied_op_op_id")),
    )
    with op.batch_alter_table("applied_op", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_applied_op_status"), ["status"], unique=False)

    op.create_table(
        "change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("kiosk_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_change_community_id_community")
        ),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosk.id"], name=op.f("fk_change_kiosk_id_kiosk")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change")),
        sa.UniqueConstraint("entity", "key", name=op.f("uq_change_entity")),
        sa.UniqueConstraint("seq", name=op.f("uq_change_seq")),
    )
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.create_index("ix_change_scope", ["community_id", "seq"], unique=False)

    op.create_table(
        "room",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["building.id"], name=op.f("fk_room_building_id_building")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_room_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room")),
        sa.UniqueConstraint("community_id", "code", name=op.f("uq_room_community_id")),
    )
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_building_id"), ["building_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_room_community_id"), ["community_id"], unique=False)

    op.create_table(
        "sync_conflict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("op_id", sa.Uuid(), nullable=False),
        sa.Column("kiosk_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kiosk_id"], ["kiosk.id"], name=op.f("fk_sync_conflict_kiosk_id_kiosk")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_conflict")),
    )
    with op.batch_alter_table("sync_conflict", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_conflict_op_id"), ["op_id"], unique=False)

    op.create_table(
        "help_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("kiosk_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("ticket", sa.String(length=8), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("is_on_behalf", sa.Boolean(), nullable=False),
        sa.Column("consent_version", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("is_urgent", sa.Boolean(), nullable=False),
        sa.Column("is_cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("public_note", sa.Text(), nullable=True),
        sa.Column("device_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["category.id"], name=op.f("fk_help_request_category_id_category")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_help_request_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["kiosk_id"], ["kiosk.id"], name=op.f("fk_help_request_kiosk_id_kiosk")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["room.id"], name=op.f("fk_help_request_room_id_room")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_request")),
        sa.UniqueConstraint("client_id", name=op.f("uq_help_request_client_id")),
    )
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_help_request_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_help_request_kiosk_id"), ["kiosk_id"], unique=False)
        batch_op.create_index("ix_help_request_received", ["received_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_help_request_room_id"), ["room_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_help_request_status"), ["status"], unique=False)

    op.create_table(
        "request_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
            name=op.f("fk_request_event_request_id_help_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_event")),
    )
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_event_request_id"), ["request_id"], unique=False
        )

    now = datetime.now(UTC)
    category = sa.table(
        "category",
        sa.column("id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
        sa.column("sort_order", sa.Integer),
        sa.column("is_urgent", sa.Boolean),
        sa.column("is_active", sa.Boolean),
    )
    change = sa.table(
        "change",
        sa.column("seq", sa.BigInteger),
        sa.column("entity", sa.String),
        sa.column("key", sa.String),
        sa.column("community_id", sa.Integer),
        sa.column("kiosk_id", sa.Integer),
        sa.column("data", sa.JSON),
        sa.column("changed_at", sa.DateTime(timezone=True)),
    )
    sync_state = sa.table(
        "sync_state",
        sa.column("id", sa.Integer),
        sa.column("epoch", sa.String),
        sa.column("last_change_seq", sa.BigInteger),
    )
    op.bulk_insert(
        category,
        [
            {
                "id": i + 1,
                "code": code,
                "name_zh": zh,
                "name_en": en,
                "sort_order": (i + 1) * 10,
                "is_urgent": urgent,
                "is_active": True,
            }
            for i, (code, zh, en, urgent) in enumerate(CATEGORIES)
        ],
    )
    op.bulk_insert(
        change,
        [
            {
                "seq": i + 1,
                "entity": "category",
                "key": code,
                "community_id": None,
                "kiosk_id": None,
                "data": {
                    "code": code,
                    "name_zh": zh,
                    "name_en": en,
                    "sort": (i + 1) * 10,
                    "urgent": urgent,
                },
                "changed_at": now,
            }
            for i, (code, zh, en, urgent) in enumerate(CATEGORIES)
        ],
    )
    op.bulk_insert(
        sync_state, [{"id": 1, "epoch": uuid.uuid4().hex, "last_change_seq": len(CATEGORIES)}]
    )


def downgrade():
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_event_request_id"))

    op.drop_table("request_event")
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_help_request_status"))
        batch_op.drop_index(batch_op.f("ix_help_request_room_id"))
        batch_op.drop_index("ix_help_request_received")
        batch_op.drop_index(batch_op.f("ix_help_request_kiosk_id"))
        batch_op.drop_index(batch_op.f("ix_help_request_community_id"))

    op.drop_table("help_request")
    with op.batch_alter_table("sync_conflict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_conflict_op_id"))

    op.drop_table("sync_conflict")
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_community_id"))
        batch_op.drop_index(batch_op.f("ix_room_building_id"))

    op.drop_table("room")
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.drop_index("ix_change_scope")

    op.drop_table("change")
    with op.batch_alter_table("applied_op", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applied_op_status"))

    op.drop_table("applied_op")
    with op.batch_alter_table("kiosk", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kiosk_community_id"))

    op.drop_table("kiosk")
    with op.batch_alter_table("building", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_building_community_id"))

    op.drop_table("building")
    op.drop_table("api_token_community")
    op.drop_table("sync_state")
    op.drop_table("community")
    op.drop_table("category")
    op.drop_table("api_token")
