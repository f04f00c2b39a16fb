"""The append-only audit trail of personal data: who, when, what, why."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow


class AuditEntry(db.Model):  # type: ignore[name-defined,misc]
    """One view, export, change or deletion of a resident's data; never updated or deleted.

    `resident_id` carries no foreign key on purpose: the trail outlives the profile.
    """

    __tablename__ = "audit_entry"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: so.Mapped[str] = so.mapped_column(sa.String(100))
    user_id: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    action: so.Mapped[str] = so.mapped_column(sa.String(16))
    resident_id: so.Mapped[int | None] = so.mapped_column(sa.Integer, index=True)
    request_id: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    what: so.Mapped[str] = so.mapped_column(sa.String(300))
    why: so.Mapped[str] = so.mapped_column(sa.String(300))
