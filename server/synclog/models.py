"""The applied-operations log, recorded conflicts, the change log and the sync counter."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow


class AppliedOp(db.Model):  # type: ignore[name-defined,misc]
    """Every operation the server has answered, once, keyed by its client-made id.

    The unique key on `op_id` is what makes a replay a duplicate instead of a second row.
    """

    __tablename__ = "applied_op"
    __table_args__ = (sa.UniqueConstraint("kiosk_id", "seq"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    op_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True)
    kiosk_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("kiosk.id"))
    seq: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    type: so.Mapped[str] = so.mapped_column(sa.String(32))
    digest: so.Mapped[str] = so.mapped_column(sa.String(64))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)
    reason: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    detail: so.Mapped[str | None] = so.mapped_column(sa.Text)
    result: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    body: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    """Kept only for rejected operations, so staff can see what was sent."""
    device_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    applied_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class SyncConflict(db.Model):  # type: ignore[name-defined,misc]
    """A replayed operation id whose content differs from the first copy: recorded, not applied."""

    __tablename__ = "sync_conflict"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    op_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, index=True)
    kiosk_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("kiosk.id"))
    seq: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    digest: so.Mapped[str] = so.mapped_column(sa.String(64))
    body: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    reason: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    """`conflict` (a known id with other content, never applied) or `seq_taken` (a new id at a
    seq already answered: a kiosk whose counter fell behind moves it to a fresh seq)."""
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class Change(db.Model):  # type: ignore[name-defined,misc]
    """The latest state of one record that kiosks pull, at its latest change sequence.

    Each record appears once, so pulling from the start is also the full current state.
    """

    __tablename__ = "change"
    __table_args__ = (
        sa.UniqueConstraint("entity", "key"),
        sa.Index("ix_change_scope", "community_id", "seq"),
        # A download from nothing reads a community's unsettled rows in seq order, and its
        # requests settled since the bound by time, never those settled long ago (0018_city2).
        sa.Index(
            "ix_change_unsettled",
            "community_id",
            "seq",
            postgresql_where=sa.text("settled_at IS NULL"),
            sqlite_where=sa.text("settled_at IS NULL"),
        ),
        sa.Index(
            "ix_change_settled",
            "community_id",
            "settled_at",
            postgresql_where=sa.text("settled_at IS NOT NULL"),
            sqlite_where=sa.text("settled_at IS NOT NULL"),
        ),
    )
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    seq: so.Mapped[int] = so.mapped_column(sa.BigInteger, unique=True)
    entity: so.Mapped[str] = so.mapped_column(sa.String(16))
    key: so.Mapped[str] = so.mapped_column(sa.String(64))
    community_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("community.id"))
    kiosk_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("kiosk.id"))
    data: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    changed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    settled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    """When the request reached a settled state (its `changed_at` then); None for anything
    else, so a download from nothing leaves out rows settled before its bound."""


class SyncState(db.Model):  # type: ignore[name-defined,misc]
    """One row: this database's identity (epoch) and its change sequence counter.

    Writers bump `last_change_seq` with an UPDATE, which holds the row lock to commit, so
    change sequence numbers become visible in order on every backend.
    """

    __tablename__ = "sync_state"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    epoch: so.Mapped[str] = so.mapped_column(sa.String(32))
    last_change_seq: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
