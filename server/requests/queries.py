"""What the console reads of requests: the queue (needs-action ordering, filters and keyset
pages, in few queries), one request and its parts, and a team's jobs."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext

from server.auth import access
from server.auth.models import User
from server.communities.models import Building, Community, Room, RoomRetirement
from server.dispatch.models import Agency, Escalation, Team
from server.errors import InvalidInput, NotFound
from server.extensions import db
from server.inputs import INT32_MAX, as_id
from server.people.models import Resident
from server.requests.models import Category, HelpRequest, RequestEvent
from server.requests.services import due_at, overdue_clause
from server.timeutil import utcnow
from sync.statuses import ACTIVE_WORK, FINAL, NEEDS_ACTION, OPEN, UNTRIAGED

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
    may_be_duplicate: bool = False
    """Open, with another open request that may be the same need (`possible_duplicates`)."""
    reply_overdue: bool = False
    """Still 已转交 after its agency's reply days (`replies_overdue`)."""

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
        raise InvalidInput(gettext("这个翻页链接已损坏；请从第一页开始"), "bad_cursor") from exc


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
    flagged = with_possible_duplicates([r.id for r in loaded.values() if r.status in OPEN])
    late = replies_overdue([r.id for r in loaded.values() if r.status == "escalated"])
    return [
        QueueRow(
            request=loaded[k.id],
            bucket=int(k.bucket),
            is_overdue=bool(k.overdue),
            delivery_failed=bool(k.failed),
            may_be_duplicate=k.id in flagged,
            reply_overdue=k.id in late,
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


def job_scope(within: frozenset[int] | None = None) -> sa.ColumnElement[bool]:
    """Requests the user may work on as jobs: a team lead only those of teams they lead (only
    in the communities `within`, when given)."""
    whole, led_only = access.field_split(within)
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
        raise NotFound(gettext("没有这条求助"))
    access.require_community(req.community_id)
    return req


def load_job(request_id: int, for_update: bool = False) -> HelpRequest:
    """A request the user may work on from the phone pages, or 404 (`for_update`: locked)."""
    stmt = sa.select(HelpRequest).where(HelpRequest.id == request_id, job_scope())
    if for_update:
        stmt = stmt.with_for_update(of=HelpRequest)
    req = db.session.execute(stmt).unique().scalar_one_or_none()
    if req is None:
        raise NotFound(gettext("没有这个任务"))
    return req


JOBS_PAGE = 50
"""Jobs listed per page (an administrator of a city's communities sees thousands)."""


def active_jobs(cursor: str | None = None) -> tuple[list[HelpRequest], str | None]:
    """One page of the jobs dispatched to the user's teams that are not done yet, oldest
    first, after `cursor`; and the cursor of the next page (a keyset on received_at, id)."""
    # The states written into the statement (not bound): a prepared statement's generic plan
    # cannot prove a bound list matches ix_help_request_active's predicate.
    active: sa.BindParameter[list[str]] = sa.bindparam(
        "active", sorted(ACTIVE_WORK), expanding=True, literal_execute=True
    )
    stmt = sa.select(HelpRequest).where(job_scope(), HelpRequest.status.in_(active))
    if cursor:
        _, at, rid = _decode(cursor)
        stmt = stmt.where(
            sa.tuple_(HelpRequest.received_at, HelpRequest.id)
            > sa.tuple_(datetime.fromisoformat(at), rid)
        )
    found = list(
        db.session.execute(
            stmt.order_by(HelpRequest.received_at, HelpRequest.id).limit(JOBS_PAGE + 1)
        ).scalars()
    )
    page = found[:JOBS_PAGE]
    more = len(found) > JOBS_PAGE
    return page, _encode([0, page[-1].received_at.isoformat(), page[-1].id]) if more else None


def escalations_of(req: HelpRequest) -> list[Escalation]:
    """The request's hand-offs to agencies, oldest first."""
    return list(
        db.session.execute(
            sa.select(Escalation).where(Escalation.request_id == req.id).order_by(Escalation.id)
        ).scalars()
    )


def replies_overdue(request_ids: list[int], now: datetime | None = None) -> set[int]:
    """Of these requests, those still 已转交 whose latest escalation's reply is past due (its
    agency's reply days): nobody has answered yet, neither by reply link nor by phone."""
    if not request_ids:
        return set()
    latest = (
        sa.select(sa.func.max(Escalation.id))
        .where(Escalation.request_id.in_(request_ids))
        .group_by(Escalation.request_id)
    )
    rows = db.session.execute(
        sa.select(Escalation.request_id, Escalation.created_at, Agency.reply_days)
        .join(Agency, Agency.id == Escalation.agency_id)
        .join(HelpRequest, HelpRequest.id == Escalation.request_id)
        .where(Escalation.id.in_(latest), HelpRequest.status == "escalated")
    )
    now = now or utcnow()
    return {r.request_id for r in rows if r.created_at + timedelta(days=r.reply_days) < now}


def duplicates_of(req: HelpRequest) -> list[HelpRequest]:
    """The requests merged into this one."""
    return list(
        db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.duplicate_of_id == req.id)
        ).scalars()
    )


