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


REASONS = ("living_alone", "elderly", "disabled_family", "after_hospital")
"""Why a resident is watched: 独居, 高龄, 失能家属, 出院后."""
RHYTHMS = {"daily": 24, "every_2_3_days": 72, "weekly": 168}
"""The expected rhythm of signs of life, and the hours it allows between two of them."""
QUIET_REASONS = ("in_hospital", "visiting_family", "other")
"""Why the watch is paused until a date: in hospital, visiting children, another reason."""
CONSENTS = ("given", "declined")
"""The elder agreed to be watched, or declined (the refusal is recorded; nobody is watched)."""
STEPS = {1: "visit", 2: "call", 3: "family"}
"""Step 1: a building captain's or paired volunteer's visit; step 2: the social worker's call;
step 3: the family contact is called and a door visit with the property office decided."""


class CarePlan(db.Model):  # type: ignore[name-defined,misc]
    """A resident's care plan (平安守望): whether and how often signs of life are expected,
    who follows up, quiet periods, and the consent (PIPL) under which it is kept."""

    __tablename__ = "care_plan"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    resident_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("resident.id"), unique=True)
    is_watched: so.Mapped[bool] = so.mapped_column(default=False)
    reason: so.Mapped[str] = so.mapped_column(sa.String(16))
    rhythm: so.Mapped[str] = so.mapped_column(sa.String(16), default="daily")
    consent: so.Mapped[str] = so.mapped_column(sa.String(16))
    consent_note: so.Mapped[str] = so.mapped_column(sa.String(300))
    """How the consent (or refusal) was given: in person, by phone, through a guardian."""
    consent_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    captain_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("volunteer.id"))
    """The building captain (楼长) who visits."""
    buddy_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("volunteer.id"))
    """The paired volunteer or 老友."""
    family_name: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    family_phone: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    quiet_reason: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    quiet_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    """No follow-up before this moment (in hospital, visiting children)."""
    watched_since: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    """The watch's clock starts here when no sign of life came after it."""
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_by: so.Mapped[str] = so.mapped_column(sa.String(100))


class CareStep(db.Model):  # type: ignore[name-defined,misc]
    """One step of the follow-up of a broken rhythm (or of a worrying outcome).

    An episode is named by `since` (when the rhythm was missed, or the worrying sign's time);
    each step of an episode exists once (unique), so evaluating twice, or on two hosts at
    once, creates it once. The first sign of life closes every open step.
    """

    __tablename__ = "care_step"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "since", "step"),
        sa.Index("ix_care_step_community_open", "community_id", "closed_at"),
    )
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"))
    plan_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("care_plan.id"), index=True)
    since: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    step: so.Mapped[int] = so.mapped_column()
    is_urgent: so.Mapped[bool] = so.mapped_column(default=False)
    """Raised by a worrying outcome: it may wake someone at night."""
    assignee: so.Mapped[str] = so.mapped_column(sa.String(100))
    """Who should act: a volunteer's name, or the community's social workers."""
    volunteer_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("volunteer.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    notify_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    """When its notification may leave (after the night for a non-urgent step); None: none."""
    notified_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    notify_error: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    outcome_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    outcome_by: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    note: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    closed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    closed_by_sign_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("sign_of_life.id"))
