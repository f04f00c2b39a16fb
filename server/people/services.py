"""Residents' profiles: create, correct, export, delete (PIPL), consents, request matching.

Every function that shows, exports or changes personal data writes an audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext

from server.audit import services as audit
from server.audit.actor import Actor
from server.audit.models import AuditEntry
from server.communities.models import Room
from server.errors import InvalidInput, NotFound
from server.extensions import db
from server.hooks import Hook
from server.people.models import MOBILITY, ConsentRecord, Resident
from server.privacy import mask_phones
from server.timeutil import utcnow

FIELDS = (
    "name",
    "phone",
    "birth_year",
    "is_living_alone",
    "mobility",
    "emergency_contact_name",
    "emergency_contact_phone",
    "access_notes",
)


@dataclass(frozen=True)
class Erased:
    """What erasing a resident's requests changed, for the audit row."""

    requests: int
    """Requests stripped of phone and text (linked, or unlinked carrying their phone)."""
    elsewhere: int
    """Other records of the community whose text named them, redacted."""


class ResidentRecords(Protocol):
    """What the requests hold of a resident: listed in their export, erased with them."""

    def export(self, resident: Resident) -> list[dict[str, Any]]:
        """The resident's linked requests, as exported."""
        ...

    def erase(self, resident: Resident) -> Erased:
        """Unlink and strip the resident's requests, and redact their copies."""
        ...


RESIDENT_RECORDS: Hook[ResidentRecords] = Hook("resident_records")
"""Implemented by the requests feature (above this one), installed by the app factory."""


class CareRecords(Protocol):
    """What the care watch holds of a resident: listed in their export, erased with them."""

    def export(self, resident: Resident) -> dict[str, Any]:
        """The resident's care plan, signs of life and follow-up steps, as exported."""
        ...

    def erase(self, resident: Resident) -> int:
        """Delete the resident's care plan, own signs of life and steps; how many rows."""
        ...


CARE_RECORDS: Hook[CareRecords] = Hook("care_records")
"""Implemented by the care watch (above this feature), installed by the app factory."""


@dataclass
class ProfileInput:
    """Validated profile fields."""

    room_code: str
    name: str
    phone: str | None
    birth_year: int | None
    is_living_alone: bool
    mobility: str
    emergency_contact_name: str | None
    emergency_contact_phone: str | None
    access_notes: str | None = None


def _room(community_id: int, code: str) -> Room:
    room = db.session.execute(
        sa.select(Room).where(Room.community_id == community_id, Room.code == code.strip())
    ).scalar_one_or_none()
    if room is None:
        raise InvalidInput(
            gettext("本社区没有房间 %(room)s（格式：楼-单元-室）", room=repr(code)), "bad_room"
        )
    return room


def _check(data: ProfileInput) -> None:
    if data.mobility not in MOBILITY:
        raise InvalidInput(
            gettext("行动能力须为以下之一：%(codes)s", codes=", ".join(MOBILITY)), "bad_mobility"
        )
    year = utcnow().year
    if data.birth_year is not None and not 1900 <= data.birth_year <= year:
        raise InvalidInput(
            gettext("出生年份须在 1900 到 %(year)s 之间", year=year), "bad_birth_year"
        )
    for phone in (data.phone, data.emergency_contact_phone):
        digits = (phone or "").replace("-", "").replace(" ", "")
        if phone and not (digits.isascii() and digits.isdigit()):
            raise InvalidInput(gettext("电话号码只能包含数字、空格和短横线"), "bad_phone")


def create_resident(community_id: int, data: ProfileInput, who: Actor, why: str) -> Resident:
    """A new profile."""
    _check(data)
    room = _room(community_id, data.room_code)
    resident = Resident(community_id=community_id, room_id=room.id)
    _assign(resident, data)
    db.session.add(resident)
    db.session.flush()
    audit.record(who, community_id, "create", "profile created", why, resident.id)
    return resident


def _assign(resident: Resident, data: ProfileInput) -> list[str]:
    changed = []
    for name in FIELDS:
        value = getattr(data, name)
        if getattr(resident, name) != value:
            setattr(resident, name, value)
            changed.append(name)
    return changed


def correct_resident(resident: Resident, data: ProfileInput, who: Actor, why: str) -> list[str]:
    """Correct a profile; the audit row names the fields changed (not their values)."""
    if not why.strip():
        raise InvalidInput(gettext("请说明更正档案的原因"), "missing_reason")
    _check(data)
    room = _room(resident.community_id, data.room_code)
    changed = _assign(resident, data)
    if room.id != resident.room_id:
        resident.room_id = room.id
        changed.append("room")
    resident.updated_at = utcnow()
    audit.record(
        who,
        resident.community_id,
        "change",
        "changed: " + (", ".join(changed) or "nothing"),
        why,
        resident.id,
    )
    return changed


