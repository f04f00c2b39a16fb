"""What the volunteer pages read: volunteers, teams, service records and the jobs hours are
recorded on. Reads only; the signed-in user's scope comes in as arguments."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext

from server.communities.models import Community, Room
from server.dispatch.models import Team
from server.errors import InvalidInput
from server.extensions import db
from server.localtime import local_midnight, local_zone
from server.requests.models import Category, HelpRequest
from server.volunteers.models import (
    ServiceRecord,
    TeamFocus,
    TeamMember,
    Volunteer,
    VolunteerNote,
)
from server.volunteers.services import DONE_STATES, HOURS_REQUEST_STATES

Clause = sa.ColumnElement[bool]
"""A condition, such as the signed-in user's scope."""


# --- volunteers and teams -------------------------------------------------------------------


VOLUNTEERS_PAGE = 50
"""Volunteers shown per page of the volunteer list."""
VOLUNTEERS_COUNTED = 1000
"""The volunteers listed are counted up to this many; past it the page says "1000+"."""


def _encode_key(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_key(text: str, types: tuple[type, ...]) -> list[Any]:
    """The key a next-page link carries, each part of its type (a bad link is a 400)."""
    try:
        key = json.loads(base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode()))
        if not isinstance(key, list) or len(key) != len(types):
            raise TypeError(key)
        for part, kind in zip(key, types, strict=True):
            if not isinstance(part, kind) or isinstance(part, bool):
                raise TypeError(part)
        return key
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidInput(gettext("翻页链接有误，请从第一页开始"), "bad_cursor") from exc


def _counted(where: Clause, most: int) -> int:
    """How many rows of `where` there are, counted up to `most` + 1."""
    rows = sa.select(sa.literal(1)).where(where).limit(most + 1).subquery()
    return int(db.session.execute(sa.select(sa.func.count()).select_from(rows)).scalar_one())


def volunteers_page(
    scope: frozenset[int], search: str, after: str | None
) -> tuple[list[Volunteer], str | None, int]:
    """One page of the volunteers of the `scope` communities whose name or phone holds
    `search`, by (name, id) after the `after` cursor; the next page's cursor; and how many
    match (up to VOLUNTEERS_COUNTED + 1). A keyset: a page reads what it shows."""
    where: Clause = Volunteer.community_id.in_(scope)
    if search:
        where = sa.and_(
            where,
            sa.or_(
                Volunteer.name.icontains(search, autoescape=True),
                Volunteer.phone.contains(search, autoescape=True),
            ),
        )
    stmt = sa.select(Volunteer).where(where)
    if after:
        name, volunteer_id = _decode_key(after, (str, int))
        stmt = stmt.where(sa.tuple_(Volunteer.name, Volunteer.id) > sa.tuple_(name, volunteer_id))
    stmt = stmt.order_by(Volunteer.name, Volunteer.id).limit(VOLUNTEERS_PAGE + 1)
    found = list(db.session.execute(stmt).scalars())
    page = found[:VOLUNTEERS_PAGE]
    last = page[-1] if len(found) > VOLUNTEERS_PAGE else None
    cursor = _encode_key([last.name, last.id]) if last else None
    return page, cursor, _counted(where, VOLUNTEERS_COUNTED)


def community(community_id: int) -> Community:
    """The community of this id (it exists: a volunteer's or a team's)."""
    return db.session.get_one(Community, community_id)


PROFILE_RECORDS = 100
"""Service records on a volunteer's page (the latest; the printable record has a period's)."""


def _teams_and_notes(volunteer: Volunteer) -> dict[str, Any]:
    teams = db.session.execute(
        sa.select(Team, TeamMember.is_lead)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.volunteer_id == volunteer.id)
        .order_by(Team.name)
    ).all()
    notes = db.session.execute(
        sa.select(VolunteerNote)
        .where(VolunteerNote.volunteer_id == volunteer.id)
        .order_by(VolunteerNote.noted_on, VolunteerNote.id)
    ).scalars()
    return {"teams": teams, "notes": list(notes)}


def volunteer_context(volunteer: Volunteer) -> dict[str, Any]:
    """A volunteer's teams (with the lead flag), the latest PROFILE_RECORDS service records
    (newest first) and whether there are more, and notes."""
    records = list(
        db.session.execute(
            sa.select(ServiceRecord)
            .where(ServiceRecord.volunteer_id == volunteer.id)
            .order_by(ServiceRecord.started_at.desc())
            .limit(PROFILE_RECORDS + 1)
        ).scalars()
    )
    return {
        **_teams_and_notes(volunteer),
        "records": records[:PROFILE_RECORDS],
        "more_records": len(records) > PROFILE_RECORDS,
    }


