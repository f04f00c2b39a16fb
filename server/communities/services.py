"""Communities and their rooms; every change is published to the kiosks' change log."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext

from server.communities.models import Building, Community, Room
from server.errors import Conflict, InvalidInput, NotFound
from server.extensions import db
from server.hooks import Hook
from server.synclog.changes import ChangeRow, record_changes
from sync.messages import ChoiceData, CommunityData, RoomData

SLUG = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
PART = re.compile(r"^[^-\s,]{1,16}$")

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


def parse_rooms_csv(text: str, filename: str) -> list[RoomRow]:
    """Parse `building,unit,room` rows; the first bad row raises `InvalidInput` with its line."""
    reader = csv.reader(io.StringIO(text))
    rows: list[RoomRow] = []
    header_seen = False
    for line_no, record in enumerate(reader, start=1):
        if not record or all(not cell.strip() for cell in record):
            continue
        cells = [cell.strip() for cell in record]
        if not header_seen:
            header_seen = True
            if [c.lower() for c in cells] == ["building", "unit", "room"]:
                continue
        if len(cells) != 3:
            raise InvalidInput(
                gettext(
                    "%(file)s 第 %(line)s 行：应为 3 列（楼栋、单元、房间），实为 %(n)s 列",
                    file=filename,
                    line=line_no,
                    n=len(cells),
                ),
                "bad_row",
            )
        for column, value in zip(("building", "unit", "room"), cells, strict=True):
            if not PART.match(value):
                raise InvalidInput(
                    gettext(
                        "%(file)s 第 %(line)s 行：%(column)s %(value)s 须为 1 到 16 个字符，"
                        "不含“-”、空格或逗号",
                        file=filename,
                        line=line_no,
                        column=column,
                        value=repr(value),
                    ),
                    "bad_row",
                )
        rows.append(RoomRow(line_no, *cells))
    if not rows:
        raise InvalidInput(gettext("%(file)s：没有找到房间", file=filename), "empty_file")
    return rows


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
    record_changes(
        [
            ChangeRow(
                entity="room",
                key=f"{community.id}:{room.code}",
                community_id=community.id,
                data=RoomData(
                    code=room.code, building=room.building.code, unit=room.unit, room=room.number
                ),
            )
            for room in added
        ]
    )
    return ImportResult(added=len(added), present=present)
