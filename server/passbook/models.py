"""Merchants, passbook accounts, the hash-chained ledger and one-time redemption codes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

KINDS = ("hours", "bonus", "redemption")
GENESIS = "0" * 64
"""The `prev_hash` of a volunteer's first entry."""


class Merchant(db.Model):  # type: ignore[name-defined,misc]
    """A registered local merchant where points are redeemed; `key_hash` opens its page."""

    __tablename__ = "merchant"
    __table_args__ = (sa.UniqueConstraint("community_id", "name"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    address: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    key_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class PassbookAccount(db.Model):  # type: ignore[name-defined,misc]
    """A volunteer's balance and the head of their chain (so a cut-off tail is detected)."""

    __tablename__ = "passbook_account"
    __table_args__ = (sa.CheckConstraint("balance >= 0", name="balance_not_negative"),)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), primary_key=True)
    balance: so.Mapped[int] = so.mapped_column(default=0)
    entries: so.Mapped[int] = so.mapped_column(default=0)
    head_hash: so.Mapped[str] = so.mapped_column(sa.String(64), default=GENESIS)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(db.Model):  # type: ignore[name-defined,misc]
    """One posting; never updated or deleted. `hash` covers every field and `prev_hash`."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        sa.UniqueConstraint("volunteer_id", "seq"),
        sa.CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        # A merchant's latest redemptions (0018_city2): without it the merchant's page walked
        # the whole ledger backwards by id (618,325 rows removed by filter, 500 ms at 1M).
        sa.Index(
            "ix_ledger_entry_merchant",
            "merchant_id",
            "id",
            postgresql_where=sa.text("merchant_id IS NOT NULL"),
            sqlite_where=sa.text("merchant_id IS NOT NULL"),
        ),
    )
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), index=True)
    seq: so.Mapped[int] = so.mapped_column(sa.Integer)
    posting_key: so.Mapped[str] = so.mapped_column(sa.String(120), unique=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    points: so.Mapped[int] = so.mapped_column(sa.Integer)
    """Signed: redemptions are negative."""
    balance_after: so.Mapped[int] = so.mapped_column(sa.Integer)
    reason: so.Mapped[str] = so.mapped_column(sa.String(300), default="")
    service_record_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("service_record.id"))
    merchant_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("merchant.id"))
    actor: so.Mapped[str] = so.mapped_column(sa.String(100))
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    prev_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    hash: so.Mapped[str] = so.mapped_column(sa.String(64))

    merchant: so.Mapped[Merchant | None] = so.relationship(lazy="joined")


class RedemptionCode(db.Model):  # type: ignore[name-defined,misc]
    """A one-time code a volunteer shows a merchant; only its hash is stored."""

    __tablename__ = "redemption_code"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), index=True)
    code_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    max_points: so.Mapped[int] = so.mapped_column(sa.Integer)
    issued_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    issued_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    merchant_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("merchant.id"))
    entry_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("ledger_entry.id"))


class PassbookCheckpoint(db.Model):  # type: ignore[name-defined,misc]
    """How far a volunteer's chain was last verified in full, and when: entries 1 to `seq`
    were intact and entry `seq` had `hash`. The passbook page checks that entry and those
    after it, not the whole chain again. Apart from the account so a posting (which locks
    the account) and a verification moving the checkpoint never wait for each other."""

    __tablename__ = "passbook_checkpoint"
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), primary_key=True)
    seq: so.Mapped[int] = so.mapped_column(sa.Integer)
    hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    verified_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