@dataclass(frozen=True)
class ServiceMinutes:
    """Approved service in minutes by source (签到记录, 手工补录), and how many records."""

    recorded: int = 0
    manual: int = 0
    records: int = 0

    @property
    def total(self) -> int:
        """Minutes from both sources."""
        return self.recorded + self.manual


@dataclass(frozen=True)
class ApprovedService:
    """One line of the printable record: the local day the service began, what was done,
    its approved minutes, source and who approved it."""

    day: date
    content: str
    minutes: int
    source: str
    decided_by: str | None

    @property
    def hours(self) -> str:
        """The approved time in hours, to two places."""
        return f"{self.minutes / 60:.2f}"


def _by_source(sums: list[tuple[str, int | None, int]]) -> ServiceMinutes:
    """(source, minutes, records) rows as one `ServiceMinutes`."""
    minutes = {source: int(total or 0) for source, total, _ in sums}
    return ServiceMinutes(
        minutes.get("recorded", 0), minutes.get("manual", 0), sum(n for _, _, n in sums)
    )


def service_record_context(volunteer: Volunteer, start: date, end: date) -> dict[str, Any]:
    """The printable service record of the local dates `start`..`end` (both included): the
    volunteer's teams and notes, the period's approved records (oldest first), and the
    approved minutes by source of the period and of all time, summed by the database.

    Reads the period's records and one index entry per approved record of all time (on
    ix_service_record_volunteer_started), however long the volunteer has served.
    """
    zone = local_zone()
    lo, hi = local_midnight(start, zone), local_midnight(end + timedelta(days=1), zone)
    approved = sa.and_(
        ServiceRecord.volunteer_id == volunteer.id, ServiceRecord.status == "approved"
    )
    in_period = sa.and_(ServiceRecord.started_at >= lo, ServiceRecord.started_at < hi)
    sums = db.session.execute(
        sa.select(
            ServiceRecord.source,
            sa.func.sum(ServiceRecord.minutes),
            sa.func.count(),
            sa.func.sum(ServiceRecord.minutes).filter(in_period),
            sa.func.count().filter(in_period),
        )
        .where(approved)
        .group_by(ServiceRecord.source)
    ).all()
    records = db.session.execute(
        sa.select(
            ServiceRecord.started_at,
            ServiceRecord.content,
            ServiceRecord.minutes,
            ServiceRecord.source,
            ServiceRecord.decided_by,
        )
        .where(approved, in_period)
        .order_by(ServiceRecord.started_at, ServiceRecord.id)
    ).all()
    return {
        **_teams_and_notes(volunteer),
        "start": start,
        "end": end,
        "approved": [
            ApprovedService(
                r.started_at.astimezone(zone).date(), r.content, r.minutes, r.source, r.decided_by
            )
            for r in records
        ],
        "all_time": _by_source([(source, m, n) for source, m, n, _, _ in sums]),
        "in_period": _by_source([(source, m, n) for source, _, _, m, n in sums]),
    }


def team_names(community_id: int) -> set[str]:
    """Names of the community's teams (an import row names its team)."""
    return set(
        db.session.execute(sa.select(Team.name).where(Team.community_id == community_id)).scalars()
    )


def phones(community_id: int) -> set[str]:
    """Phone numbers of the community's volunteers (registered already)."""
    return set(
        db.session.execute(
            sa.select(Volunteer.phone).where(Volunteer.community_id == community_id)
        ).scalars()
    )


def teams_context(community_id: int) -> dict[str, Any]:
    """The community's teams, their members and focus lists, and its active volunteers (whom
    a team's form may add): one community's, the page is worked a community at a time."""
    teams = list(
        db.session.execute(
            sa.select(Team).where(Team.community_id == community_id).order_by(Team.name)
        ).scalars()
    )
    ids = [t.id for t in teams]
    members: dict[int, list[TeamMember]] = {t.id: [] for t in teams}
    for member in db.session.execute(
        sa.select(TeamMember).where(TeamMember.team_id.in_(ids))
    ).scalars():
        members[member.team_id].append(member)
    focus = {
        f.team_id: f
        for f in db.session.execute(
            sa.select(TeamFocus).where(TeamFocus.team_id.in_(ids))
        ).scalars()
    }
    volunteers = db.session.execute(
        sa.select(Volunteer)
        .where(Volunteer.community_id == community_id, Volunteer.is_active)
        .order_by(Volunteer.name, Volunteer.id)
    ).scalars()
    return {"teams": teams, "members": members, "focus": focus, "volunteers": list(volunteers)}


