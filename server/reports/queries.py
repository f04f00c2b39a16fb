"""The figures of the reports. Each function's docstring is the formula printed on the page.

A period is a range of local dates (in LINLI_TIMEZONE, see `server.localtime`)
from `start` to `end`, both included. Read-only: nothing here writes.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from server.carewatch import queries as care
from server.communities.models import Building, Community, Room
from server.dispatch.models import Escalation, Team
from server.errors import InvalidInput
from server.extensions import db
from server.localtime import local_midnight, local_zone
from server.localtime import local_today as local_today  # the periods' today, for the routes
from server.people.models import Resident
from server.requests.models import CHANNELS, Category, HelpRequest, RequestEvent, SubChoice
from server.requests.services import overdue_clause
from server.requests.words import preferred_time_words
from server.timeutil import utcnow
from server.volunteers.models import ServiceRecord, Volunteer
from sync import statuses
from sync.messages import OTHER_CHOICE, PREFERRED_TIMES
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


@dataclass(frozen=True)
class PeriodCounts:
    """The period's requests counted once by every key the report groups them by."""

    counts: dict[tuple[int, str, str, str | None, str | None], int]
    """(category id, status, channel, sub-choice code, preferred time): requests."""

    def by(self, *keys: int) -> Counter[tuple[Any, ...]]:
        """The counts summed by the keys at these positions of `counts`' key."""
        summed: Counter[tuple[Any, ...]] = Counter()
        for key, n in self.counts.items():
            summed[tuple(key[i] for i in keys)] += n
        return summed


CATEGORY, STATUS, CHANNEL, CHOICE, PREFERRED_TIME = range(5)
"""Positions in `PeriodCounts.counts`' key."""


def period_counts(community_id: int, period: Period) -> PeriodCounts:
    """Requests received in the period, counted by category, status, channel, sub-choice and
    preferred time together: one index-only read of the report index for the four tables of
    counts (100 groups for a year of the largest community at 1M)."""
    return PeriodCounts(
        {
            (category_id, status, channel, choice, when): n
            for category_id, status, channel, choice, when, n in db.session.execute(
                sa.select(
                    HelpRequest.category_id,
                    HelpRequest.status,
                    HelpRequest.channel,
                    HelpRequest.choice_code,
                    HelpRequest.preferred_time,
                    sa.func.count(),
                )
                .where(_in_period(community_id, period))
                .group_by(
                    HelpRequest.category_id,
                    HelpRequest.status,
                    HelpRequest.channel,
                    HelpRequest.choice_code,
                    HelpRequest.preferred_time,
                )
            )
        }
    )


def requests_by_channel(
    community_id: int, period: Period, counted: PeriodCounts | None = None
) -> list[tuple[str, int]]:
    """Requests received in the period, counted by channel (each of CHANNELS, zero included)."""
    if counted is None:
        counted = period_counts(community_id, period)
    counts = {channel: n for (channel,), n in counted.by(CHANNEL).items()}
    known = [(channel, counts.pop(channel, 0)) for channel in CHANNELS]
    return known + sorted(counts.items())


@dataclass
class ChoiceCounts:
    """One category's requests in the period by what was wrong: each sub-choice, 其他, and
    not stated (made before sub-choices, or without choosing)."""

    category: Category
    rows: list[tuple[str, str, int]]
    """(code, words, requests): the community's sub-choices in order (retired ones only when
    counted), then `other`, then `none` (not stated)."""
    total: int


def _categories() -> list[Category]:
    return list(
        db.session.execute(sa.select(Category).order_by(Category.sort_order, Category.id)).scalars()
    )