DUPLICATE_WINDOW = timedelta(hours=24)
"""Two requests for one building and category, both received this recently, may be one need."""
DUPLICATES_SHOWN = 10


@dataclass(frozen=True)
class PossibleDuplicate:
    """An open request that may be the same need, and why: `same_room` or `same_building`."""

    request: HelpRequest
    why: Literal["same_room", "same_building"]


def possible_duplicates(
    room: Room,
    category_id: int,
    exclude: HelpRequest | None = None,
    limit: int = DUPLICATES_SHOWN,
) -> list[PossibleDuplicate]:
    """Open requests (sync.statuses.OPEN) for the room and category, and for its building and
    category received within the last day, newest first, at most `limit`; `exclude` is the
    request asked about (a building's requests only while it is itself within the last day).

    Two bounded reads, each through an index: the room's requests (ix_help_request_room_id:
    a room has few), and the community's open requests of the last day
    (ix_help_request_open_community: partial on open requests, with room and category).
    """
    since = utcnow() - DUPLICATE_WINDOW
    newest = (HelpRequest.received_at.desc(), HelpRequest.id.desc())
    mine = [HelpRequest.id != exclude.id] if exclude is not None else []
    same_room = (
        sa.select(HelpRequest)
        .where(
            HelpRequest.room_id == room.id,
            HelpRequest.category_id == category_id,
            OPEN_CLAUSE,
            *mine,
        )
        .order_by(*newest)
        .limit(limit)
    )
    found = [PossibleDuplicate(r, "same_room") for r in db.session.execute(same_room).scalars()]
    if exclude is None or exclude.received_at >= since:
        building = (
            sa.select(HelpRequest)
            .where(
                HelpRequest.community_id == room.community_id,
                HelpRequest.received_at >= since,
                OPEN_CLAUSE,
                HelpRequest.category_id == category_id,
                HelpRequest.room_id != room.id,
                HelpRequest.room_id.in_(
                    sa.select(Room.id).where(Room.building_id == room.building_id)
                ),
                *mine,
            )
            .order_by(*newest)
            .limit(limit)
        )
        found += [
            PossibleDuplicate(r, "same_building") for r in db.session.execute(building).scalars()
        ]
    found.sort(key=lambda d: (d.request.received_at, d.request.id), reverse=True)
    return found[:limit]


def possible_duplicates_of(req: HelpRequest) -> list[PossibleDuplicate]:
    """Open requests that may be the same need as `req` (none once `req` is final)."""
    if req.status not in OPEN:
        return []
    return possible_duplicates(req.room, req.category_id, exclude=req)


def rooms_coded(code: str, scope: frozenset[int], community_id: int | None = None) -> list[Room]:
    """The rooms with this code (`3-2-301`) in the user's communities (or in one of them)."""
    stmt = sa.select(Room).where(Room.code == code.strip(), Room.community_id.in_(scope))
    if community_id is not None:
        stmt = stmt.where(Room.community_id == community_id)
    return list(db.session.execute(stmt.order_by(Room.community_id)).scalars())