def skilled_members(team_ids: list[int], words: set[str]) -> dict[int, int]:
    """Per team: its active members whose skills name one of `words` (for dispatch)."""
    skilled: dict[int, int] = {}
    members = db.session.execute(
        sa.select(TeamMember.team_id, Volunteer.skills)
        .join(Volunteer, TeamMember.volunteer_id == Volunteer.id)
        .where(TeamMember.team_id.in_(team_ids), Volunteer.is_active)
    )
    for team_id, skills in members:
        if words & set(skills or []):
            skilled[team_id] = skilled.get(team_id, 0) + 1
    return skilled


# --- service hours ---------------------------------------------------------------------------


def field_volunteers(
    team_scope: sa.ColumnElement[bool], whole: frozenset[int]
) -> sa.ColumnElement[bool]:
    """Volunteers of the `whole` communities and members of the teams in `team_scope`."""
    teams = sa.select(Team.id).where(team_scope)
    members = sa.select(TeamMember.volunteer_id).where(TeamMember.team_id.in_(teams))
    return sa.or_(Volunteer.community_id.in_(whole), Volunteer.id.in_(members))


def field_volunteer(volunteer_id: int | None, allowed: sa.ColumnElement[bool]) -> Volunteer | None:
    """The volunteer of this id when `allowed` lets the user record their hours."""
    return db.session.execute(
        sa.select(Volunteer).where(Volunteer.id == volunteer_id, allowed)
    ).scalar_one_or_none()


def job_id_in(job_id: int, job_scope: sa.ColumnElement[bool]) -> int | None:
    """The id of the job when it is in `job_scope`."""
    return db.session.execute(
        sa.select(HelpRequest.id).where(HelpRequest.id == job_id, job_scope)
    ).scalar_one_or_none()


def job_in(job_id: int | None, job_scope: sa.ColumnElement[bool]) -> HelpRequest | None:
    """The job of this id when it is in `job_scope`."""
    return db.session.execute(
        sa.select(HelpRequest).where(HelpRequest.id == job_id, job_scope)
    ).scalar_one_or_none()


def team_id_in(team_id: int, team_scope: sa.ColumnElement[bool]) -> int | None:
    """The id of the team when it is in `team_scope`."""
    return db.session.execute(
        sa.select(Team.id).where(Team.id == team_id, team_scope)
    ).scalar_one_or_none()


AWAITING_PAGE = 50
"""Records awaiting a decision shown per page of the hours page."""
AWAITING_COUNTED = 1000
"""The awaiting records are counted up to this many; past it the page says "1000+"."""


def _awaiting(scope: frozenset[int], forgotten_before: datetime) -> Clause:
    """Records awaiting a decision: checked out, or a check-in forgotten (still open)."""
    return sa.and_(
        ServiceRecord.community_id.in_(scope),
        sa.or_(
            ServiceRecord.status == "pending",
            sa.and_(ServiceRecord.status == "open", ServiceRecord.started_at < forgotten_before),
        ),
    )


def awaiting_page(
    scope: frozenset[int], forgotten_before: datetime, after: str | None
) -> tuple[list[ServiceRecord], str | None, int]:
    """One page of the records awaiting a decision in (source, started_at, id) order, the
    cursor of the next page, and how many await in all (counted up to AWAITING_COUNTED + 1): a
    keyset, so a page reads what it shows however many records wait."""
    stmt = sa.select(ServiceRecord).where(_awaiting(scope, forgotten_before))
    if after:
        source, at, record_id = _decode_key(after, (str, str, int))
        try:
            started = datetime.fromisoformat(at)
        except ValueError as exc:
            raise InvalidInput(gettext("翻页链接有误，请从第一页开始"), "bad_cursor") from exc
        stmt = stmt.where(
            sa.tuple_(ServiceRecord.source, ServiceRecord.started_at, ServiceRecord.id)
            > sa.tuple_(source, started, record_id)
        )
    stmt = stmt.order_by(ServiceRecord.source, ServiceRecord.started_at, ServiceRecord.id)
    found = list(db.session.execute(stmt.limit(AWAITING_PAGE + 1)).scalars())
    page = found[:AWAITING_PAGE]
    last = page[-1] if len(found) > AWAITING_PAGE else None
    cursor = _encode_key([last.source, last.started_at.isoformat(), last.id]) if last else None
    return page, cursor, _counted(_awaiting(scope, forgotten_before), AWAITING_COUNTED)


