"""Communities, buildings and rooms (room code `building-unit-room`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow


class Community(db.Model):  # type: ignore[name-defined,misc]
    """A community centre and the residents it serves."""

    __tablename__ = "community"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    last_staff_ticket: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    """The number of the last `O-` ticket given to a request not made at a kiosk."""
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class Building(db.Model):  # type: ignore[name-defined,misc]
    """A building (楼栋) of a community."""

    __tablename__ = "building"
    __table_args__ = (sa.UniqueConstraint("community_id", "code"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(16))


class Room(db.Model):  # type: ignore[name-defined,misc]
    """A room (户) of a building's unit; `code` is `building-unit-room`, e.g. `3-2-301`."""

    __tablename__ = "room"
    __table_args__ = (sa.UniqueConstraint("community_id", "code"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    building_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("building.id"), index=True)
    unit: so.Mapped[str] = so.mapped_column(sa.String(16))
    number: so.Mapped[str] = so.mapped_column(sa.String(16))
    code: so.Mapped[str] = so.mapped_column(sa.String(50))

    building: so.Mapped[Building] = so.relationship()


class CommunitySettings(db.Model):  # type: ignore[name-defined,misc]
    """What a community's admins set beyond its name and phone (a row once they have)."""

    __tablename__ = "community_setting"
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), primary_key=True)
    timezone: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    """The community's IANA time zone (None: LINLI_TIMEZONE)."""
    points_per_hour: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    """Passbook points per approved service hour (None: LINLI_POINTS_PER_HOUR)."""
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class RoomRetirement(db.Model):  # type: ignore[name-defined,misc]
    """A room an admin retired (demolished, merged): kiosks drop it, its history keeps it."""

    __tablename__ = "room_retirement"
    room_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("room.id"), primary_key=True)
    retired_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
