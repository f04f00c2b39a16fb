"""The figures of the reports. Each function's docstring is the formula printed on the page.

A period is a range of local dates (in LINLI_TIMEZONE, see `server.localtime`)
from `start` to `end`, both included. Read-only: nothing here writes.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from server.communities.models import Building, Community, Room
from server.dispatch.models import Escalation, Team
from server.extensions import db
from server.localtime import local_midnight
from server.localtime import local_today as local_today  # the periods' today, for the routes
from server.people.models import Resident
from server.requests.models import CHANNELS, Category, HelpRequest, RequestEvent
from server.requests.services import overdue_clause
from server.timeutil import utcnow
from server.volunteers.models import ServiceRecord, Volunteer
from sync import statuses
from sync.statuses import OPEN, RequestStatus, in_order

MIN_COUNT = 5
"""Below this many values a median or percentile is not shown per group, and never ranked."""
ELDER_AGE = 60
"""Age from which a resident counts as an elder (老年人权益保障法: 60 and over)."""
COMPLEX_DAYS = 7
STATE_GROUPS: dict[str, tuple[RequestStatus, ...]] = {
    "new": in_order(statuses.NEW),
    "in progress": in_order(statuses.ACTIVE_WORK),
    "escalated": in_order(statuses.ESCALATED),
    "awaiting close": in_order(statuses.AWAITING_CLOSE),
    "closed fixed": ("closed_fixed",),
    "closed not fixed": ("closed_not_fixed",),
    "cancelled": ("cancelled",),
    "duplicate": ("duplicate",),
}
"""The stages of `sync.statuses`, closed and not served split by status."""
NOT_SERVED = in_order(statuses.NOT_SERVED)


@dataclass(frozen=True)
class Period:
    """Local dates `start`..`end` (inclusive), as a UTC half-open range [lo, hi)."""

    start: date
    end: date

    @property
    def lo(self) -> datetime:
        """The first instant of the period, in UTC."""
        return local_midnight(self.start)

    @property
    def hi(self) -> datetime:
        """The first instant after the period, in UTC."""
        return local_midnight(self.end + timedelta(days=1))


# --- statistics ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """The middle value of the sorted values (the mean of the two middle ones for an even n)."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def p90(values: Sequence[float]) -> float | None:
    """90th percentile, nearest rank: the value at rank ceil(0.9 * n) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


@dataclass(frozen=True)
class Measure:
    """A measure's median and 90th percentile (minutes) and the count behind them."""

    name: str
    formula: str
    n: int
    median: float | None
    p90: float | None

    @property
    def enough(self) -> bool:
        """Whether there are enough values to compare this figure with others."""
        return self.n >= MIN_COUNT


MEASURES: dict[str, str] = {
    "acknowledge": "first change of status by staff − received",
    "queue": "first dispatched − received",
    "response": "arrival on site − received",
    "resolve": "first completed − received",
    "close": "first closed (fixed or not) − received",
}


def _measure(name: str, values: list[float]) -> Measure:
    return Measure(name, MEASURES[name], len(values), median(values), p90(values))


# --- requests ---------------------------------------------------------------------------------


def _in_period(community_id: int, period: Period) -> sa.ColumnElement[bool]:
    return sa.and_(
        HelpRequest.community_id == community_id,
        HelpRequest.received_at >= period.lo,
        HelpRequest.received_at < period.hi,
    )


def requests_by_channel(community_id: int, period: Period) -> list[tuple[str, int]]:
    """Requests received in the period, counted by channel (each of CHANNELS, zero included)."""
    counts: dict[str, int] = {
        channel: n
        for channel, n in db.session.execute(
            sa.select(HelpRequest.channel, sa.func.count())
            .where(_in_period(community_id, period))
            .group_by(HelpRequest.channel)
        )
    }
    known = [(channel, counts.pop(channel, 0)) for channel in CHANNELS]
    return known + sorted(counts.items())


@dataclass
class CategoryStates:
    """Requests received in the period, per category and state group."""

    groups: list[str]
    rows: list[tuple[Category, dict[str, int], int]]
    totals: dict[str, int]
    total: int