def requests_by_choice(
    community_id: int, period: Period, counted: PeriodCounts | None = None
) -> list[ChoiceCounts]:
    """Requests received in the period, counted per category by sub-choice (zeros included),
    其他 and not stated; categories with sub-choices or with requests are listed."""
    if counted is None:
        counted = period_counts(community_id, period)
    counts = counted.by(CATEGORY, CHOICE)
    choices: dict[int, list[SubChoice]] = defaultdict(list)
    for choice in db.session.execute(
        sa.select(SubChoice)
        .where(SubChoice.community_id == community_id)
        .order_by(SubChoice.sort_order, SubChoice.id)
    ).scalars():
        choices[choice.category_id].append(choice)
    used = {category_id for category_id, _ in counts}
    found = []
    for category in _categories():
        if category.id not in choices and category.id not in used:
            continue
        mine = {k[1]: n for k, n in counts.items() if k[0] == category.id}
        rows = [
            (c.code, c.name_zh, mine.pop(c.code, 0))
            for c in choices[category.id]
            if c.is_active or c.code in mine
        ]
        rows.append((OTHER_CHOICE, gettext("其他"), mine.pop(OTHER_CHOICE, 0)))
        rows.append(("none", gettext("未说明"), mine.pop(None, 0)))
        found.append(ChoiceCounts(category, rows, sum(n for _, _, n in rows)))
    return found


def requests_by_preferred_time(
    community_id: int, period: Period, counted: PeriodCounts | None = None
) -> list[tuple[str, int]]:
    """Requests received in the period by the time the resident wished for (each of
    PREFERRED_TIMES, zero included), then `none` (not stated)."""
    if counted is None:
        counted = period_counts(community_id, period)
    counts = {when: n for (when,), n in counted.by(PREFERRED_TIME).items()}
    return [(t, counts.get(t, 0)) for t in PREFERRED_TIMES] + [("none", counts.get(None, 0))]


@dataclass
class CategoryStates:
    """Requests received in the period, per category and state group."""

    groups: list[str]
    rows: list[tuple[Category, dict[str, int], int]]
    totals: dict[str, int]
    total: int


GROUP_OF = {status: g for g, statuses in STATE_GROUPS.items() for status in statuses}
"""Each status's group in STATE_GROUPS."""


