"""民生实事 items of a community and the requests linked to them."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

SOURCES = ("meeting", "suggestion_box", "pattern")
"""Where an item was raised: a residents' meeting (居民议事会), the suggestion box (意见箱), or
a pattern in requests (suggested by the server, adopted by a social worker)."""
STATES = ("proposed", "adopted", "in_progress", "done", "dropped")
MOVES: dict[str, frozenset[str]] = {
    "proposed": frozenset({"adopted", "dropped"}),
    "adopted": frozenset({"in_progress", "done", "dropped"}),
    "in_progress": frozenset({"done", "dropped"}),
    "done": frozenset(),
    "dropped": frozenset(),
}
"""state → the states it may move to (dropping needs a reason)."""


class MinshengItem(db.Model):  # type: ignore[name-defined,misc]
    """One 民生实事: what, where it came from, who owns it, by when, and how far it is."""

    __tablename__ = "minsheng_item"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    source: so.Mapped[str] = so.mapped_column(sa.String(16))
    pattern_key: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    """For an item adopted from a suggestion: building, category and season it came from (that
    suggestion is not offered again)."""
    owner: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    due_on: so.Mapped[date | None] = so.mapped_column(sa.Date)
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default="proposed")
    drop_reason: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    created_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class MinshengLink(db.Model):  # type: ignore[name-defined,misc]
    """A request linked to a 民生实事 item (a request may support several items)."""

    __tablename__ = "minsheng_link"
    __table_args__ = (sa.UniqueConstraint("item_id", "request_id"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    item_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("minsheng_item.id"), index=True)
    request_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("help_request.id"), index=True)


OUTCOMES = ("open", "done", "not_done")
"""A meeting decision's outcome: open until the next meeting says done or not done."""


class MeetingDecision(db.Model):  # type: ignore[name-defined,misc]
    """A decision of the weekly joint meeting (联席会) on a 民生实事 item or a case (request),
    and its outcome as the next meeting found it."""

    __tablename__ = "meeting_decision"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    week_start: so.Mapped[date] = so.mapped_column(sa.Date)
    """The Monday of the meeting's week."""
    item_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("minsheng_item.id"))
    request_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("help_request.id"))
    text: so.Mapped[str] = so.mapped_column(sa.String(500))
    owner: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    outcome: so.Mapped[str] = so.mapped_column(sa.String(16), default="open")
    outcome_note: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    decided_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    decided_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    outcome_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