def requests_by_category_and_state(community_id: int, period: Period) -> CategoryStates:
    """Requests received in the period, counted by category and by current state group."""
    counts = db.session.execute(
        sa.select(HelpRequest.category_id, HelpRequest.status, sa.func.count())
        .where(_in_period(community_id, period))
        .group_by(HelpRequest.category_id, HelpRequest.status)
    ).all()
    group_of = {status: g for g, statuses in STATE_GROUPS.items() for status in statuses}
    per: dict[int, Counter[str]] = defaultdict(Counter)
    for category_id, status, n in counts:
        per[category_id][group_of.get(status, "new")] += n
    categories = db.session.execute(
        sa.select(Category).order_by(Category.sort_order, Category.id)
    ).scalars()
    rows = [(c, dict(per[c.id]), sum(per[c.id].values())) for c in categories if c.id in per]
    totals: Counter[str] = Counter()
    for counter in per.values():
        totals.update(counter)
    return CategoryStates(list(STATE_GROUPS), rows, dict(totals), sum(totals.values()))


@dataclass
class ResponseMeasures:
    """The five measures overall and per category (minutes)."""

    overall: list[Measure]
    by_category: list[tuple[Category, list[Measure]]]


def _minutes(later: datetime | None, earlier: datetime) -> float | None:
    if later is None:
        return None
    return (later - earlier).total_seconds() / 60


_Values = defaultdict[int | None, defaultdict[str, list[float]]]
"""Minutes of each measure, per category id (None: all categories)."""
MILESTONES = {
    "acknowledge": HelpRequest.acknowledged_at,
    "queue": HelpRequest.first_dispatched_at,
    "response": HelpRequest.arrived_at,
    "resolve": HelpRequest.first_completed_at,
    "close": HelpRequest.first_closed_at,
}
"""The request's column holding the end of each measure (kept by a trigger on its events)."""


def _measures(values: _Values) -> ResponseMeasures:
    categories = db.session.execute(
        sa.select(Category).order_by(Category.sort_order, Category.id)
    ).scalars()
    return ResponseMeasures(
        overall=[_measure(name, values[None][name]) for name in MEASURES],
        by_category=[
            (c, [_measure(name, values[c.id][name]) for name in MEASURES])
            for c in categories
            if c.id in values
        ],
    )


# The positions the Python formulas read, found by PostgreSQL's sort of the exact intervals:
# percentile_disc(f) is the value at position ceil(f * n) (1-based, in float8 like Python), so
# 0.5 gives the middle (odd n) or lower middle (even n), 0.5 + 1e-9 the upper middle (even n,
# up to n = 10**8), and 0.9 the nearest rank of `p90`.
MEASURES_SQL = """
SELECT category_id, grouping(category_id) AS overall,
       count(acknowledge), percentile_disc(ARRAY[0.5, 0.5 + 1e-9, 0.9]::float8[])
           WITHIN GROUP (ORDER BY acknowledge),
       count(queue), percentile_disc(ARRAY[0.5, 0.5 + 1e-9, 0.9]::float8[])
           WITHIN GROUP (ORDER BY queue),
       count(response), percentile_disc(ARRAY[0.5, 0.5 + 1e-9, 0.9]::float8[])
           WITHIN GROUP (ORDER BY response),
       count(resolve), percentile_disc(ARRAY[0.5, 0.5 + 1e-9, 0.9]::float8[])
           WITHIN GROUP (ORDER BY resolve),
       count(close), percentile_disc(ARRAY[0.5, 0.5 + 1e-9, 0.9]::float8[])
           WITHIN GROUP (ORDER BY close)
FROM (
    SELECT category_id,
           date_part('epoch', acknowledged_at - received_at) AS acknowledge,
           date_part('epoch', first_dispatched_at - received_at) AS queue,
           date_part('epoch', arrived_at - received_at) AS response,
           date_part('epoch', first_completed_at - received_at) AS resolve,
           date_part('epoch', first_closed_at - received_at) AS close
    FROM help_request
    WHERE community_id = :community_id AND received_at >= :lo AND received_at < :hi
) spans
GROUP BY GROUPING SETS ((category_id), ())
"""
"""Per category and overall: each measure's count and picks (NULLs, steps not reached, are
left out by count and percentile_disc alike)."""


