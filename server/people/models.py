"""Residents (档案) and the consents they gave."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.communities.models import Room
from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

MOBILITY = ("independent", "walking_aid", "wheelchair", "bedridden")


class Resident(db.Model):  # type: ignore[name-defined,misc]
    """A resident's profile; after a PIPL deletion only a tombstone (`deleted_at`) is left."""

    __tablename__ = "resident"
    __table_args__ = (sa.Index("ix_resident_room_phone", "room_id", "phone"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    room_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("room.id"))
    name: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    birth_year: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    is_living_alone: so.Mapped[bool] = so.mapped_column(default=False)
    mobility: so.Mapped[str] = so.mapped_column(sa.String(16), default="independent")
    emergency_contact_name: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    emergency_contact_phone: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    access_notes: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    """How to get in (楼道门禁, 钥匙在邻居家): shown to the volunteers on an open job."""
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    deleted_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    room: so.Mapped[Room | None] = so.relationship(lazy="joined")
    consents: so.Mapped[list[ConsentRecord]] = so.relationship(
        back_populates="resident", order_by="ConsentRecord.id", lazy="selectin"
    )


class ConsentRecord(db.Model):  # type: ignore[name-defined,misc]
    """A consent a resident gave (or withdrew), e.g. to the handling of health details."""

    __tablename__ = "consent_record"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    resident_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("resident.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    version: so.Mapped[str] = so.mapped_column(sa.String(32))
    given_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    recorded_by: so.Mapped[str] = so.mapped_column(sa.String(100))

    resident: so.Mapped[Resident] = so.relationship(back_populates="consents")
