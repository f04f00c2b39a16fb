"""Anonymous daily statistics, kept after personal data is purged."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db


class DailyStat(db.Model):  # type: ignore[name-defined,misc]
    """Counts for one community, local day and category (no personal data)."""

    __tablename__ = "daily_stat"
    __table_args__ = (sa.UniqueConstraint("day", "community_id", "category"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    day: so.Mapped[date] = so.mapped_column(sa.Date, index=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"))
    category: so.Mapped[str] = so.mapped_column(sa.String(32))
    received: so.Mapped[int] = so.mapped_column(default=0)
    urgent: so.Mapped[int] = so.mapped_column(default=0)
    completed: so.Mapped[int] = so.mapped_column(default=0)
    closed: so.Mapped[int] = so.mapped_column(default=0)
    cancelled: so.Mapped[int] = so.mapped_column(default=0)
