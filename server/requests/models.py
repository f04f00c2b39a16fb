"""Categories, help requests and the append-only events of each request's life."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.communities.models import Room
from server.dispatch.models import Team
from server.extensions import db
from server.timeutil import UTCDateTime, utcnow
from sync.statuses import RequestStatus


class Category(db.Model):  # type: ignore[name-defined,misc]
    """A kind of help, with a stable code used on the wire."""

    __tablename__ = "category"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    name_zh: so.Mapped[str] = so.mapped_column(sa.String(64))
    name_en: so.Mapped[str] = so.mapped_column(sa.String(64))
    sort_order: so.Mapped[int] = so.mapped_column(default=0)
    is_urgent: so.Mapped[bool] = so.mapped_column(default=False)
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    deadline_minutes: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    """Minutes from receipt to a helper on site before the request is overdue (None: no limit)."""


CHANNELS = (
    "kiosk",
    "phone",
    "walk_in",
    "building_captain",
    "suggestion_box",
    "residents_meeting",
    "hotline",
    "open311",
    "other",
)
"""How a request came in (`hotline` is the city's 12345); the kiosk's own are `kiosk`."""
REPORTER_KINDS = ("resident", "family", "building_captain", "volunteer", "staff", "other")
"""Who told the community about the need (None: not recorded, as on the kiosk)."""
STAFF_TICKET_PREFIX = "O"
"""Tickets of requests not made at a kiosk (console, staff API, Open311): `O-0001`, numbered per
community. Kiosk prefixes never hold an I or an O (sync.ids.ticket_prefix), so they never meet."""

OPEN_SQL = "status NOT IN ('cancelled', 'closed_fixed', 'closed_not_fixed', 'duplicate')"
"""Not final (sync.statuses.FINAL): the predicate of the partial index on open requests."""


ACTIVE_SQL = "status IN ('accepted', 'dispatched', 'on_site')"
"""Being worked on (sync.statuses.ACTIVE_WORK): the predicate of the jobs list's index."""


QUEUE_KEYS = (
    "status",
    "category_id",
    "priority",
    "is_urgent",
    "is_cancel_requested",
    "team_id",
    "room_id",
)
"""What the queue's partial indexes on open requests carry, so its keys are read from them."""


class HelpRequest(db.Model):  # type: ignore[name-defined,misc]
    """A resident's request; `client_id` is the kiosk-made id of the operation that created it."""

    __tablename__ = "help_request"
    __table_args__ = (
        sa.Index("ix_help_request_received", "received_at", "id"),
        # A community's requests in a report period, with the report's columns (0010_city);
        # sub-choice, preferred time and room keep the report's counts and the needs map
        # index-only, ticket, closing time and team requests.csv (0023_reports3: a year's
        # counts read 11,254 heap pages without them, the export 19,291 heap rows).
        sa.Index(
            "ix_help_request_report",
            "community_id",
            "received_at",
            postgresql_include=[
                "id",
                "category_id",
                "status",
                "arrived_at",
                "resident_id",
                "acknowledged_at",
                "first_dispatched_at",
                "first_completed_at",
                "first_closed_at",
                "channel",
                "choice_code",
                "preferred_time",
                "room_id",
                "ticket",
                "closed_at",
                "team_id",
            ],
        ),
        # The queue's needs-action keys: open requests only (0010_city).
        sa.Index(
            "ix_help_request_open",
            "received_at",
            "id",
            postgresql_where=sa.text(OPEN_SQL),
            sqlite_where=sa.text(OPEN_SQL),
            postgresql_include=["community_id", *QUEUE_KEYS],
        ),
        # The jobs list (0026_jobs): requests being worked on, oldest first. Through the open
        # requests' index the city's page walked 24,750 older open ones that are not being
        # worked on (received, triaged, escalated) to find 51: 39 ms at 1M, now a few rows.
        sa.Index(
            "ix_help_request_active",
            "received_at",
            "id",
            postgresql_where=sa.text(ACTIVE_SQL),
            sqlite_where=sa.text(ACTIVE_SQL),
        ),
        # The same for a social worker's few communities.
        sa.Index(
            "ix_help_request_open_community",
            "community_id",
            "received_at",
            "id",
            postgresql_where=sa.text(OPEN_SQL),
            sqlite_where=sa.text(OPEN_SQL),
            postgresql_include=list(QUEUE_KEYS),
        ),
        # The live refresh's changed rows and the hours page's latest finished jobs.
        sa.Index("ix_help_request_updated", "updated_at"),
        # The latest finished jobs of the one community the hours page shows; by updated_at
        # alone a small community's 50 were found among the city's newest 73,000 (0025_lists).
        sa.Index("ix_help_request_community_updated", "community_id", "updated_at"),
        # A merge naming the request it goes into by ticket (0012_duplicates).
        sa.Index("ix_help_request_ticket", "ticket"),
    )
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    client_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    kiosk_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("kiosk.id"), index=True)
    category_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("category.id"))
    room_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("room.id"), index=True)
    ticket: so.Mapped[str] = so.mapped_column(sa.String(8))
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    details: so.Mapped[str | None] = so.mapped_column(sa.Text)
    is_on_behalf: so.Mapped[bool] = so.mapped_column(default=False)
    channel: so.Mapped[str] = so.mapped_column(
        sa.String(20), default="kiosk", server_default="kiosk"
    )
    """One of CHANNELS."""
    reporter_kind: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    """One of REPORTER_KINDS."""
    reporter_name: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    consent_version: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    choice_code: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    """What is wrong: a sub-choice's code of the community and category, or `other`."""
    preferred_time: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    """When the resident would like help (sync.messages.PREFERRED_TIMES), from the day received."""
    status: so.Mapped[RequestStatus] = so.mapped_column(sa.String(24), index=True)
    is_urgent: so.Mapped[bool] = so.mapped_column(default=False)
    is_cancel_requested: so.Mapped[bool] = so.mapped_column(default=False)
    public_note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    priority: so.Mapped[str] = so.mapped_column(
        sa.String(16), default="normal", server_default="normal"
    )
    team_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("team.id"), index=True)
    volunteers: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    resident_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("resident.id"), index=True)
    duplicate_of_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("help_request.id"), index=True
    )
    hours: so.Mapped[float | None] = so.mapped_column(sa.Float)
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    satisfaction: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    arrived_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    closed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    device_created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    """First change of status by staff; this and the three below are kept by a database
    trigger on request_event (migration 0010_city), never written by the app."""
    first_dispatched_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    first_completed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    first_closed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    """First closed, fixed or not."""
    overdue_marked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    """When the nightly job recorded that the category's deadline was missed."""
    personal_data_purged_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    """When the nightly job erased the phone and words after the retention period."""

    category: so.Mapped[Category] = so.relationship(lazy="joined")
    room: so.Mapped[Room] = so.relationship(lazy="joined")
    team: so.Mapped[Team | None] = so.relationship(lazy="joined")


