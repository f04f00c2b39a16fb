"""One row per outbound message; its delivery state is the truth about what left the server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow


class OutboxMessage(db.Model):  # type: ignore[name-defined,misc]
    """A JSON POST to `target_url`, written in the transaction that decided it.

    Due while `next_attempt_at` has passed and `delivered_at` is empty; `next_attempt_at`
    empty and never delivered: given up after its kind's attempts (flagged to staff).
    """

    __tablename__ = "outbox_message"
    __table_args__ = (sa.Index("ix_outbox_message_kind_ref", "kind", "ref_id"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    """What the message is (e.g. `escalation`): names how it is sent and what it updates."""
    ref_id: so.Mapped[int | None] = so.mapped_column()
    """The row of its kind this message carries (an escalation's id)."""
    target_url: so.Mapped[str] = so.mapped_column(sa.String(500))
    body: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(100), unique=True)
    """Sent as the `Idempotency-Key` header: a receiver applies a retried message once."""
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    delivered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