def _job_rows(where: list[Clause], order: sa.UnaryExpression[datetime], most: int) -> list[Any]:
    """The first `most` jobs of `where` in `order`, as the hours forms name them (id, status,
    category, room, team, hours claimed): plain rows, not requests with their relations."""
    stmt = (
        sa.select(
            HelpRequest.id,
            HelpRequest.status,
            HelpRequest.hours,
            Category.name_zh.label("category"),
            Room.code.label("room"),
            Team.name.label("team"),
        )
        .join(Category, HelpRequest.category_id == Category.id)
        .join(Room, HelpRequest.room_id == Room.id)
        .outerjoin(Team, HelpRequest.team_id == Team.id)
        .where(*where)
        .order_by(order)
        .limit(most)
    )
    return list(db.session.execute(stmt).all())


def hours_desk(
    allowed: Clause,
    community_id: int,
    team_scope: Clause,
    job_scope: Clause,
    forgotten_before: datetime,
) -> dict[str, Any]:
    """What the hours page's forms offer in one community (the page records hours a community
    at a time): the active volunteers whose hours the user records (`allowed`) and their open
    check-ins (those older than `forgotten_before` await a decision instead), the jobs hours
    may be recorded on, finished jobs without hours, and the teams."""
    volunteers = list(
        db.session.execute(
            sa.select(Volunteer)
            .where(allowed, Volunteer.community_id == community_id, Volunteer.is_active)
            .order_by(Volunteer.name, Volunteer.id)
        ).scalars()
    )
    open_records = db.session.execute(
        sa.select(ServiceRecord)
        .where(
            ServiceRecord.status == "open",
            ServiceRecord.started_at >= forgotten_before,
            ServiceRecord.volunteer_id.in_([v.id for v in volunteers]),
            sa.or_(
                ServiceRecord.team_id.is_(None),
                ServiceRecord.team_id.in_(sa.select(Team.id).where(team_scope)),
            ),
        )
        .order_by(ServiceRecord.started_at)
    ).scalars()
    here = sa.and_(job_scope, HelpRequest.community_id == community_id)
    jobs = _job_rows(
        [here, HelpRequest.status.in_(HOURS_REQUEST_STATES)], HelpRequest.received_at.desc(), 100
    )
    # An anti-join (NOT EXISTS, one probe of ix_service_record_request_id per candidate)
    # walking the latest changed requests, not a NOT IN over every service record.
    recorded = (
        sa.select(ServiceRecord.id)
        .where(ServiceRecord.request_id == HelpRequest.id, ServiceRecord.status != "declined")
        .exists()
    )
    done = [here, HelpRequest.status.in_(DONE_STATES), HelpRequest.team_id.is_not(None), ~recorded]
    finished = _job_rows(done, HelpRequest.updated_at.desc(), 50)
    teams = db.session.execute(
        sa.select(Team).where(team_scope, Team.community_id == community_id).order_by(Team.name)
    ).scalars()
    return {
        "volunteers": volunteers,
        "open_records": list(open_records),
        "jobs": jobs,
        "finished": finished,
        "teams": list(teams),
    }


def hours_decisions(
    scope: frozenset[int], forgotten_before: datetime, after: str | None = None
) -> dict[str, Any]:
    """The hours of the `scope` communities to decide: one page (after `after`) of the records
    awaiting a decision (a forgotten check-out among them, still open: the nightly job or the
    decision closes it) and the latest decided."""
    awaiting, next_after, awaiting_total = awaiting_page(scope, forgotten_before, after)
    decided = db.session.execute(
        sa.select(ServiceRecord)
        .where(
            ServiceRecord.status.in_(("approved", "declined")),
            ServiceRecord.community_id.in_(scope),
        )
        .order_by(ServiceRecord.decided_at.desc())
        .limit(20)
    ).scalars()
    return {
        "pending": awaiting,
        "next_after": next_after,
        "awaiting_total": awaiting_total,
        "awaiting_counted": AWAITING_COUNTED,
        "decided": list(decided),
    }
