"""Communities and their rooms; every change is published to the kiosks' change log."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask_babel import gettext

from server.communities.models import (
    Building,
    Community,
    CommunitySettings,
    Room,
    RoomRetirement,
)
from server.errors import Conflict, InvalidInput, NotFound
from server.extensions import db
from server.hooks import Hook
from server.synclog.changes import ChangeRow, record_changes
from server.timeutil import utcnow
from sync.messages import ChoiceData, CommunityData, RoomData

SLUG = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
PART = re.compile(r"^[^-\s,]{1,16}$")
PHONE = re.compile(r"^[0-9+][0-9 +-]*$")

COMMUNITY_CHOICES: Hook[Callable[[int], list[ChoiceData]]] = Hook("community_choices")
"""A community's active sub-choices (server.subchoices), published with the community record."""
SEED_CHOICES: Hook[Callable[[Community], object]] = Hook("seed_choices")
"""Gives a new community the default sub-choices (server.subchoices), before it is published."""


def community_by_slug(slug: str) -> Community:
    """A community by slug, or `NotFound`."""
    community = db.session.execute(
        sa.select(Community).where(Community.slug == slug)
    ).scalar_one_or_none()
    if community is None:
        raise NotFound(gettext("没有标识为 %(slug)s 的社区", slug=repr(slug)), "unknown_community")
    return community


def community_change(community: Community) -> ChangeRow:
    """What kiosks of a community learn about it."""
    return ChangeRow(
        entity="community",
        key=community.slug,
        community_id=community.id,
        data=CommunityData(
            slug=community.slug,
            name=community.name,
            phone=community.phone,
            choices=COMMUNITY_CHOICES.get()(community.id),
        ),
    )


def create_community(slug: str, name: str, phone: str | None = None) -> Community:
    """Create a community with a unique slug (lower-case letters, digits, underscores)."""
    if not SLUG.match(slug):
        raise InvalidInput(
            gettext("社区标识为 1 到 64 个小写字母、数字或下划线，以字母或数字开头"),
            "bad_slug",
        )
    if not name.strip():
        raise InvalidInput(gettext("社区须有名称"), "bad_name")
    exists = db.session.execute(sa.select(Community.id).where(Community.slug == slug)).first()
    if exists:
        raise Conflict(gettext("社区 %(slug)s 已存在", slug=repr(slug)), "community_exists")
    community = Community(slug=slug, name=name.strip(), phone=phone)
    db.session.add(community)
    db.session.flush()
    SEED_CHOICES.get()(community)
    record_changes([community_change(community)])
    return community


@dataclass(frozen=True)
class RoomRow:
    """One parsed row of a rooms file."""

    line: int
    building: str
    unit: str
    room: str

    @property
    def code(self) -> str:
        """The room code `building-unit-room`."""
        return f"{self.building}-{self.unit}-{self.room}"


@dataclass(frozen=True)
class ImportResult:
    """How many rows a rooms import added, and how many were there already."""

    added: int
    present: int


ROOM_COLUMNS = ("building", "unit", "room")
ROOM_HEADINGS_ZH = ("楼栋", "单元", "房间号")
"""A Chinese header line, as communities' own sheets have it, is a header too."""


@dataclass(frozen=True)
class RoomProblem:
    """What is wrong with one line (and field) of a rooms file."""

    line: int
    field: str | None
    """`building`, `unit` or `room`; None when the line as a whole is wrong."""
    code: str
    """`columns` (not 3 fields), `bad_part` (a field's value), or `empty_file`."""
    value: str = ""

    def describe(self, filename: str) -> str:
        """The problem in one line naming the file and line, for the command line."""
        if self.code == "empty_file":
            return str(gettext("%(file)s：没有找到房间", file=filename))
        if self.code == "columns":
            return str(
                gettext(
                    "%(file)s 第 %(line)s 行：应为 3 列（楼栋、单元、房间），实为 %(n)s 列",
                    file=filename,
                    line=self.line,
                    n=self.value,
                )
            )
        return str(
            gettext(
                "%(file)s 第 %(line)s 行：%(column)s %(value)s 须为 1 到 16 个字符，"
                "不含“-”、空格或逗号",
                file=filename,
                line=self.line,
                column=self.field,
                value=repr(self.value),
            )
        )