def requests_by_category_and_state(
    community_id: int, period: Period, counted: PeriodCounts | None = None
) -> CategoryStates:
    """Requests received in the period, counted by category and by current state group."""
    if counted is None:
        counted = period_counts(community_id, period)
    per: dict[int, Counter[str]] = defaultdict(Counter)
    for (category_id, status), n in counted.by(CATEGORY, STATUS).items():
        per[category_id][GROUP_OF.get(status, "new")] += n
    rows = [(c, dict(per[c.id]), sum(per[c.id].values())) for c in _categories() if c.id in per]
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
    return ResponseMeasures(
        overall=[_measure(name, values[None][name]) for name in MEASURES],
        by_category=[
            (c, [_measure(name, values[c.id][name]) for name in MEASURES])
            for c in _categories()
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
           (date_part('epoch', acknowledged_at - received_at) * 1000000)::int8 AS acknowledge,
           (date_part('epoch', first_dispatched_at - received_at) * 1000000)::int8 AS queue,
           (date_part('epoch', arrived_at - received_at) * 1000000)::int8 AS response,
           (date_part('epoch', first_completed_at - received_at) * 1000000)::int8 AS resolve,
           (date_part('epoch', first_closed_at - received_at) * 1000000)::int8 AS close
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
    # An interval from two timestamptz has days and microseconds, never months. Its epoch
    # (float8) is within a fraction of a microsecond of it for spans under ten years, so the
    # rounding cast gives its exact microseconds: int8, which sorts without the interval's
    # comparisons by reference and faster than float8 (28 ms, then 23, for a year of community
    # 1 at 1M). Python divides them as timedelta.total_seconds() does, exactly.
    found: dict[int | None, dict[str, Measure]] = defaultdict(dict)
    for category_id, overall, *figures in db.session.execute(
        sa.text(MEASURES_SQL),
        {"community_id": community_id, "lo": period.lo, "hi": period.hi},
    ):
        for i, name in enumerate(MEASURES):
            n, picks = int(figures[2 * i]), figures[2 * i + 1]
            if n == 0:
                continue
            low, high, p = (micros / 10**6 / 60 for micros in picks)
            middle = low if n % 2 else (low + high) / 2
            found[None if overall else category_id][name] = Measure(
                name, MEASURES[name], n, middle, p
            )

    def row(key: int | None) -> list[Measure]:
        return [found[key].get(name) or _measure(name, []) for name in MEASURES]

    return ResponseMeasures(
        overall=row(None),
        by_category=[(c, row(c.id)) for c in _categories() if c.id in found],
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
    # 'approved' is written into the statement, not bound: psycopg prepares a statement run
    # five times, and PostgreSQL's generic plan for `status = $2` cannot use the partial index
    # ix_service_record_approved (a bitmap AND of two indexes instead: 7.8 ms, not 1.1 ms).
    approved = sa.literal("approved", literal_execute=True)
    return sa.and_(ServiceRecord.community_id == community_id, ServiceRecord.status == approved)


def service_by_team(community_id: int, period: Period) -> list[TeamService]:
    """Approved service records that started in the period, per team: services = number of
    records; volunteers = distinct volunteers; hours = sum of approved minutes ÷ 60, recorded
    (check-in/out) and added by hand kept apart."""
    # Summed per team and volunteer by a hash (no sort of the period's records by team name
    # for a count of distinct volunteers), then per team here.
    teams: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for name, _volunteer, n, recorded, manual in db.session.execute(
        sa.select(
            Team.name,
            ServiceRecord.volunteer_id,
            sa.func.count(ServiceRecord.id),
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
        .group_by(Team.name, ServiceRecord.volunteer_id)
    ):
        team = teams[name]
        team[0] += int(n)
        team[1] += 1
        team[2] += int(recorded)
        team[3] += int(manual)
    result = [
        TeamService(name or "(no team)", n, volunteers, recorded / 60, manual / 60)
        for name, (n, volunteers, recorded, manual) in teams.items()
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


def retention(community_id: int, period: Period) -> list[Retention]:
    """For each quarter Q whose next quarter lies in the period (or, for a period inside one
    quarter, the quarter before it): retention = |active in Q ∩ active in Q+1| ÷ |active in Q|,
    where active = at least one approved service record started in the quarter."""
    first, last = Quarter.of(period.start), Quarter.of(period.end)
    if first == last:
        first = first.previous()
    quarters = [first]
    while quarters[-1] != last:
        quarters.append(quarters[-1].next())
    # One statement: each volunteer active in each quarter, the quarter told by its bounds.
    bounds = [q.period.hi for q in quarters]
    which = sa.case(*((ServiceRecord.started_at < hi, i) for i, hi in enumerate(bounds)))
    active: defaultdict[int, set[int]] = defaultdict(set)
    for volunteer_id, i in db.session.execute(
        sa.select(ServiceRecord.volunteer_id, which)
        .where(
            _approved(community_id),
            ServiceRecord.started_at >= quarters[0].period.lo,
            ServiceRecord.started_at < bounds[-1],
        )
        .distinct()
    ):
        active[i].add(volunteer_id)
    return [
        Retention(quarter, len(active[i]), len(active[i] & active[i + 1]))
        for i, quarter in enumerate(quarters[:-1])
    ]


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
    # The residents' ids first (from the report index), then their profiles by id: in one
    # statement the planner, expecting thousands of residents, hashed the whole city's.
    served = list(
        db.session.execute(
            sa.select(HelpRequest.resident_id)
            .where(
                _in_period(community_id, period),
                HelpRequest.status.not_in(NOT_SERVED),
                HelpRequest.resident_id.is_not(None),
            )
            .distinct()
        ).scalars()
    )
    rows = (
        db.session.execute(
            sa.select(Resident.id, Resident.birth_year, Resident.is_living_alone).where(
                Resident.id.in_(sa.bindparam(None, served, expanding=True, literal_execute=True)),
                Resident.deleted_at.is_(None),
            )
        ).all()
        if served
        else []
    )
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
    # Counted per room from the report index, then per unit here: joined to the rooms in the
    # statement, the planner hashed the whole city's rooms (57,600 at 1M) for a community's.
    rooms = {
        room_id: (building, unit)
        for room_id, building, unit in db.session.execute(
            sa.select(Room.id, Building.code, Room.unit)
            .join(Room, Room.building_id == Building.id)
            .where(Building.community_id == community_id)
        )
    }
    units = set(rooms.values())
    per_room = db.session.execute(
        sa.select(HelpRequest.room_id, sa.func.count())
        .where(_in_period(community_id, period), HelpRequest.status != "duplicate")
        .group_by(HelpRequest.room_id)
    ).all()
    elsewhere = {room_id for room_id, _ in per_room if room_id not in rooms}
    if elsewhere:  # a request whose room is in another community's building: counted as ever
        rooms.update(
            (room_id, (building, unit))
            for room_id, building, unit in db.session.execute(
                sa.select(Room.id, Building.code, Room.unit)
                .join(Building, Building.id == Room.building_id)
                .where(Room.id.in_(elsewhere))
            )
        )
    counts: Counter[tuple[str, str]] = Counter()
    for room_id, n in per_room:
        counts[rooms[room_id]] += n
    grid: dict[str, list[str]] = defaultdict(list)
    for building, unit in sorted(units):
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


def watched_overlay(community_id: int) -> dict[tuple[str, str], int]:
    """Watched elders per building and unit = residents of the unit whose care plan is watched
    now (counts only: no name or room is shown)."""
    return care.watched_per_unit(community_id)


# --- care watch -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CareLine:
    """The care watch over one stretch of time, its medians and percentiles worked out."""

    label: str
    summary: care.WatchSummary

    @property
    def first_follow_up(self) -> float | None:
        """Median hours from a missed rhythm to its first follow-up task."""
        return median(self.summary.first_follow_up_hours)

    @property
    def contact_median(self) -> float | None:
        """Median hours from a missed rhythm to a completed contact."""
        return median(self.summary.contact_hours)

    @property
    def contact_p90(self) -> float | None:
        """P90 hours from a missed rhythm to a completed contact."""
        return p90(self.summary.contact_hours)


def care_week(community_id: int, now: datetime | None = None) -> CareLine:
    """Watched = residents whose care plan is watched now; on rhythm = watched residents with
    no missed rhythm in the last 7 days; overdue = watched residents now past their rhythm and
    grace (or with an open follow-up step); escalated = episodes of the last 7 days that reached
    step 2 or 3; time to first follow-up = median hours from a missed rhythm to its first
    follow-up task."""
    now = now or utcnow()
    return CareLine("7d", care.summary(community_id, now - timedelta(days=7), now))


def care_months(community_id: int, period: Period) -> list[CareLine]:
    """Per calendar month of the period: watched = residents whose care plan is watched now;
    share on rhythm = watched residents with no missed rhythm in the month ÷ watched; time to
    a completed contact = hours from a missed rhythm (the episode's start) to the first sign of
    life or contact other than 没开门 / 没接通 after it, over the episodes begun in the month
    and answered; median and P90 (nearest rank) of those hours."""
    months: list[tuple[str, Period]] = []
    month = period.start.replace(day=1)
    while month <= period.end:
        following = (month + timedelta(days=32)).replace(day=1)
        start, end = max(month, period.start), min(following - timedelta(days=1), period.end)
        months.append((month.strftime("%Y-%m"), Period(start, end)))
        month = following
    found = care.summaries(community_id, [(span.lo, span.hi) for _, span in months])
    return [CareLine(label, summary) for (label, _), summary in zip(months, found, strict=True)]


# --- weekly joint meeting ---------------------------------------------------------------------


MEETING_PAGE = 50
"""Cases per list on the meeting sheet: what one meeting goes through; the rest page by page."""


@dataclass
class MeetingSheet:
    """What the weekly joint meeting (联席会) goes through: every count in full, and of the
    complex and overdue cases one page each, the oldest first, with the key of the next."""

    complex_cases: list[HelpRequest]
    overdue: list[HelpRequest]
    awaiting_feedback: list[tuple[HelpRequest, Escalation]]
    now: datetime
    complex_total: int = 0
    overdue_total: int = 0
    complex_next: str | None = None
    overdue_next: str | None = None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class After:
    """A place in a list of requests oldest first: after this receipt time and id."""

    received_at: datetime
    id: int

    def __str__(self) -> str:
        micros = (self.received_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> After:
        """The place a `str(After)` names; InvalidInput for anything else."""
        found = re.fullmatch(r"([0-9]{1,16})-([0-9]{1,12})", text)
        if found is None:
            raise InvalidInput(gettext("这个翻页链接已损坏；请从第一页开始"), "bad_cursor")
        return cls(EPOCH + timedelta(microseconds=int(found[1])), int(found[2]))


def _written(values: frozenset[str] | tuple[str, ...]) -> sa.BindParameter[list[str]]:
    # Written into the statement, not bound: a partial index's predicate (open requests,
    # escalated or reopened events) is proved from constants only, and psycopg prepares a
    # statement run five times, whose generic plan would not use the index.
    return sa.bindparam(None, sorted(values), expanding=True, literal_execute=True)


def _page(
    where: sa.ColumnElement[bool], after: After | None
) -> tuple[list[HelpRequest], str | None]:
    """A page of the requests `where` holds, oldest first, and the key of the next page. The
    page's ids come first, walking the open requests' index in order: only they are read."""
    if after is not None:
        where = sa.and_(
            where,
            sa.tuple_(HelpRequest.received_at, HelpRequest.id) > (after.received_at, after.id),
        )
    oldest_first = (HelpRequest.received_at, HelpRequest.id)
    ids = sa.select(HelpRequest.id).where(where).order_by(*oldest_first).limit(MEETING_PAGE + 1)
    rows = list(
        db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.id.in_(ids)).order_by(*oldest_first)
        ).scalars()
    )
    if len(rows) <= MEETING_PAGE:
        return rows, None
    last = rows[MEETING_PAGE - 1]
    return rows[:MEETING_PAGE], str(After(last.received_at, last.id))


def meeting_sheet(
    community_id: int,
    now: datetime | None = None,
    complex_after: After | None = None,
    overdue_after: After | None = None,
) -> MeetingSheet:
    """Open complex cases = open requests that were escalated or reopened at some point, or
    are open more than 7 days; overdue = not yet on site past the category's deadline;
    awaiting feedback = escalated requests with no feedback from the agency yet."""
    now = now or utcnow()
    marked = (
        sa.select(RequestEvent.id)
        .where(
            RequestEvent.request_id == HelpRequest.id,
            RequestEvent.kind == "status",
            RequestEvent.to_status.in_(_written(("escalated", "reopened"))),
        )
        .exists()
    )
    is_complex = sa.or_(HelpRequest.received_at < now - timedelta(days=COMPLEX_DAYS), marked)
    categories = list(db.session.execute(sa.select(Category)).scalars())
    is_overdue = overdue_clause(categories, now)
    open_here = sa.and_(
        HelpRequest.community_id == community_id, HelpRequest.status.in_(_written(OPEN))
    )
    complex_total, overdue_total = db.session.execute(
        sa.select(sa.func.count().filter(is_complex), sa.func.count().filter(is_overdue)).where(
            open_here
        )
    ).one()
    complex_cases, complex_next = _page(sa.and_(open_here, is_complex), complex_after)
    overdue, overdue_next = _page(sa.and_(open_here, is_overdue), overdue_after)
    awaiting = db.session.execute(
        sa.select(HelpRequest, Escalation)
        .join(Escalation, Escalation.request_id == HelpRequest.id)
        .where(open_here, HelpRequest.status == "escalated")
        .order_by(Escalation.created_at)
    ).all()
    return MeetingSheet(
        complex_cases,
        overdue,
        [(r, e) for r, e in awaiting],
        now,
        complex_total,
        overdue_total,
        complex_next,
        overdue_next,
    )


# --- CSV exports (streamed) -------------------------------------------------------------------

REQUEST_COLUMNS = (
    _l("求助编号"), _l("小票号"), _l("类别"), _l("状态"), _l("楼栋"), _l("单元"),
    _l("房间"), _l("收到时间"), _l("到场时间"), _l("结案时间"), _l("到场用时（分钟）"),
    _l("服务队"), _l("渠道"), _l("具体问题代码"), _l("具体问题"), _l("希望时间代码"),
    _l("希望时间"),
)  # fmt: skip
"""The header of requests.csv, in the reader's language (cells keep codes and ISO times)."""

HOURS_COLUMNS = (
    _l("记录编号"), _l("志愿者"), _l("服务队"), _l("来源"), _l("状态"), _l("开始时间"),
    _l("结束时间"), _l("分钟"), _l("自动签退"), _l("内容"), _l("审核人"),
)  # fmt: skip
"""The header of hours.csv, in the reader's language."""


def request_rows(community_id: int, period: Period) -> Iterator[list[object]]:
    """Requests received in the period, one row each, read in batches."""
    yield [str(column) for column in REQUEST_COLUMNS]
    names = {
        (c.category_id, c.code): c.name_zh
        for c in db.session.execute(
            sa.select(SubChoice).where(SubChoice.community_id == community_id)
        ).scalars()
    }
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
            HelpRequest.category_id,
            HelpRequest.choice_code,
            HelpRequest.preferred_time,
        )
        .join(Category, Category.id == HelpRequest.category_id)
        .join(Room, Room.id == HelpRequest.room_id)
        .join(Building, Building.id == Room.building_id)
        .outerjoin(Team, Team.id == HelpRequest.team_id)
        .where(_in_period(community_id, period))
        .order_by(HelpRequest.received_at, HelpRequest.id)
        .execution_options(yield_per=1000)
    )
    other = gettext("其他")
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
        category_id,
        choice,
        when,
    ) in db.session.execute(query):
        words = other if choice == OTHER_CHOICE else names.get((category_id, choice))
        yield [
            rid, ticket, cat, status, b, u, r,
            received.isoformat(), arrived.isoformat() if arrived else "",
            closed.isoformat() if closed else "",
            round((arrived - received).total_seconds() / 60, 1) if arrived else "",
            team or "", channel, choice or "", words or choice or "", when or "",
            preferred_time_words(when, received) or "" if when else "",
        ]  # fmt: skip


def hours_rows(community_id: int, period: Period) -> Iterator[list[object]]:
    """Service records that started in the period, one row each, read in batches."""
    yield [str(column) for column in HOURS_COLUMNS]
    query = (
        sa.select(
            ServiceRecord.id,
            Volunteer.name,
            Team.name,
            ServiceRecord.source,
            ServiceRecord.status,
            ServiceRecord.started_at,
            ServiceRecord.ended_at,
            ServiceRecord.minutes,
            ServiceRecord.is_auto_closed,
            ServiceRecord.content,
            ServiceRecord.decided_by,
        )
        .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id)
        .outerjoin(Team, Team.id == ServiceRecord.team_id)
        .where(
            ServiceRecord.community_id == community_id,
            # Bounds on (community, start) together: only ix_service_record_community_started
            # takes them, so the cursor walks this community's records in order. Bounds on the
            # start alone let the cursor's fast-start plan walk every community's records by
            # time instead (their index looks cheap for its correlation: 291,520 rows removed
            # by filter, 215 ms for a year at 1M, not 25).
            sa.tuple_(ServiceRecord.community_id, ServiceRecord.started_at)
            >= (community_id, period.lo),
            sa.tuple_(ServiceRecord.community_id, ServiceRecord.started_at)
            < (community_id, period.hi),
        )
        .order_by(ServiceRecord.started_at, ServiceRecord.id)
        .execution_options(yield_per=1000)
    )
    for (
        rid,
        volunteer,
        team,
        source,
        status,
        started,
        ended,
        minutes,
        auto,
        content,
        by,
    ) in db.session.execute(query):
        yield [
            rid, volunteer, team or "", source, status, started.isoformat(),
            ended.isoformat() if ended else "", "" if minutes is None else minutes,
            "yes" if auto else "", content, by or "",
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


# --- the 20-minute promise ---------------------------------------------------------------------

PROMISE_MINUTES = 20
"""The pilots' own measure: a repair helper on site within 20 minutes of dispatch."""
REPAIR_CATEGORIES = ("electrical", "plumbing", "appliance")
"""Repairs: the categories a repair team (e.g. 小蜜蜂) goes out for."""
NEVER_REACHED = frozenset({"cancelled", "duplicate"})
"""Statuses of requests that need no one on site any more (withdrawn or merged)."""


@dataclass(frozen=True)
class Share:
    """How many of n requests kept a time limit."""

    kept: int
    n: int

    @property
    def percent(self) -> float | None:
        """kept ÷ n, in percent (None without requests)."""
        return 100 * self.kept / self.n if self.n else None

    @property
    def enough(self) -> bool:
        """Whether n is large enough to compare the share with another."""
        return self.n >= MIN_COUNT


@dataclass(frozen=True)
class PromiseRow:
    """One team's (None: every team's) repair requests first dispatched in one local month."""

    month: date
    team: str | None
    """The team's name ("" for requests no team holds now); None for every team together."""
    promise: Share
    deadline: Share
    promise_change: float | None = None
    """Percentage points from the same team's previous month (None: not comparable)."""
    deadline_change: float | None = None


def _judge(
    limit: timedelta, start: datetime, arrived: datetime | None, now: datetime
) -> bool | None:
    """Kept (True), missed (False), or not decided yet (None: no one yet, still in time)."""
    if arrived is not None:
        return arrived - start <= limit
    return False if now - start > limit else None


def _change(now: Share, before: Share | None) -> float | None:
    if before is None or not (now.enough and before.enough):
        return None
    return (now.percent or 0.0) - (before.percent or 0.0)


def promise_kept(
    community_id: int, period: Period, now: datetime | None = None
) -> list[PromiseRow]:
    """Repair requests (照明/电路, 水暖, 家电维修) first dispatched in the period, by local month
    of that dispatch and by the team they are dispatched to, then every team together: the
    share reached on site within 20 minutes = (arrival - first dispatch ≤ 20 min) ÷ n, and
    the share within the category's deadline = (arrival - received ≤ deadline) ÷ n. n counts
    the requests decided: reached on site, or not reached and past the limit; a request still
    in time is not counted yet, nor one cancelled or merged before anyone arrived. The change
    is in percentage points from the same team's previous month, shown when both n ≥ 5."""
    now = now or utcnow()
    zone = local_zone()
    rows = db.session.execute(
        sa.select(
            Team.name,
            HelpRequest.received_at,
            HelpRequest.first_dispatched_at,
            HelpRequest.arrived_at,
            HelpRequest.status,
            Category.deadline_minutes,
        )
        .join(Category, Category.id == HelpRequest.category_id)
        .outerjoin(Team, Team.id == HelpRequest.team_id)
        .where(
            HelpRequest.community_id == community_id,
            Category.code.in_(REPAIR_CATEGORIES),
            HelpRequest.first_dispatched_at >= period.lo,
            HelpRequest.first_dispatched_at < period.hi,
        )
    ).all()
    tally: defaultdict[tuple[date, str | None], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for name, received_at, dispatched_at, arrived_at, status, deadline in rows:
        if arrived_at is None and status in NEVER_REACHED:
            continue
        # The query keeps dispatched requests only.
        dispatched, received = _aware(cast(datetime, dispatched_at)), _aware(received_at)
        arrived = _aware(arrived_at) if arrived_at is not None else None
        month = dispatched.astimezone(zone).date().replace(day=1)
        verdicts = (
            _judge(timedelta(minutes=PROMISE_MINUTES), dispatched, arrived, now),
            None
            if deadline is None
            else _judge(timedelta(minutes=deadline), received, arrived, now),
        )
        team: str = name or ""  # dispatched, then escalated or taken off every team
        for key in ((month, team), (month, None)):
            counts = tally[key]
            for i, verdict in enumerate(verdicts):
                if verdict is not None:
                    counts[2 * i] += int(verdict)
                    counts[2 * i + 1] += 1
    out: list[PromiseRow] = []
    last: dict[str | None, tuple[date, PromiseRow]] = {}
    for month, who in sorted(tally, key=lambda k: (k[0], k[1] is None, k[1] or "")):
        kept, n, in_deadline, n_deadline = tally[(month, who)]
        promise, in_time = Share(kept, n), Share(in_deadline, n_deadline)
        before = last.get(who)
        previous = (month - timedelta(days=1)).replace(day=1)
        if before is not None and before[0] != previous:
            before = None
        row = PromiseRow(
            month,
            who,
            promise,
            in_time,
            _change(promise, before[1].promise if before else None),
            _change(in_time, before[1].deadline if before else None),
        )
        last[who] = (month, row)
        out.append(row)
    return out