def _measures_in_sql(community_id: int, period: Period) -> ResponseMeasures:
    """`response_measures` on PostgreSQL: medians and percentiles picked by the database from
    the maintained milestones, the same values the Python formulas pick (tested)."""
    # An interval from two timestamptz has days and microseconds, never months: its epoch is
    # exact in seconds (float8, as timedelta.total_seconds()), and float8 sorts without the
    # interval's comparisons by reference (about a third less time for a year at 1M).
    found: dict[int | None, dict[str, Measure]] = defaultdict(dict)
    for category_id, overall, *figures in db.session.execute(
        sa.text(MEASURES_SQL),
        {"community_id": community_id, "lo": period.lo, "hi": period.hi},
    ):
        for i, name in enumerate(MEASURES):
            n, picks = int(figures[2 * i]), figures[2 * i + 1]
            if n == 0:
                continue
            low, high, p = (seconds / 60 for seconds in picks)
            middle = low if n % 2 else (low + high) / 2
            found[None if overall else category_id][name] = Measure(
                name, MEASURES[name], n, middle, p
            )
    categories = db.session.execute(
        sa.select(Category).order_by(Category.sort_order, Category.id)
    ).scalars()

    def row(key: int | None) -> list[Measure]:
        return [found[key].get(name) or _measure(name, []) for name in MEASURES]

    return ResponseMeasures(
        overall=row(None),
        by_category=[(c, row(c.id)) for c in categories if c.id in found],
    )


def response_measures(community_id: int, period: Period) -> ResponseMeasures:
    """For requests received in the period: each measure's median and 90th percentile, in
    minutes, over the requests that reached that step (the count n says how many did)."""
    values: _Values = defaultdict(lambda: defaultdict(list))
    if db.session.get_bind().dialect.name == "postgresql":
        return _measures_in_sql(community_id, period)
    for category_id, received_at, *ends in db.session.execute(
        sa.select(HelpRequest.category_id, HelpRequest.received_at, *MILESTONES.values()).where(
            _in_period(community_id, period)
        )
    ):
        received = _aware(received_at)
        for name, at in zip(MILESTONES, ends, strict=True):
            minutes = _minutes(_aware(at) if at is not None else None, received)
            if minutes is not None:
                values[None][name].append(minutes)
                values[category_id][name].append(minutes)
    return _measures(values)


def response_measures_from_events(community_id: int, period: Period) -> ResponseMeasures:
    """`response_measures` the slow way, from every status event of the period's requests."""
    requests = db.session.execute(
        sa.select(
            HelpRequest.id, HelpRequest.category_id, HelpRequest.received_at, HelpRequest.arrived_at
        ).where(_in_period(community_id, period))
    ).all()
    firsts = db.session.execute(
        sa.select(
            RequestEvent.request_id,
            RequestEvent.to_status,
            sa.func.min(RequestEvent.at),
            sa.func.min(
                sa.case((RequestEvent.from_status.is_not(None), RequestEvent.at), else_=None)
            ),
        )
        .join(HelpRequest, HelpRequest.id == RequestEvent.request_id)
        .where(_in_period(community_id, period), RequestEvent.kind == "status")
        .group_by(RequestEvent.request_id, RequestEvent.to_status)
    ).all()
    first: dict[int, dict[str, datetime]] = defaultdict(dict)
    acknowledged: dict[int, datetime] = {}
    for request_id, to_status, at, changed_at in firsts:
        first[request_id][to_status] = _aware(at)
        if changed_at is not None:
            changed = _aware(changed_at)
            if request_id not in acknowledged or changed < acknowledged[request_id]:
                acknowledged[request_id] = changed
    values: _Values = defaultdict(lambda: defaultdict(list))
    for request_id, category_id, received_at, arrived_at in requests:
        received = _aware(received_at)
        steps = first.get(request_id, {})
        closed = [steps[s] for s in in_order(statuses.CLOSED) if s in steps]
        found = {
            "acknowledge": acknowledged.get(request_id),
            "queue": steps.get("dispatched"),
            "response": _aware(arrived_at) if arrived_at else None,
            "resolve": steps.get("completed"),
            "close": min(closed) if closed else None,
        }
        for name, at in found.items():
            minutes = _minutes(at, received)
            if minutes is not None:
                values[None][name].append(minutes)
                values[category_id][name].append(minutes)
    return _measures(values)