@dataclass(frozen=True)
class RoomsCheck:
    """A rooms file read through: the good rows and every problem, line by line."""

    rows: list[RoomRow]
    problems: list[RoomProblem]


def check_rooms_csv(text: str) -> RoomsCheck:
    """Read every `building,unit,room` row (after an optional header line, English or Chinese)
    and note every bad line and field (a preview)."""
    reader = csv.reader(io.StringIO(text))
    rows: list[RoomRow] = []
    problems: list[RoomProblem] = []
    header_seen = False
    for line_no, record in enumerate(reader, start=1):
        if not record or all(not cell.strip() for cell in record):
            continue
        cells = [cell.strip() for cell in record]
        if not header_seen:
            header_seen = True
            if [c.lower() for c in cells] in (list(ROOM_COLUMNS), list(ROOM_HEADINGS_ZH)):
                continue
        if len(cells) != len(ROOM_COLUMNS):
            problems.append(RoomProblem(line_no, None, "columns", str(len(cells))))
            continue
        bad = [
            RoomProblem(line_no, column, "bad_part", value)
            for column, value in zip(ROOM_COLUMNS, cells, strict=True)
            if not PART.match(value)
        ]
        problems.extend(bad)
        if not bad:
            rows.append(RoomRow(line_no, *cells))
    if not rows and not problems:
        problems.append(RoomProblem(0, None, "empty_file"))
    return RoomsCheck(rows, problems)


def parse_rooms_csv(text: str, filename: str) -> list[RoomRow]:
    """Parse `building,unit,room` rows; the first bad row raises `InvalidInput` with its line."""
    checked = check_rooms_csv(text)
    if checked.problems:
        first = checked.problems[0]
        code = "empty_file" if first.code == "empty_file" else "bad_row"
        raise InvalidInput(first.describe(filename), code)
    return checked.rows


def import_rooms(community: Community, rows: list[RoomRow]) -> ImportResult:
    """Add rooms (and their buildings) not yet present; rows already present are left alone."""
    buildings = {
        b.code: b
        for b in db.session.execute(
            sa.select(Building).where(Building.community_id == community.id)
        ).scalars()
    }
    existing = set(
        db.session.execute(sa.select(Room.code).where(Room.community_id == community.id)).scalars()
    )
    added: list[Room] = []
    present = 0
    for row in rows:
        if row.code in existing:
            present += 1
            continue
        existing.add(row.code)
        building = buildings.get(row.building)
        if building is None:
            building = Building(community_id=community.id, code=row.building)
            db.session.add(building)
            buildings[row.building] = building
        room = Room(
            community_id=community.id,
            building=building,
            unit=row.unit,
            number=row.room,
            code=row.code,
        )
        db.session.add(room)
        added.append(room)
    db.session.flush()
    record_changes([room_change(room) for room in added])
    return ImportResult(added=len(added), present=present)


def room_change(room: Room, retired: bool = False) -> ChangeRow:
    """What kiosks of the room's community learn about it (nothing once it is retired)."""
    data = None
    if not retired:
        data = RoomData(
            code=room.code, building=room.building.code, unit=room.unit, room=room.number
        )
    return ChangeRow(
        entity="room",
        key=f"{room.community_id}:{room.code}",
        community_id=room.community_id,
        data=data,
    )


