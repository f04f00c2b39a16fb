"""Sub-choices (issue 13.5): what is wrong, per community and category; a request's choice and
preferred time. Every community gets the default sub-choices, and its kiosks learn them with
the community record (republished at a new change sequence).

Revision ID: 0016_subchoices
Revises: 0015_field
Create Date: 2026-11-30
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision = "0016_subchoices"
down_revision = "0015_field"
branch_labels = None
depends_on = None

DEFAULT_CHOICES = {
    "electrical": (
        ("light_out", "灯不亮", "A light is out"),
        ("socket_switch", "插座/开关", "Socket or switch"),
        ("power_trip", "跳闸停电", "Tripped, no power"),
        ("old_wiring", "电线老化", "Old wiring"),
    ),
    "plumbing": (
        ("leak", "漏水", "A leak"),
        ("blocked", "下水堵了", "Drain blocked"),
        ("no_water", "没有水", "No water"),
        ("heating_cold", "暖气不热", "Heating is cold"),
        ("tap_toilet", "水龙头/马桶", "Tap or toilet"),
    ),
    "appliance": (
        ("tv", "电视", "Television"),
        ("fridge", "冰箱", "Fridge"),
        ("washer", "洗衣机", "Washing machine"),
        ("stove", "炉灶", "Stove"),
        ("water_heater", "热水器", "Water heater"),
    ),
    "health": (
        ("blood_pressure", "量血压", "Blood pressure"),
        ("medicine", "买药取药", "Medicine"),
        ("doctor_visit", "陪同就医", "Go to the doctor"),
        ("unwell", "身体不舒服", "Feeling unwell"),
    ),
    "meals": (
        ("lunch", "午餐", "Lunch"),
        ("dinner", "晚餐", "Dinner"),
        ("delivery", "送餐上门", "Meals brought home"),
    ),
    "company": (
        ("chat", "聊聊天", "A chat"),
        ("walk", "陪我散步", "A walk together"),
        ("phone_call", "打电话问候", "A phone call"),
    ),
    "errands": (
        ("shopping", "买菜购物", "Shopping"),
        ("bills", "缴费", "Paying bills"),
        ("fetch", "取送东西", "Fetch or deliver"),
    ),
}
"""The defaults as they were at this revision (sync/choices.py may change later)."""


def upgrade() -> None:
    """Create sub_choice, add the request's choice and time, seed and publish the defaults."""
    op.create_table(
        "sub_choice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=32), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["category.id"], name=op.f("fk_sub_choice_category_id_category")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_sub_choice_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sub_choice")),
        sa.UniqueConstraint(
            "community_id", "category_id", "code", name=op.f("uq_sub_choice_community_id")
        ),
    )
    op.create_index(op.f("ix_sub_choice_community_id"), "sub_choice", ["community_id"])
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("choice_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("preferred_time", sa.String(length=16), nullable=True))
    _seed_and_publish()


def _seed_and_publish() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    categories = dict(conn.execute(sa.text("SELECT code, id FROM category")).all())
    communities = conn.execute(sa.text("SELECT id, slug, name, phone FROM community")).all()
    if not communities:
        return
    sub_choice = sa.table(
        "sub_choice",
        sa.column("community_id", sa.Integer),
        sa.column("category_id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
        sa.column("sort_order", sa.Integer),
        sa.column("is_active", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    change = sa.table(
        "change",
        sa.column("seq", sa.BigInteger),
        sa.column("entity", sa.String),
        sa.column("key", sa.String),
        sa.column("community_id", sa.Integer),
        sa.column("data", sa.JSON),
        sa.column("changed_at", sa.DateTime(timezone=True)),
    )
    defaults = [
        (category, (i + 1) * 10, code, zh, en)
        for category, choices in DEFAULT_CHOICES.items()
        if category in categories
        for i, (code, zh, en) in enumerate(choices)
    ]
    last = conn.execute(sa.text("SELECT last_change_seq FROM sync_state WHERE id = 1")).scalar()
    seq = int(last or 0)
    for community_id, slug, name, phone in communities:
        op.bulk_insert(
            sub_choice,
            [
                {
                    "community_id": community_id,
                    "category_id": categories[category],
                    "code": code,
                    "name_zh": zh,
                    "name_en": en,
                    "sort_order": sort,
                    "is_active": True,
                    "created_at": now,
                }
                for category, sort, code, zh, en in defaults
            ],
        )
        seq += 1
        data = {
            "slug": slug,
            "name": name,
            "phone": phone,
            "choices": [
                {"category": c, "code": code, "name_zh": zh, "name_en": en, "sort": sort}
                for c, sort, code, zh, en in defaults
            ],
        }
        conn.execute(
            change.delete().where(change.c.entity == "community", change.c.key == slug)
        )
        conn.execute(
            change.insert().values(
                seq=seq,
                entity="community",
                key=slug,
                community_id=community_id,
                data=data,
                changed_at=now,
            )
        )
    conn.execute(sa.text("UPDATE sync_state SET last_change_seq = :seq WHERE id = 1"), {"seq": seq})


def downgrade() -> None:
    """Drop the request's choice and time, and sub_choice."""
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_column("preferred_time")
        batch_op.drop_column("choice_code")
    op.drop_index(op.f("ix_sub_choice_community_id"), table_name="sub_choice")
    op.drop_table("sub_choice")
