"""What the console reads of requests: the queue (needs-action ordering, filters and keyset
pages, in few queries), one request and its parts, and a team's jobs."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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

    def sort_key(self, view: str) -> str:
        """Where the row sorts in `view`, as three numbers a page compares in ascending order."""
        micros = (self.request.received_at - EPOCH) // timedelta(microseconds=1)
        if view == "action":
            return f"{self.bucket} {micros} {self.request.id}"
        return f"0 {-micros} {-self.request.id}"


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


OPEN_CLAUSE = HelpRequest.status.not_in(sorted(FINAL))
"""Not final, in the words of the partial index ix_help_request_open (migration 0010_city)."""


@dataclass(frozen=True)
class _Keys:
    """The queue's narrow key statement and its bucket expressions."""

    stmt: sa.Select[int, datetime, bool, bool]
    """id, received_at, overdue and failed of the scope's requests matching the filters."""
    bucket: sa.ColumnElement[int]
    """The bucket of a row (0 emergency, 1 flagged, 2 new, 3 other), as one expression."""
    buckets: tuple[sa.ColumnElement[bool], ...]
    """For the needs-action view: the rows of bucket 0, 1, 2 and 3 among open requests."""


def _keys(scope: frozenset[int], filters: QueueFilter, now: datetime) -> _Keys:
    """The queue's keys and flags for the scope and filters: no join, no ORDER BY.

    Every needs-action row is open; asking for open requests in the words of the partial
    index on them (ix_help_request_open) lets the planner read them, never the history.
    """
    categories = list(db.session.execute(sa.select(Category)).scalars())
    overdue = overdue_clause(categories, now)
    failed = HelpRequest.id.in_(
        sa.select(Escalation.request_id).where(Escalation.delivery_status == "failed")
    )
    not_final = HelpRequest.status.not_in(FINAL)
    urgent = sa.or_(HelpRequest.priority == "emergency", HelpRequest.is_urgent)
    flags = sa.or_(overdue, failed, HelpRequest.is_cancel_requested)
    new = HelpRequest.status.in_(UNTRIAGED)
    bucket = sa.case(
        (sa.and_(not_final, urgent), 0),
        (sa.and_(not_final, flags), 1),
        (new, 2),
        else_=3,
    )
    calm = sa.and_(sa.not_(urgent), sa.not_(flags))
    waiting = sorted(NEEDS_ACTION - UNTRIAGED)
    buckets = (
        urgent,
        sa.and_(sa.not_(urgent), flags),
        sa.and_(calm, new),
        sa.and_(calm, HelpRequest.status.in_(waiting)),
    )
    stmt = sa.select(
        HelpRequest.id,
        HelpRequest.received_at,
        overdue.label("overdue"),
        failed.label("failed"),
    ).where(HelpRequest.community_id.in_(scope))
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
    return _Keys(stmt, bucket, buckets)


def _rows(keys: Sequence[sa.Row[Any]]) -> list[QueueRow]:
    """The requests of `keys` (with room, building, category and team), in the keys' order."""
    ids = [k.id for k in keys]
    loaded = {
        r.id: r
        for r in db.session.execute(
            sa.select(HelpRequest)
            .where(HelpRequest.id.in_(ids))
            .options(so.joinedload(HelpRequest.room).joinedload(Room.building))
        )
        .unique()
        .scalars()
    }
    return [
        QueueRow(
            request=loaded[k.id],
            bucket=int(k.bucket),
            is_overdue=bool(k.overdue),
            delivery_failed=bool(k.failed),
        )
        for k in keys
        if k.id in loaded
    ]


def _needs_action(keys: _Keys, cursor: str | None, limit: int) -> list[sa.Row[Any]]:
    """Up to `limit` needs-action keys after `cursor`, in (bucket, received_at, id) order.

    One query per bucket, from the cursor's bucket on, each a keyset on (received_at, id) over
    the open requests of that bucket, so a page reads about as many index entries as it shows
    however deep it is (no bucket is computed for rows that are not returned).
    """
    first, after = 0, None
    if cursor:
        first, at, rid = _decode(cursor)
        after = sa.tuple_(HelpRequest.received_at, HelpRequest.id) > sa.tuple_(
            datetime.fromisoformat(at), rid
        )
    found: list[sa.Row[Any]] = []
    for b in range(first, len(keys.buckets)):
        stmt = keys.stmt.add_columns(sa.literal(b, sa.Integer).label("bucket")).where(
            OPEN_CLAUSE, keys.buckets[b]
        )
        if after is not None and b == first:
            stmt = stmt.where(after)
        stmt = stmt.order_by(HelpRequest.received_at, HelpRequest.id).limit(limit - len(found))
        found += db.session.execute(stmt).all()
        if len(found) >= limit:
            break
    return found


