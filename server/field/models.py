"""Who is on each job, volunteers' sign-in links and phones, and the actions phones sent."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

ASSIGNEE_STATES = ("offered", "accepted", "declined", "on_site", "done", "withdrawn")
"""offered (dispatched to them), accepted, declined (with a reason), on_site, done; withdrawn:
the job was dispatched again to others (their later actions are refused as reassigned)."""
ACTION_KINDS = ("accept", "decline", "arrive", "complete")
ACTION_STATUSES = ("applied", "rejected")


class JobAssignee(db.Model):  # type: ignore[name-defined,misc]
    """A volunteer on a dispatched request, and how far they are with it."""

    __tablename__ = "job_assignee"
    __table_args__ = (sa.UniqueConstraint("request_id", "volunteer_id"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    request_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("help_request.id"), index=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), index=True)
    team_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("team.id"))
    state: so.Mapped[str] = so.mapped_column(sa.String(16))
    reason: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    done_note: so.Mapped[str | None] = so.mapped_column(sa.String(2000))
    minutes: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    service_record_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("service_record.id"))
    assigned_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    assigned_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class VolunteerLink(db.Model):  # type: ignore[name-defined,misc]
    """A volunteer's personal sign-in link (the QR code on their card); only its hash is kept."""

    __tablename__ = "volunteer_link"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), index=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    issued_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    issued_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    revoked_by: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


class VolunteerDevice(db.Model):  # type: ignore[name-defined,misc]
    """A phone signed in through a link: its long session, kept as the hash of a cookie."""

    __tablename__ = "volunteer_device"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), index=True)
    link_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("volunteer_link.id"), index=True
    )
    """None for a session opened from the console by the volunteer's own linked user."""
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    is_pin_checked: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


class VolunteerPin(db.Model):  # type: ignore[name-defined,misc]
    """A volunteer's optional PIN (argon2), asked on a new phone; failures lock it a while."""

    __tablename__ = "volunteer_pin"
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), primary_key=True)
    pin_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    failures: so.Mapped[int] = so.mapped_column(default=0)
    locked_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    set_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class VolunteerUser(db.Model):  # type: ignore[name-defined,misc]
    """A console user who is also a volunteer (a team lead): one person, one set of job pages."""

    __tablename__ = "volunteer_user"
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), unique=True)
    linked_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    linked_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class VolunteerDay(db.Model):  # type: ignore[name-defined,misc]
    """A day the volunteer said "今天有空" on their own page (ranked first on dispatch)."""

    __tablename__ = "volunteer_day"
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), primary_key=True)
    day: so.Mapped[date] = so.mapped_column(sa.Date, primary_key=True)
    set_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class FieldAction(db.Model):  # type: ignore[name-defined,misc]
    """An action a phone sent, by the id the phone made: applied once, answered the same after."""

    __tablename__ = "field_action"
    __table_args__ = (sa.Index("ix_field_action_request", "request_id", "id"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    client_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), index=True)
    request_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("help_request.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    body: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    taken_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    """The phone's clock when the volunteer acted (recorded, never trusted for order)."""
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    status: so.Mapped[str] = so.mapped_column(sa.String(16))
    error: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    detail: so.Mapped[str | None] = so.mapped_column(sa.String(300))


class SkillWord(db.Model):  # type: ignore[name-defined,misc]
    """A word in a volunteer's skills that counts for a category in this community (电工 and
    水电维修 for 照明/电路); the community's admins edit the list."""

    __tablename__ = "skill_word"
    __table_args__ = (sa.UniqueConstraint("community_id", "category_id", "word"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    category_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("category.id"))
    word: so.Mapped[str] = so.mapped_column(sa.String(40))
    added_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    added_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class BuildingCaptain(db.Model):  # type: ignore[name-defined,misc]
    """A volunteer who is the captain (楼长) of a building: requests there go to them first."""

    __tablename__ = "building_captain"
    building_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("building.id"), primary_key=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("volunteer.id"), primary_key=True, index=True
    )
    set_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    set_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
