"""Volunteers, team membership and focus, service hours and the entries of a service record."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

SOURCES = ("recorded", "manual")
"""recorded: checked in and out; manual: added by hand afterwards (kept apart in every sum)."""
HOUR_STATES = ("open", "pending", "approved", "declined")
"""open: checked in; pending: checked out, awaiting a social worker; then approved or declined."""
NOTE_KINDS = ("training", "award", "evaluation")
GENDERS = ("", "female", "male")


class Volunteer(db.Model):  # type: ignore[name-defined,misc]
    """A volunteer of one community; phone numbers are unique within it."""

    __tablename__ = "volunteer"
    __table_args__ = (sa.UniqueConstraint("community_id", "phone"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    phone: so.Mapped[str] = so.mapped_column(sa.String(20))
    gender: so.Mapped[str] = so.mapped_column(sa.String(8), default="")
    birth_year: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    registration_no: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    """Number in the national volunteer service system (志愿者编号), when registered there."""
    skills: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    availability: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    joined_on: so.Mapped[date | None] = so.mapped_column(sa.Date)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class TeamMember(db.Model):  # type: ignore[name-defined,misc]
    """A volunteer's membership of a team; `is_lead` marks the volunteer leading it."""

    __tablename__ = "team_member"
    team_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("team.id"), primary_key=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("volunteer.id"), primary_key=True, index=True
    )
    is_lead: so.Mapped[bool] = so.mapped_column(default=False)
    joined_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    volunteer: so.Mapped[Volunteer] = so.relationship(lazy="joined")


class TeamFocus(db.Model):  # type: ignore[name-defined,misc]
    """A team's focus list (一队一重点), e.g. the elders living alone of building 3."""

    __tablename__ = "team_focus"
    team_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("team.id"), primary_key=True)
    items: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class ServiceRecord(db.Model):  # type: ignore[name-defined,misc]
    """Hours of one service by one volunteer; never deleted, only decided."""

    __tablename__ = "service_record"
    __table_args__ = (
        # At most one open check-in per volunteer, even under concurrent check-ins.
        sa.Index(
            "ix_service_record_one_open",
            "volunteer_id",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),
        # Approved hours of a community in a report period, with what the report sums
        # (0010_city).
        sa.Index(
            "ix_service_record_approved",
            "community_id",
            "started_at",
            postgresql_where=sa.text("status = 'approved'"),
            sqlite_where=sa.text("status = 'approved'"),
            postgresql_include=["id", "volunteer_id", "team_id", "source", "minutes"],
        ),
        # One volunteer's records by time (0024_ledger): the printable record's period and its
        # all-time sums by source read this index alone, the profile's latest 100 walk it
        # backwards. Before, the record read all ~4,300 of the busiest volunteer's rows from
        # 3,622 heap blocks (43 ms) and the profile walked the city's records by time (12,017
        # rows removed by filter).
        sa.Index(
            "ix_service_record_volunteer_started",
            "volunteer_id",
            "started_at",
            postgresql_include=["status", "source", "minutes"],
        ),
        # A community's records of a period in order, whatever their status: hours.csv
        # (0023_reports3; without it a year walked ix_service_record_started_at through every
        # community's records, 291,520 removed by filter, 215 ms at 1M).
        sa.Index("ix_service_record_community_started", "community_id", "started_at", "id"),
        # The latest decided hours of the one community the hours page shows; by decided_at
        # alone a small community's 20 were found among the city's newest 8,000 (0025_lists).
        sa.Index("ix_service_record_community_decided", "community_id", "decided_at"),
        sa.CheckConstraint("minutes IS NULL OR minutes >= 0", name="minutes_not_negative"),
    )
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), index=True)
    team_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("team.id"), index=True)
    request_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("help_request.id"), index=True
    )
    source: so.Mapped[str] = so.mapped_column(sa.String(16))
    content: so.Mapped[str] = so.mapped_column(sa.String(300))
    started_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, index=True)
    ended_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    minutes: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)
    is_auto_closed: so.Mapped[bool] = so.mapped_column(default=False)
    """The check-out was forgotten and the record was closed automatically: review it."""
    recorded_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    decided_by: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    decided_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    decision_note: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    volunteer: so.Mapped[Volunteer] = so.relationship(lazy="joined")


class VolunteerNote(db.Model):  # type: ignore[name-defined,misc]
    """A training, award or evaluation entered on a volunteer's service record."""

    __tablename__ = "volunteer_note"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    volunteer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("volunteer.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    noted_on: so.Mapped[date] = so.mapped_column(sa.Date)
    text: so.Mapped[str] = so.mapped_column(sa.String(300))
    recorded_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
