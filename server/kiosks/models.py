"""A kiosk is a device: enrolled once with a code, then known by a revocable token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow


class Kiosk(db.Model):  # type: ignore[name-defined,misc]
    """One touchscreen kiosk of a community, and its sync position."""

    __tablename__ = "kiosk"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100), unique=True)
    ticket_prefix: so.Mapped[str] = so.mapped_column(sa.String(2))
    enroll_code_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    enroll_expires_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    token_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    enrolled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_seq: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    last_seen_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_device_time: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    duplicates: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0, server_default="0")
    """Replayed operations answered as duplicates (a /metrics counter)."""
    health: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    """The kiosk's latest nightly health report."""
    health_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    instances: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    """Kiosk processes (random per-run ids) lately seen pushing: when first and last seen."""
    clone_instance: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    """The process told to re-enrol as a new device: a copy of this kiosk's card."""
    cloned_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