def queue_page(
    scope: frozenset[int], filters: QueueFilter, cursor: str | None, limit: int
) -> tuple[list[QueueRow], str | None]:
    """One page of requests in the user's communities, needs-action first, and the next cursor."""
    keys = _keys(scope, filters, utcnow())
    if filters.view == "action":
        found = _needs_action(keys, cursor, limit + 1)
    else:
        stmt = keys.stmt.add_columns(keys.bucket.label("bucket")).order_by(
            HelpRequest.received_at.desc(), HelpRequest.id.desc()
        )
        if cursor:
            _, at, rid = _decode(cursor)
            stmt = stmt.where(
                sa.tuple_(HelpRequest.received_at, HelpRequest.id)
                < sa.tuple_(datetime.fromisoformat(at), rid)
            )
        found = list(db.session.execute(stmt.limit(limit + 1)).all())
    items = _rows(found[:limit])
    next_cursor = None
    if len(found) > limit:
        last = found[limit - 1]
        next_cursor = _encode([int(last.bucket), last.received_at.isoformat(), last.id])
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


LIVE_OVERLAP = timedelta(seconds=5)
"""A live cursor reads back this far: a change whose transaction committed late is sent again."""
LIVE_MOST = 200
"""More changed requests than this since a cursor: the page reloads its rows instead."""


def live_cursor(now: datetime) -> str:
    """The cursor a live page sends back to learn what changed after `now`."""
    return now.isoformat()


def _since(cursor: str) -> datetime:
    try:
        at = datetime.fromisoformat(cursor)
    except ValueError as exc:
        raise InvalidInput("this live cursor is broken; reload the page", "bad_cursor") from exc
    if at.tzinfo is None:
        raise InvalidInput("this live cursor is broken; reload the page", "bad_cursor")
    return at


@dataclass(frozen=True)
class QueueChanges:
    """Requests changed since a live cursor: those the view shows (keys in the view's order)
    and the ids of those it no longer shows; `too_many` when the page should reload instead."""

    rows: list[QueueRow]
    gone: list[int]
    too_many: bool = False


def queue_changes(scope: frozenset[int], filters: QueueFilter, cursor: str) -> QueueChanges:
    """What changed in the queue since `cursor` (a change cursor, not a page): read from the
    requests updated since then, however long the queue."""
    since = _since(cursor) - LIVE_OVERLAP
    changed = list(
        db.session.execute(
            sa.select(HelpRequest.id)
            .where(HelpRequest.community_id.in_(scope), HelpRequest.updated_at >= since)
            .limit(LIVE_MOST + 1)
        ).scalars()
    )
    if len(changed) > LIVE_MOST:
        return QueueChanges([], [], too_many=True)
    if not changed:
        return QueueChanges([], [])
    parts = _keys(scope, filters, utcnow())
    stmt = parts.stmt.add_columns(parts.bucket.label("bucket")).where(HelpRequest.id.in_(changed))
    if filters.view == "action":
        stmt = stmt.where(OPEN_CLAUSE, sa.or_(*parts.buckets)).order_by(
            parts.bucket, HelpRequest.received_at, HelpRequest.id
        )
    else:
        stmt = stmt.order_by(HelpRequest.received_at.desc(), HelpRequest.id.desc())
    keys = db.session.execute(stmt).all()
    shown = {k.id for k in keys}
    return QueueChanges(_rows(keys), sorted(set(changed) - shown))


@dataclass(frozen=True)
class RoomChoice:
    """A type-ahead choice of the intake page: a room code and what names it."""

    value: str
    label: str


def _masked(phone: str | None) -> str:
    return f"…{phone[-4:]}" if phone else ""


def room_choices(community_id: int, text: str, limit: int = 20) -> list[RoomChoice]:
    """Rooms whose code starts with `text` and known residents whose name or phone holds it."""
    # A resident's choice is labelled with the name and the phone's last four digits only.
    text = text.strip()[:50]
    if not text:
        return []
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    residents = db.session.execute(
        sa.select(Room.code, Resident.name, Resident.phone)
        .join(Room, Resident.room_id == Room.id)
        .where(
            Resident.community_id == community_id,
            Resident.deleted_at.is_(None),
            sa.or_(
                Resident.name.like(f"%{pattern}%", escape="\\"),
                Resident.phone.like(f"%{pattern}%", escape="\\"),
                Room.code.like(f"{pattern}%", escape="\\"),
            ),
        )
        .order_by(Room.code, Resident.name)
        .limit(limit)
    ).all()
    choices = [
        RoomChoice(code, f"{code} {name} {_masked(phone)}".strip())
        for code, name, phone in residents
    ]
    named = {c.value for c in choices}
    rooms = db.session.execute(
        sa.select(Room.code)
        .where(Room.community_id == community_id, Room.code.like(f"{pattern}%", escape="\\"))
        .order_by(Room.code)
        .limit(limit)
    ).scalars()
    choices += [RoomChoice(code, code) for code in rooms if code not in named]
    return choices[:limit]