def _aware(at: datetime) -> datetime:
    """Aggregates (min) bypass the column type on SQLite: tag naive values as UTC."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


# --- service hours ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamService:
    """Approved service in the period by one team."""

    team: str
    services: int
    volunteers: int
    recorded_hours: float
    manual_hours: float


def _approved(community_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(ServiceRecord.community_id == community_id, ServiceRecord.status == "approved")


def service_by_team(community_id: int, period: Period) -> list[TeamService]:
    """Approved service records that started in the period, per team: services = number of
    records; volunteers = distinct volunteers; hours = sum of approved minutes ÷ 60, recorded
    (check-in/out) and added by hand kept apart."""
    rows = db.session.execute(
        sa.select(
            Team.name,
            sa.func.count(ServiceRecord.id),
            sa.func.count(sa.distinct(ServiceRecord.volunteer_id)),
            sa.func.coalesce(
                sa.func.sum(
                    sa.case((ServiceRecord.source == "recorded", ServiceRecord.minutes), else_=0)
                ),
                0,
            ),
            sa.func.coalesce(
                sa.func.sum(
                    sa.case((ServiceRecord.source == "manual", ServiceRecord.minutes), else_=0)
                ),
                0,
            ),
        )
        .outerjoin(Team, Team.id == ServiceRecord.team_id)
        .where(
            _approved(community_id),
            ServiceRecord.started_at >= period.lo,
            ServiceRecord.started_at < period.hi,
        )
        .group_by(Team.name)
    ).all()
    result = [
        TeamService(name or "(no team)", int(n), int(v), int(rec) / 60, int(man) / 60)
        for name, n, v, rec, man in rows
    ]
    return sorted(result, key=lambda t: t.team)


@dataclass(frozen=True)
class Quarter:
    """A calendar quarter (local dates)."""

    year: int
    q: int

    @classmethod
    def of(cls, day: date) -> Quarter:
        """The quarter a date falls in."""
        return cls(day.year, (day.month - 1) // 3 + 1)

    def next(self) -> Quarter:
        """The following quarter."""
        return Quarter(self.year + (self.q == 4), self.q % 4 + 1)

    def previous(self) -> Quarter:
        """The quarter before."""
        return Quarter(self.year - (self.q == 1), (self.q - 2) % 4 + 1)

    @property
    def period(self) -> Period:
        """The quarter's dates."""
        start = date(self.year, 3 * self.q - 2, 1)
        nxt = self.next()
        return Period(start, date(nxt.year, 3 * nxt.q - 2, 1) - timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.year} Q{self.q}"


@dataclass(frozen=True)
class Retention:
    """Volunteers active in `quarter` and how many of them were active in the next one."""

    quarter: Quarter
    active: int
    retained: int

    @property
    def share(self) -> float | None:
        """retained ÷ active (None when nobody was active)."""
        return self.retained / self.active if self.active else None


def _active_in(community_id: int, quarter: Quarter) -> set[int]:
    p = quarter.period
    return set(
        db.session.execute(
            sa.select(ServiceRecord.volunteer_id)
            .where(
                _approved(community_id),
                ServiceRecord.started_at >= p.lo,
                ServiceRecord.started_at < p.hi,
            )
            .distinct()
        ).scalars()
    )


def retention(community_id: int, period: Period) -> list[Retention]:
    """For each quarter Q whose next quarter lies in the period (or, for a period inside one
    quarter, the quarter before it): retention = |active in Q ∩ active in Q+1| ÷ |active in Q|,
    where active = at least one approved service record started in the quarter."""
    first, last = Quarter.of(period.start), Quarter.of(period.end)
    if first == last:
        first = first.previous()
    result = []
    quarter = first
    while quarter != last:
        now, nxt = _active_in(community_id, quarter), _active_in(community_id, quarter.next())
        result.append(Retention(quarter, len(now), len(now & nxt)))
        quarter = quarter.next()
    return result


# --- elders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Elders:
    """Elders served in the period and how many of them live alone."""

    served: int
    living_alone: int
    residents: int

    @property
    def share_alone(self) -> float | None:
        """living_alone ÷ served."""
        return self.living_alone / self.served if self.served else None


