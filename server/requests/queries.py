"""What the console reads of requests: the queue (needs-action ordering, filters and keyset
pages, in few queries), one request and its parts, and a team's jobs."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.auth import access
from server.communities.models import Building, Room
from server.dispatch.models import Agency, Escalation, Team
from server.errors import InvalidInput, NotFound
from server.extensions import db
from server.inputs import INT32_MAX, as_id
from server.people.models import Resident
from server.requests.models import Category, HelpRequest
from server.requests.services import overdue_clause
from server.timeutil import utcnow
from sync.statuses import ACTIVE_WORK, FINAL, NEEDS_ACTION, UNTRIAGED


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


def job_scope() -> sa.ColumnElement[bool]:
    """Requests the user may work on as jobs: a team lead only those of teams they lead."""
    whole, led_only = access.field_split()
    led = sa.select(Team.id).where(
        Team.community_id.in_(led_only), Team.lead_user_id == access.user().id
    )
    return sa.or_(
        HelpRequest.community_id.in_(whole),
        sa.and_(HelpRequest.community_id.in_(led_only), HelpRequest.team_id.in_(led)),
    )


@dataclass(frozen=True)
class QueueChoices:
    """What the queue's filters offer in the user's communities."""

    buildings: list[str]
    teams: list[Team]
    categories: list[Category]


def queue_choices(scope: frozenset[int]) -> QueueChoices:
    """The buildings, teams and categories the queue's filters offer."""
    buildings = db.session.execute(
        sa.select(Building.code)
        .where(Building.community_id.in_(scope))
        .distinct()
        .order_by(Building.code)
    ).scalars()
    teams = db.session.execute(
        sa.select(Team).where(Team.community_id.in_(scope)).order_by(Team.name)
    ).scalars()
    categories = db.session.execute(
        sa.select(Category).order_by(Category.sort_order, Category.id)
    ).scalars()
    return QueueChoices(list(buildings), list(teams), list(categories))


def load_request(request_id: int, for_update: bool = False) -> HelpRequest:
    """A request in the user's communities, or 404; `for_update` locks its row (PostgreSQL)
    so two people acting at once are applied one after the other, each seeing the other's."""
    stmt = sa.select(HelpRequest).where(HelpRequest.id == request_id)
    if for_update:
        stmt = stmt.with_for_update(of=HelpRequest)
    req = db.session.execute(stmt).unique().scalar_one_or_none()
    if req is None:
        raise NotFound("no such request")
    access.require_community(req.community_id)
    return req


def load_job(request_id: int, for_update: bool = False) -> HelpRequest:
    """A request the user may work on from the phone pages, or 404 (`for_update`: locked)."""
    stmt = sa.select(HelpRequest).where(HelpRequest.id == request_id, job_scope())
    if for_update:
        stmt = stmt.with_for_update(of=HelpRequest)
    req = db.session.execute(stmt).unique().scalar_one_or_none()
    if req is None:
        raise NotFound("no such job")
    return req


def active_jobs() -> list[HelpRequest]:
    """Jobs dispatched to the user's teams that are not done yet, oldest first."""
    rows = db.session.execute(
        sa.select(HelpRequest)
        .where(job_scope(), HelpRequest.status.in_(ACTIVE_WORK))
        .order_by(HelpRequest.received_at)
    ).scalars()
    return list(rows)


def escalations_of(req: HelpRequest) -> list[Escalation]:
    """The request's hand-offs to agencies, oldest first."""
    return list(
        db.session.execute(
            sa.select(Escalation).where(Escalation.request_id == req.id).order_by(Escalation.id)
        ).scalars()
    )


def duplicates_of(req: HelpRequest) -> list[HelpRequest]:
    """The requests merged into this one."""
    return list(
        db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.duplicate_of_id == req.id)
        ).scalars()
    )


def active_categories() -> list[Category]:
    """The categories a request may be triaged to, in their order."""
    return list(
        db.session.execute(
            sa.select(Category).where(Category.is_active).order_by(Category.sort_order)
        ).scalars()
    )


# --- what a form names, checked against the request ----------------------------------------


def team_for(req: HelpRequest, raw: str) -> Team:
    """The team a form names, of the request's community, or `InvalidInput`."""
    team_id = as_id(raw)
    team = db.session.get(Team, team_id) if team_id is not None else None
    if team is None or team.community_id != req.community_id:
        raise InvalidInput("choose a team of this request's community", "bad_team")
    return team


def agency_for(req: HelpRequest, raw: str) -> Agency:
    """The agency a form names, of the request's community, or `InvalidInput`."""
    agency_id = as_id(raw)
    agency = db.session.get(Agency, agency_id) if agency_id is not None else None
    if agency is None or agency.community_id != req.community_id:
        raise InvalidInput("choose an agency of this request's community", "bad_agency")
    return agency


def category_for(code: str) -> Category:
    """The active category a form names, or `InvalidInput`."""
    category = db.session.execute(
        sa.select(Category).where(Category.code == code, Category.is_active)
    ).scalar_one_or_none()
    if category is None:
        raise InvalidInput(f"no category {code!r}", "bad_category")
    return category


def other_request(number: int, scope: frozenset[int]) -> HelpRequest:
    """Another request the user may see (to merge into), or `InvalidInput`."""
    other = db.session.get(HelpRequest, number)
    if other is None or other.community_id not in scope:
        raise InvalidInput(f"no request #{number}", "bad_merge")
    return other


def resident_for(req: HelpRequest, resident_id: int) -> Resident:
    """A living profile of the request's community (to link), or `InvalidInput`."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or resident.community_id != req.community_id or resident.deleted_at:
        raise InvalidInput("no such resident in this community", "bad_resident")
    return resident


def escalation_for(req: HelpRequest, escalation_id: int) -> Escalation:
    """One of the request's escalations (to retry), or `InvalidInput`."""
    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None or escalation.request_id != req.id:
        raise InvalidInput("no such escalation on this request", "bad_escalation")
    return escalation
