"""The console's queue: needs-action ordering, filters and keyset pages, in few queries."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.communities.models import Building, Room
from server.dispatch.models import Escalation
from server.errors import InvalidInput
from server.extensions import db
from server.inputs import INT32_MAX
from server.requests.models import Category, HelpRequest
from server.requests.services import overdue_clause
from server.timeutil import utcnow
from sync.statuses import FINAL, NEEDS_ACTION, UNTRIAGED


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters; empty values do not filter."""

    view: str = "action"
    community_id: int | None = None
    category: str | None = None
    status: str | None = None
    building: str | None = None
    team_id: int | None = None


@dataclass(frozen=True)
class QueueRow:
    """One request in the queue with its computed flags."""

    request: HelpRequest
    bucket: int
    is_overdue: bool
    delivery_failed: bool


def _encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode(text: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())
        key = json.loads(raw)
        if not isinstance(key, list) or len(key) != 3:
            raise ValueError(key)
        bucket, at, last_id = key
        datetime.fromisoformat(at)
        for number in (bucket, last_id):
            if isinstance(number, bool) or not isinstance(number, int):
                raise TypeError(number)
            if not 0 <= number <= INT32_MAX:
                raise ValueError(number)
        return [bucket, at, last_id]
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            "this page link is broken; start from the first page", "bad_cursor"
        ) from exc


def queue_page(
    scope: frozenset[int], filters: QueueFilter, cursor: str | None, limit: int
) -> tuple[list[QueueRow], str | None]:
    """One page of requests in the user's communities, needs-action first, and the next cursor."""
    now = utcnow()
    categories = list(db.session.execute(sa.select(Category)).scalars())
    overdue = overdue_clause(categories, now)
    failed = (
        sa.select(Escalation.id)
        .where(Escalation.request_id == HelpRequest.id, Escalation.delivery_status == "failed")
        .exists()
    )
    not_final = HelpRequest.status.not_in(FINAL)
    emergency = sa.and_(
        not_final, sa.or_(HelpRequest.priority == "emergency", HelpRequest.is_urgent)
    )
    flagged = sa.and_(not_final, sa.or_(overdue, failed, HelpRequest.is_cancel_requested))
    bucket = sa.case(
        (emergency, 0),
        (flagged, 1),
        (HelpRequest.status.in_(UNTRIAGED), 2),
        else_=3,
    )
    stmt = (
        sa.select(
            HelpRequest, bucket.label("bucket"), overdue.label("overdue"), failed.label("failed")
        )
        .where(HelpRequest.community_id.in_(scope))
        .options(so.joinedload(HelpRequest.room).joinedload(Room.building))
    )
    if filters.view == "action":
        stmt = stmt.where(sa.or_(emergency, flagged, HelpRequest.status.in_(NEEDS_ACTION)))
    if filters.community_id is not None:
        stmt = stmt.where(HelpRequest.community_id == filters.community_id)
    if filters.category:
        stmt = stmt.where(
            HelpRequest.category_id.in_(
                sa.select(Category.id).where(Category.code == filters.category)
            )
        )
    if filters.status:
        stmt = stmt.where(HelpRequest.status == filters.status)
    if filters.building:
        stmt = stmt.where(
            HelpRequest.room_id.in_(
                sa.select(Room.id).join(Building).where(Building.code == filters.building)
            )
        )
    if filters.team_id is not None:
        stmt = stmt.where(HelpRequest.team_id == filters.team_id)
    if filters.view == "action":
        key_cols = (bucket, HelpRequest.received_at, HelpRequest.id)
        stmt = stmt.order_by(*key_cols)
        if cursor:
            b, at, rid = _decode(cursor)
            stmt = stmt.where(sa.tuple_(*key_cols) > sa.tuple_(b, datetime.fromisoformat(at), rid))
    else:
        stmt = stmt.order_by(HelpRequest.received_at.desc(), HelpRequest.id.desc())
        if cursor:
            _, at, rid = _decode(cursor)
            stmt = stmt.where(
                sa.tuple_(HelpRequest.received_at, HelpRequest.id)
                < sa.tuple_(datetime.fromisoformat(at), rid)
            )
    rows = db.session.execute(stmt.limit(limit + 1)).unique().all()
    items = [
        QueueRow(request=r[0], bucket=r[1], is_overdue=bool(r[2]), delivery_failed=bool(r[3]))
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode([last.bucket, last.request.received_at.isoformat(), last.request.id])
    return items, next_cursor