def elders_served(community_id: int, period: Period) -> Elders:
    """Distinct residents linked to requests received in the period (not cancelled, not
    duplicates); elders = age ≥ 60 in the period's last year (from the birth year); share living
    alone = elders living alone ÷ elders. Deleted profiles and unknown birth years do not count."""
    rows = db.session.execute(
        sa.select(Resident.id, Resident.birth_year, Resident.is_living_alone).where(
            Resident.id.in_(
                sa.select(HelpRequest.resident_id).where(
                    _in_period(community_id, period),
                    HelpRequest.status.not_in(NOT_SERVED),
                    HelpRequest.resident_id.is_not(None),
                )
            ),
            Resident.deleted_at.is_(None),
        )
    ).all()
    elders = [
        r for r in rows if r.birth_year is not None and period.end.year - r.birth_year >= ELDER_AGE
    ]
    return Elders(len(elders), sum(1 for r in elders if r.is_living_alone), len(rows))


# --- needs map --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One unit of a building on the needs map."""

    unit: str
    count: int
    level: int


@dataclass
class NeedsMap:
    """Buildings (rows) by units (cells) with request counts and shading levels 0-4."""

    rows: list[tuple[str, list[Cell]]] = field(default_factory=list)
    max_count: int = 0
    total: int = 0

    @property
    def widest(self) -> int:
        """The most units any building has."""
        return max((len(cells) for _, cells in self.rows), default=0)

    def legend(self) -> list[tuple[int, str]]:
        """(level, range of counts) for the legend."""
        if self.max_count == 0:
            return [(0, "0")]
        bands = [(0, "0")]
        for level in range(1, 5):
            lo = math.floor((level - 1) * self.max_count / 4) + 1
            hi = math.floor(level * self.max_count / 4)
            if hi >= lo:
                bands.append((level, f"{lo}–{hi}" if hi > lo else str(lo)))
        return bands


def level_for(count: int, max_count: int) -> int:
    """Shading level: 0 for none, else ceil(4 * count ÷ max) (1 to 4)."""
    return 0 if count == 0 or max_count == 0 else math.ceil(4 * count / max_count)