def with_possible_duplicates(ids: Sequence[int]) -> set[int]:
    """Which of the open requests `ids` have a possible duplicate (`possible_duplicates`):
    one statement, at most two EXISTS per row, each an index probe (the queue's flag)."""
    if not ids:
        return set()
    since = utcnow() - DUPLICATE_WINDOW
    other = so.aliased(HelpRequest)
    near = so.aliased(Room)
    mine = so.aliased(Room)
    alike = (
        other.category_id == HelpRequest.category_id,
        other.id != HelpRequest.id,
        other.status.not_in(sorted(FINAL)),
    )
    same_room = sa.select(other.id).where(other.room_id == HelpRequest.room_id, *alike).exists()
    same_building = (
        sa.select(other.id)
        .join(near, near.id == other.room_id)
        .join(mine, mine.building_id == near.building_id)
        .where(
            mine.id == HelpRequest.room_id,
            other.community_id == HelpRequest.community_id,
            other.received_at >= since,
            *alike,
        )
        .exists()
    )
    recent = sa.and_(HelpRequest.received_at >= since, same_building)
    return set(
        db.session.execute(
            sa.select(HelpRequest.id).where(HelpRequest.id.in_(ids), sa.or_(same_room, recent))
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
        raise InvalidInput(gettext("请选择这条求助所在社区的服务队"), "bad_team")
    return team


def agency_for(req: HelpRequest, raw: str) -> Agency:
    """The agency a form names, of the request's community, or `InvalidInput`."""
    agency_id = as_id(raw)
    agency = db.session.get(Agency, agency_id) if agency_id is not None else None
    if agency is None or agency.community_id != req.community_id:
        raise InvalidInput(gettext("请选择这条求助所在社区的职能部门"), "bad_agency")
    return agency


def category_for(code: str) -> Category:
    """The active category a form names, or `InvalidInput`."""
    category = db.session.execute(
        sa.select(Category).where(Category.code == code, Category.is_active)
    ).scalar_one_or_none()
    if category is None:
        raise InvalidInput(gettext("没有类别 %(code)s", code=repr(code)), "bad_category")
    return category


def other_request(number: int, scope: frozenset[int]) -> HelpRequest:
    """Another request the user may see (to merge into), or `InvalidInput`."""
    other = db.session.get(HelpRequest, number)
    if other is None or other.community_id not in scope:
        raise InvalidInput(gettext("没有求助 #%(id)s", id=number), "bad_merge")
    return other


def merge_target(req: HelpRequest, named: int | str, scope: frozenset[int]) -> HelpRequest:
    """The request a merge form names, by number or by ticket, or `InvalidInput`.

    A ticket is unique per kiosk prefix, not per city: it is looked up in the user's
    communities, the request's own community first; another request holding it there as well
    (two kiosks with one prefix) is named in the error instead of guessed.
    """
    if isinstance(named, int):
        return other_request(named, scope)
    ticket = named.strip().upper()
    found = [
        r
        for r in db.session.execute(
            sa.select(HelpRequest)
            .where(HelpRequest.ticket == ticket, HelpRequest.community_id.in_(scope))
            .order_by(HelpRequest.id)
        ).scalars()
        if r.id != req.id
    ]
    here = [r for r in found if r.community_id == req.community_id]
    if len(here) == 1 or (not here and len(found) == 1):
        return (here or found)[0]
    if not found:
        raise InvalidInput(gettext("没有小票号为 %(ticket)s 的求助", ticket=ticket), "bad_merge")
    numbers = ", ".join(f"#{r.id}" for r in (here or found))
    raise InvalidInput(
        gettext(
            "小票号 %(ticket)s 对应多条求助（%(numbers)s）；请填写求助编号",
            ticket=ticket,
            numbers=numbers,
        ),
        "ambiguous_ticket",
    )


def resident_for(req: HelpRequest, resident_id: int) -> Resident:
    """A living profile of the request's community (to link), or `InvalidInput`."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or resident.community_id != req.community_id or resident.deleted_at:
        raise InvalidInput(gettext("本社区没有这位居民"), "bad_resident")
    return resident


def escalation_for(req: HelpRequest, escalation_id: int) -> Escalation:
    """One of the request's escalations (to retry), or `InvalidInput`."""
    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None or escalation.request_id != req.id:
        raise InvalidInput(gettext("这条求助没有这次转办"), "bad_escalation")
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
        raise InvalidInput(gettext("实时游标已损坏；请重新载入页面"), "bad_cursor") from exc
    if at.tzinfo is None:
        raise InvalidInput(gettext("实时游标已损坏；请重新载入页面"), "bad_cursor")
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


# --- printable work orders ------------------------------------------------------------------


@dataclass(frozen=True)
class WorkOrder:
    """What a team's 派工单 prints: the request, where, who is sent, when, and whom to call."""

    request: HelpRequest
    community: Community
    reference: str
    """`<community slug>-<request id>`: read and typed back by hand (no QR code needed)."""
    lead: str | None
    """The display name of the dispatched team's lead."""
    dispatched_at: datetime | None
    """The latest dispatch (a re-dispatch after a decline counts from then)."""
    due_at: datetime | None
    resident: Resident | None
    """The linked profile (name, emergency contact), None when unlinked or erased."""


def reference_of(req: HelpRequest, community: Community) -> str:
    """A request's reference on paper: the community's slug and the request's number."""
    return f"{community.slug}-{req.id}"


def work_order(req: HelpRequest) -> WorkOrder:
    """The facts of a request's 派工单 (the caller checked the user may see it)."""
    community = db.session.get_one(Community, req.community_id)
    lead = None
    if req.team is not None and req.team.lead_user_id is not None:
        lead = db.session.get_one(User, req.team.lead_user_id).label
    dispatched_at = db.session.scalar(
        sa.select(sa.func.max(RequestEvent.at)).where(
            RequestEvent.request_id == req.id, RequestEvent.to_status == "dispatched"
        )
    )
    resident = db.session.get(Resident, req.resident_id) if req.resident_id else None
    if resident is not None and resident.deleted_at is not None:
        resident = None
    return WorkOrder(
        request=req,
        community=community,
        reference=reference_of(req, community),
        lead=lead,
        dispatched_at=dispatched_at,
        due_at=due_at(req),
        resident=resident,
    )


@dataclass(frozen=True)
class TransferOrder:
    """What an agency's 转办单 prints: the escalation's payload (no name, no phone), the
    address, the reference the agency quotes back, and when its reply is due."""

    request: HelpRequest
    escalation: Escalation
    community: Community
    reference: str
    category: Category | None
    """The category the payload names (None if it no longer exists)."""
    reply_due: datetime
    reply_days: int


def transfer_order(req: HelpRequest, escalation_id: int) -> TransferOrder:
    """The facts of one escalation's 转办单, or 404 if it is not one of the request's."""
    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None or escalation.request_id != req.id:
        raise NotFound(gettext("没有这次转办"))
    community = db.session.get_one(Community, req.community_id)
    category = db.session.execute(
        sa.select(Category).where(Category.code == escalation.payload.get("category"))
    ).scalar_one_or_none()
    return TransferOrder(
        request=req,
        escalation=escalation,
        community=community,
        reference=reference_of(req, community),
        category=category,
        reply_due=escalation.reply_due,
        reply_days=escalation.agency.reply_days,
    )


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
        .where(
            Room.community_id == community_id,
            Room.code.like(f"{pattern}%", escape="\\"),
            ~sa.exists().where(RoomRetirement.room_id == Room.id),  # retired: not offered
        )
        .order_by(Room.code)
        .limit(limit)
    ).scalars()
    choices += [RoomChoice(code, code) for code in rooms if code not in named]
    return choices[:limit]