def add_room(community: Community, building: str, unit: str, number: str) -> Room:
    """Add one room (and its building if new); a room already there is a `Conflict`."""
    cells = [building.strip(), unit.strip(), number.strip()]
    for column, value in zip(ROOM_COLUMNS, cells, strict=True):
        if not PART.match(value):
            raise InvalidInput(
                gettext("%(field)s须为1至16个字符，不含“-”、空格或逗号", field=_field_word(column)),
                f"bad_{column}",
            )
    row = RoomRow(0, *cells)
    if import_rooms(community, [row]).present:
        raise Conflict(gettext("房间 %(code)s 已经有了", code=row.code), "room_exists")
    return db.session.execute(
        sa.select(Room).where(Room.community_id == community.id, Room.code == row.code)
    ).scalar_one()


def _field_word(column: str) -> str:
    words: dict[str, str] = {
        "building": gettext("楼栋"),
        "unit": gettext("单元"),
        "room": gettext("房间号"),
    }
    return words[column]


def retire_room(community: Community, room_id: int) -> Room:
    """Retire a room of the community: kiosks drop it; its requests and residents keep it."""
    room = db.session.get(Room, room_id)
    if room is None or room.community_id != community.id:
        raise NotFound(gettext("没有这个房间"), "unknown_room")
    if db.session.get(RoomRetirement, room.id) is not None:
        raise Conflict(gettext("房间 %(code)s 已经停用", code=room.code), "room_retired")
    db.session.add(RoomRetirement(room_id=room.id))
    db.session.flush()
    record_changes([room_change(room, retired=True)])
    return room


@dataclass(frozen=True)
class Settings:
    """What a community's admins set: its name, duty phone, time zone and points rate."""

    name: str
    phone: str | None
    timezone: str | None
    points_per_hour: int | None


POINTS_PER_HOUR_MAX = 1000


def update_settings(community: Community, settings: Settings) -> list[str]:
    """Change a community's settings; the names of the fields that changed (kiosks learn a
    new name or phone)."""
    name = settings.name.strip()
    if not name or len(name) > 200:
        raise InvalidInput(gettext("社区名称须为1至200个字符"), "bad_name")
    phone = (settings.phone or "").strip() or None
    if phone is not None and (len(phone) > 32 or not PHONE.match(phone)):
        raise InvalidInput(gettext("值班电话只能含数字、空格、“-”和“+”，至多32个字符"), "bad_phone")
    zone = (settings.timezone or "").strip() or None
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInput(
                gettext("不认识的时区：%(zone)s", zone=zone), "bad_timezone"
            ) from exc
    rate = settings.points_per_hour
    if rate is not None and not 0 <= rate <= POINTS_PER_HOUR_MAX:
        raise InvalidInput(
            gettext("每小时积分须在0到%(most)s之间", most=POINTS_PER_HOUR_MAX), "bad_points"
        )
    stored = db.session.get(CommunitySettings, community.id)
    if stored is None:
        stored = CommunitySettings(community_id=community.id)
        db.session.add(stored)
    changed = [
        key for key, value in (("name", name), ("phone", phone)) if getattr(community, key) != value
    ]
    changed += [
        key
        for key, value in (("timezone", zone), ("points_per_hour", rate))
        if getattr(stored, key) != value
    ]
    community.name, community.phone = name, phone
    stored.timezone, stored.points_per_hour = zone, rate
    if {"timezone", "points_per_hour"} & set(changed):
        stored.updated_at = utcnow()
    db.session.flush()
    if {"name", "phone"} & set(changed):
        record_changes([community_change(community)])
    return changed


def settings_of(community: Community) -> Settings:
    """A community's settings as its admins last saved them."""
    stored = db.session.get(CommunitySettings, community.id)
    return Settings(
        community.name,
        community.phone,
        stored.timezone if stored else None,
        stored.points_per_hour if stored else None,
    )


def points_per_hour(community_id: int, default: int) -> int:
    """The community's passbook points per service hour (its admins' rate, else `default`)."""
    rate = db.session.execute(
        sa.select(CommunitySettings.points_per_hour).where(
            CommunitySettings.community_id == community_id
        )
    ).scalar_one_or_none()
    return default if rate is None else rate