def view_resident(resident_id: int, scope: frozenset[int], who: Actor, why: str) -> Resident:
    """Open a profile (audited); out-of-scope or deleted profiles do not exist."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or resident.community_id not in scope or resident.deleted_at:
        raise NotFound(gettext("没有这位居民"))
    audit.record(who, resident.community_id, "view", "profile", why, resident.id)
    return resident


def add_consent(resident: Resident, kind: str, version: str, who: Actor) -> ConsentRecord:
    """Record a consent the resident gave (e.g. to handling health details)."""
    kind, version = kind.strip(), version.strip()
    if not kind or not version or len(kind) > 32 or len(version) > 32:
        raise InvalidInput(gettext("请填写同意的类型和版本（最多 32 个字符）"), "bad_consent")
    consent = ConsentRecord(
        resident_id=resident.id, kind=kind, version=version, recorded_by=who.label
    )
    db.session.add(consent)
    db.session.flush()
    audit.record(
        who,
        resident.community_id,
        "change",
        f"consent {kind} {version}",
        "consent given",
        resident.id,
    )
    return consent


def export_resident(resident: Resident, who: Actor, why: str) -> dict[str, Any]:
    """Everything held about one person (PIPL access right), audited."""
    if not why.strip():
        raise InvalidInput(gettext("请说明导出数据的原因"), "missing_reason")
    requests = RESIDENT_RECORDS.get().export(resident)
    care = CARE_RECORDS.get().export(resident)
    trail = audit.for_resident(resident.id)
    audit.record(who, resident.community_id, "export", "full export", why, resident.id)
    return {
        "resident": {
            "id": resident.id,
            "room": resident.room.code if resident.room else None,
            **{name: getattr(resident, name) for name in FIELDS},
            "created_at": resident.created_at.isoformat(),
            "updated_at": resident.updated_at.isoformat(),
        },
        "consents": [
            {
                "kind": c.kind,
                "version": c.version,
                "given_at": c.given_at.isoformat(),
                "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
            }
            for c in resident.consents
        ],
        "requests": requests,
        "care_watch": care,
        "audit": [
            {
                "at": a.at.isoformat(),
                "actor": a.actor,
                "action": a.action,
                "what": a.what,
                "why": a.why,
            }
            for a in trail
        ],
    }


def delete_resident(resident: Resident, who: Actor, why: str) -> None:
    """Erase a person's data (PIPL deletion): the profile becomes a tombstone; their requests
    (linked, or unlinked carrying their phone number) lose phone, words and notes, and so do
    their copies (events, escalations, kiosk change rows, rejected and conflicting operations);
    any other text of the community naming them is redacted. The audit trail stays (it holds
    no personal data)."""
    if not why.strip():
        raise InvalidInput(gettext("请说明删除数据的原因"), "missing_reason")
    # First: the profile's phones and names are what finds their copies elsewhere.
    erased = RESIDENT_RECORDS.get().erase(resident)
    care_rows = CARE_RECORDS.get().erase(resident)
    for name in (
        "phone",
        "birth_year",
        "emergency_contact_name",
        "emergency_contact_phone",
        "access_notes",
    ):
        setattr(resident, name, None)
    resident.name = ""
    resident.is_living_alone = False
    resident.mobility = "independent"
    resident.room_id = None
    resident.deleted_at = utcnow()
    for consent in resident.consents:
        db.session.delete(consent)
    audit.record(
        who,
        resident.community_id,
        "delete",
        f"profile erased; {erased.requests} requests stripped of phone and text; "
        f"{erased.elsewhere} other records redacted; {care_rows} care watch rows deleted",
        why,
        resident.id,
    )


def candidates_for(room_id: int, phone: str | None) -> list[tuple[Resident, bool]]:
    """Profiles in a request's room, each with whether the request's phone matches too."""
    rows = db.session.execute(
        sa.select(Resident).where(Resident.room_id == room_id, Resident.deleted_at.is_(None))
    ).scalars()
    return [(r, bool(phone) and r.phone == phone) for r in rows]


def search(scope: frozenset[int], text: str, who: Actor, limit: int = 100) -> list[Resident]:
    """Profiles by name, phone or room code in the user's communities (the listing is audited)."""
    stmt = (
        sa.select(Resident)
        .outerjoin(Room, Resident.room_id == Room.id)
        .options(so.contains_eager(Resident.room))
        .where(Resident.community_id.in_(scope), Resident.deleted_at.is_(None))
        .order_by(Room.code, Resident.name)
        .limit(limit)
    )
    text = text.strip()
    if text:
        like = f"%{text}%"
        stmt = stmt.where(
            sa.or_(Resident.name.ilike(like), Resident.phone.like(like), Room.code.like(like))
        )
    found = list(db.session.execute(stmt).scalars())
    shown: dict[int, int] = {}
    for resident in found:
        shown[resident.community_id] = shown.get(resident.community_id, 0) + 1
    audit.record_each(
        who,
        {c: f"residents list: {count} names and rooms" for c, count in shown.items()},
        "view",
        f"search {mask_phones(text)!r}" if text else "list",
    )
    return found


def audit_trail(resident: Resident) -> list[AuditEntry]:
    """The resident's audit rows, newest first."""
    return audit.for_resident(resident.id)