def _natural(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isascii() and text.isdigit() else (10**9, text)


def needs_map(community_id: int, period: Period) -> NeedsMap:
    """Requests received in the period (not duplicates), counted by the building and unit of
    their room; shading level = ceil(4 * count ÷ largest count)."""
    units = db.session.execute(
        sa.select(Building.code, Room.unit)
        .join(Room, Room.building_id == Building.id)
        .where(Building.community_id == community_id)
        .distinct()
    ).all()
    counts = dict(
        ((b, u), n)
        for b, u, n in db.session.execute(
            sa.select(Building.code, Room.unit, sa.func.count(HelpRequest.id))
            .join(Room, Room.id == HelpRequest.room_id)
            .join(Building, Building.id == Room.building_id)
            .where(_in_period(community_id, period), HelpRequest.status != "duplicate")
            .group_by(Building.code, Room.unit)
        ).all()
    )
    grid: dict[str, list[str]] = defaultdict(list)
    for building, unit in units:
        grid[building].append(unit)
    result = NeedsMap(max_count=max(counts.values(), default=0), total=sum(counts.values()))
    for building in sorted(grid, key=_natural):
        cells = [
            Cell(
                u,
                counts.get((building, u), 0),
                level_for(counts.get((building, u), 0), result.max_count),
            )
            for u in sorted(grid[building], key=_natural)
        ]
        result.rows.append((building, cells))
    return result


# --- weekly joint meeting ---------------------------------------------------------------------


@dataclass
class MeetingSheet:
    """What the weekly joint meeting (联席会) goes through."""

    complex_cases: list[HelpRequest]
    overdue: list[HelpRequest]
    awaiting_feedback: list[tuple[HelpRequest, Escalation]]
    now: datetime


def meeting_sheet(community_id: int, now: datetime | None = None) -> MeetingSheet:
    """Open complex cases = open requests that were escalated or reopened at some point, or
    are open more than 7 days; overdue = not yet on site past the category's deadline;
    awaiting feedback = escalated requests with no feedback from the agency yet."""
    now = now or utcnow()
    marked = sa.select(RequestEvent.request_id).where(
        RequestEvent.kind == "status", RequestEvent.to_status.in_(("escalated", "reopened"))
    )
    base = sa.select(HelpRequest).where(
        HelpRequest.community_id == community_id, HelpRequest.status.in_(OPEN)
    )
    complex_cases = db.session.execute(
        base.where(
            sa.or_(
                HelpRequest.id.in_(marked),
                HelpRequest.received_at < now - timedelta(days=COMPLEX_DAYS),
            )
        ).order_by(HelpRequest.received_at)
    ).scalars()
    categories = list(db.session.execute(sa.select(Category)).scalars())
    overdue = db.session.execute(
        base.where(overdue_clause(categories, now)).order_by(HelpRequest.received_at)
    ).scalars()
    awaiting = db.session.execute(
        sa.select(HelpRequest, Escalation)
        .join(Escalation, Escalation.request_id == HelpRequest.id)
        .where(HelpRequest.community_id == community_id, HelpRequest.status == "escalated")
        .order_by(Escalation.created_at)
    ).all()
    return MeetingSheet(list(complex_cases), list(overdue), [(r, e) for r, e in awaiting], now)


# --- CSV exports (streamed) -------------------------------------------------------------------


def request_rows(community_id: int, period: Period) -> Iterator[list[object]]:
    """Requests received in the period, one row each, read in batches."""
    yield [
        "id", "ticket", "category", "status", "building", "unit", "room",
        "received_at", "arrived_at", "closed_at", "response_minutes", "team", "channel",
    ]  # fmt: skip
    query = (
        sa.select(
            HelpRequest.id,
            HelpRequest.ticket,
            Category.code,
            HelpRequest.status,
            Building.code,
            Room.unit,
            Room.number,
            HelpRequest.received_at,
            HelpRequest.arrived_at,
            HelpRequest.closed_at,
            Team.name,
            HelpRequest.channel,
        )
        .join(Category, Category.id == HelpRequest.category_id)
        .join(Room, Room.id == HelpRequest.room_id)
        .join(Building, Building.id == Room.building_id)
        .outerjoin(Team, Team.id == HelpRequest.team_id)
        .where(_in_period(community_id, period))
        .order_by(HelpRequest.received_at, HelpRequest.id)
        .execution_options(yield_per=1000)
    )
    for (
        rid,
        ticket,
        cat,
        status,
        b,
        u,
        r,
        received,
        arrived,
        closed,
        team,
        channel,
    ) in db.session.execute(query):
        response = _minutes(arrived, received) if arrived else None
        yield [
            rid, ticket, cat, status, b, u, r,
            received.isoformat(), arrived.isoformat() if arrived else "",
            closed.isoformat() if closed else "",
            round(response, 1) if response is not None else "", team or "", channel,
        ]  # fmt: skip


def hours_rows(community_id: int, period: Period) -> Iterator[list[object]]:
    """Service records that started in the period, one row each, read in batches."""
    yield [
        "record", "volunteer", "team", "source", "status", "started_at", "ended_at",
        "minutes", "auto_closed", "content", "decided_by",
    ]  # fmt: skip
    query = (
        sa.select(ServiceRecord, Volunteer.name, Team.name)
        .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id)
        .outerjoin(Team, Team.id == ServiceRecord.team_id)
        .where(
            ServiceRecord.community_id == community_id,
            ServiceRecord.started_at >= period.lo,
            ServiceRecord.started_at < period.hi,
        )
        .order_by(ServiceRecord.started_at, ServiceRecord.id)
        .execution_options(yield_per=1000)
    )
    for record, volunteer, team in db.session.execute(query):
        yield [
            record.id, volunteer, team or "", record.source, record.status,
            record.started_at.isoformat(),
            record.ended_at.isoformat() if record.ended_at else "",
            "" if record.minutes is None else record.minutes,
            "yes" if record.is_auto_closed else "", record.content, record.decided_by or "",
        ]  # fmt: skip


def communities(scope: frozenset[int]) -> list[Community]:
    """The communities of `scope`, by name (to choose one for a report)."""
    return list(
        db.session.execute(
            sa.select(Community).where(Community.id.in_(scope)).order_by(Community.name)
        ).scalars()
    )


def community(community_id: int) -> Community | None:
    """The community of this id, if any."""
    return db.session.get(Community, community_id)