class RequestEvent(db.Model):  # type: ignore[name-defined,misc]
    """One transition or note in a request's life; never updated or deleted."""

    __tablename__ = "request_event"
    __table_args__ = (
        # The meeting sheet's complex cases: requests escalated or reopened at some point.
        sa.Index(
            "ix_request_event_marked",
            "request_id",
            postgresql_where=sa.text("to_status IN ('escalated', 'reopened')"),
            sqlite_where=sa.text("to_status IN ('escalated', 'reopened')"),
        ),
    )
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    request_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("help_request.id"), index=True)
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: so.Mapped[str] = so.mapped_column(sa.String(120))
    """Who: a user, a job, or `kiosk:<name>` (a kiosk name has up to 100 characters)."""
    from_status: so.Mapped[RequestStatus | None] = so.mapped_column(sa.String(24))
    to_status: so.Mapped[RequestStatus | None] = so.mapped_column(sa.String(24))
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    kind: so.Mapped[str] = so.mapped_column(
        sa.String(16), default="status", server_default="status"
    )
    """status (a transition), note (internal), public_note, or a record such as link or delivery."""


class SubChoice(db.Model):  # type: ignore[name-defined,misc]
    """What is wrong, one step below a category, as a community words it (灯不亮).

    Never deleted once a request uses its code: retired (`is_active` false) instead, so old
    requests keep their words and the kiosk no longer offers it.
    """

    __tablename__ = "sub_choice"
    __table_args__ = (sa.UniqueConstraint("community_id", "category_id", "code"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    category_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("category.id"))
    code: so.Mapped[str] = so.mapped_column(sa.String(32))
    name_zh: so.Mapped[str] = so.mapped_column(sa.String(32))
    name_en: so.Mapped[str] = so.mapped_column(sa.String(64))
    sort_order: so.Mapped[int] = so.mapped_column(default=0)
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    category: so.Mapped[Category] = so.relationship(lazy="joined")
