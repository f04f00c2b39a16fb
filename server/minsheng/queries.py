"""What the 民生实事 pages read: a community's items, one item, and suggestions from patterns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext

from server.auth import access
from server.communities.models import Building, Room
from server.errors import NotFound
from server.extensions import db
from server.localtime import local_midnight
from server.minsheng.models import MeetingDecision, MinshengItem, MinshengLink
from server.requests.models import Category, HelpRequest

PATTERN_MIN = 10
"""Requests of one category from one building in one season that suggest a 民生实事."""


@dataclass(frozen=True)
class Season:
    """A season: spring March to May, summer June to August, autumn September to November,
    winter December to February."""

    name: str
    start: date
    end: date
    """The day after its last day."""

    @classmethod
    def of(cls, day: date) -> Season:
        """The season `day` falls in."""
        if day.month in (12, 1, 2):
            year = day.year if day.month == 12 else day.year - 1
            return cls("winter", date(year, 12, 1), date(year + 1, 3, 1))
        for name, first in (("spring", 3), ("summer", 6), ("autumn", 9)):
            if first <= day.month < first + 3:
                return cls(name, date(day.year, first, 1), date(day.year, first + 3, 1))
        raise AssertionError(day)

    @property
    def key(self) -> str:
        """e.g. winter-2026."""
        return f"{self.name}-{self.start.year}"


@dataclass(frozen=True)
class Suggestion:
    """A pattern in requests a social worker may adopt as a 民生实事."""

    building: str
    category: Category
    season: Season
    request_ids: list[int]

    @property
    def key(self) -> str:
        """What an item adopted from it remembers, so it is not suggested again."""
        return f"b:{self.building}|c:{self.category.code}|{self.season.key}"


def items_of(community_id: int) -> list[MinshengItem]:
    """The community's items, newest first."""
    access.require_community(community_id)
    return list(
        db.session.execute(
            sa.select(MinshengItem)
            .where(MinshengItem.community_id == community_id)
            .order_by(MinshengItem.id.desc())
        ).scalars()
    )


def load_item(item_id: int) -> MinshengItem:
    """An item of the user's communities, or 404."""
    item = db.session.get(MinshengItem, item_id)
    if item is None:
        raise NotFound(gettext("没有这项民生实事"))
    access.require_community(item.community_id)
    return item


def linked_requests(item: MinshengItem) -> list[HelpRequest]:
    """The requests linked to the item, oldest first."""
    return list(
        db.session.execute(
            sa.select(HelpRequest)
            .join(MinshengLink, MinshengLink.request_id == HelpRequest.id)
            .where(MinshengLink.item_id == item.id)
            .order_by(HelpRequest.received_at)
        )
        .unique()
        .scalars()
    )


def suggestions(community_id: int, today: date, minimum: int = PATTERN_MIN) -> list[Suggestion]:
    """Buildings with at least `minimum` requests of one category this season that no item
    has been adopted from yet, most requests first."""
    season = Season.of(today)
    lo, hi = local_midnight(season.start), local_midnight(season.end)
    rows = db.session.execute(
        sa.select(Building.code, HelpRequest.category_id, HelpRequest.id)
        .join(Room, Room.id == HelpRequest.room_id)
        .join(Building, Building.id == Room.building_id)
        .where(
            HelpRequest.community_id == community_id,
            HelpRequest.received_at >= lo,
            HelpRequest.received_at < hi,
        )
        .order_by(HelpRequest.id)
    ).all()
    groups: dict[tuple[str, int], list[int]] = {}
    for building, category_id, request_id in rows:
        groups.setdefault((building, category_id), []).append(request_id)
    taken = set(
        db.session.execute(
            sa.select(MinshengItem.pattern_key).where(
                MinshengItem.community_id == community_id, MinshengItem.pattern_key.is_not(None)
            )
        ).scalars()
    )
    categories = {c.id: c for c in db.session.execute(sa.select(Category)).scalars()}
    found = [
        Suggestion(building, categories[category_id], season, ids)
        for (building, category_id), ids in groups.items()
        if len(ids) >= minimum
    ]
    found = [s for s in found if s.key not in taken]
    return sorted(found, key=lambda s: (-len(s.request_ids), s.building, s.category.code))


def open_items(community_id: int) -> list[MinshengItem]:
    """The community's items not done or dropped, for the meeting's decisions."""
    return list(
        db.session.execute(
            sa.select(MinshengItem)
            .where(
                MinshengItem.community_id == community_id,
                MinshengItem.state.not_in(("done", "dropped")),
            )
            .order_by(MinshengItem.id)
        ).scalars()
    )


def decisions_of_week(community_id: int, week_start: date) -> list[MeetingDecision]:
    """The joint meeting's decisions of one week, in the order they were taken."""
    return list(
        db.session.execute(
            sa.select(MeetingDecision)
            .where(
                MeetingDecision.community_id == community_id,
                MeetingDecision.week_start == week_start,
            )
            .order_by(MeetingDecision.id)
        ).scalars()
    )


def load_decision(decision_id: int) -> MeetingDecision:
    """A decision of the user's communities, or 404."""
    decision = db.session.get(MeetingDecision, decision_id)
    if decision is None:
        raise NotFound(gettext("没有这项决定"))
    access.require_community(decision.community_id)
    return decision
