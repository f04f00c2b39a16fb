"""Signs of life: every moment a watched elder was seen, heard or asked for help."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

CHANNELS = ("kiosk", "visit", "call", "request", "job", "meal", "activity", "staff_call")
"""kiosk: 报平安 at the kiosk; visit / call: a volunteer's or building captain's 探访 / 电话;
request: a request made for the room; job: a job completed there; meal / activity: a canteen
meal or attendance recorded; staff_call: a social worker's logged call."""
OUTCOMES = ("ok", "needs_help", "no_answer")
"""ok: seen and well; needs_help: seen, needs help (a follow-up at once); no_answer: a visit
or call that reached nobody (not a sign of life: it raises the next step)."""


class SignOfLife(db.Model):  # type: ignore[name-defined,misc]
    """One sign that an elder (or a room's household) was alive and reachable at `at`.

    `source_key` names where it came from ("kiosk:<op id>", "request:<id>", ...) and is unique,
    so the same event recorded twice (a replayed sync, a retried form) counts once.
    """

    __tablename__ = "sign_of_life"
    __table_args__ = (
        sa.Index("ix_sign_of_life_resident_at", "resident_id", "at"),
        sa.Index("ix_sign_of_life_room_at", "room_id", "at"),
    )
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    resident_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("resident.id"))
    room_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("room.id"))
    channel: so.Mapped[str] = so.mapped_column(sa.String(16))
    outcome: so.Mapped[str] = so.mapped_column(sa.String(16), default="ok")
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    source_key: so.Mapped[str] = so.mapped_column(sa.String(80), unique=True)
    recorded_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    note: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
