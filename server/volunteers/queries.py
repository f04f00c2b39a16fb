"""What the volunteer pages read: volunteers, teams, service records and the jobs hours are
recorded on. Reads only; the signed-in user's scope comes in as arguments."""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext

from server.communities.models import Community
from server.dispatch.models import Team
from server.errors import InvalidInput
from server.extensions import db
from server.localtime import local_midnight, local_zone
from server.requests.models import HelpRequest
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


def volunteers_in(scope: frozenset[int], community_id: int | None) -> list[Volunteer]:
    """Volunteers of these communities (or of one of them), by name."""
    query = sa.select(Volunteer).where(Volunteer.community_id.in_(scope))
    if community_id is not None:
        query = query.where(Volunteer.community_id == community_id)
    volunteers = db.session.execute(query.order_by(Volunteer.name, Volunteer.id)).scalars()
    return list(volunteers)


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


def teams_context(scope: frozenset[int]) -> dict[str, Any]:
    """Teams of these communities, their members and focus lists, and the active volunteers
    (also by community: a team's form lists its own community's, without a filter of the
    whole city's volunteers per team)."""
    teams = list(
        db.session.execute(
            sa.select(Team).where(Team.community_id.in_(scope)).order_by(Team.name)
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
    volunteers = list(
        db.session.execute(
            sa.select(Volunteer)
            .where(Volunteer.community_id.in_(scope), Volunteer.is_active)
            .order_by(Volunteer.name)
        ).scalars()
    )
    by_community: defaultdict[int, list[Volunteer]] = defaultdict(list)
    for volunteer in volunteers:
        by_community[volunteer.community_id].append(volunteer)
    return {
        "teams": teams,
        "members": members,
        "focus": focus,
        "volunteers": volunteers,
        "volunteers_by_community": by_community,
    }


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


def _encode_after(record: ServiceRecord) -> str:
    key = [record.source, record.started_at.isoformat(), record.id]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_after(text: str) -> tuple[str, datetime, int]:
    try:
        raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())
        source, at, record_id = json.loads(raw)
        if not isinstance(source, str) or isinstance(record_id, bool):
            raise TypeError(source)
        return source, datetime.fromisoformat(at), int(record_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidInput(gettext("翻页链接有误，请从第一页开始"), "bad_cursor") from exc


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
    cursor of the next page, and how many await in all (counted up to AWAITING_COUNTED + 1):
    a keyset, so a page reads what it shows however many records wait."""
    stmt = sa.select(ServiceRecord).where(_awaiting(scope, forgotten_before))
    if after:
        source, at, record_id = _decode_after(after)
        stmt = stmt.where(
            sa.tuple_(ServiceRecord.source, ServiceRecord.started_at, ServiceRecord.id)
            > sa.tuple_(source, at, record_id)
        )
    stmt = stmt.order_by(ServiceRecord.source, ServiceRecord.started_at, ServiceRecord.id)
    found = list(db.session.execute(stmt.limit(AWAITING_PAGE + 1)).scalars())
    more = len(found) > AWAITING_PAGE
    counted = (
        sa.select(ServiceRecord.id)
        .where(_awaiting(scope, forgotten_before))
        .limit(AWAITING_COUNTED + 1)
        .subquery()
    )
    total = db.session.execute(sa.select(sa.func.count()).select_from(counted)).scalar_one()
    page = found[:AWAITING_PAGE]
    return page, _encode_after(page[-1]) if more else None, int(total)


def hours_context(
    allowed: sa.ColumnElement[bool],
    scope: frozenset[int],
    team_scope: sa.ColumnElement[bool],
    job_scope: sa.ColumnElement[bool],
    forgotten_before: datetime,
    after: str | None = None,
) -> dict[str, Any]:
    """What the hours page lists; check-ins older than `forgotten_before` await a decision.

    The volunteers whose hours the user records (`allowed`), by community, and their open
    check-ins; one page (after `after`) of the records of the `scope` communities awaiting a
    decision (a forgotten check-out among them, still open) and those decided lately; the jobs
    hours may be recorded on, finished jobs without hours, and the teams. Reads only: a
    forgotten check-out is closed by the nightly job or when it is decided.
    """
    volunteers = list(
        db.session.execute(
            sa.select(Volunteer).where(allowed, Volunteer.is_active).order_by(Volunteer.name)
        ).scalars()
    )
    visible = [v.id for v in volunteers]
    open_records = db.session.execute(
        sa.select(ServiceRecord)
        .where(
            ServiceRecord.status == "open",
            ServiceRecord.started_at >= forgotten_before,
            ServiceRecord.volunteer_id.in_(visible),
            sa.or_(
                ServiceRecord.team_id.is_(None),
                ServiceRecord.team_id.in_(sa.select(Team.id).where(team_scope)),
            ),
        )
        .order_by(ServiceRecord.started_at)
    ).scalars()
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
    jobs = db.session.execute(
        sa.select(HelpRequest)
        .where(job_scope, HelpRequest.status.in_(HOURS_REQUEST_STATES))
        .order_by(HelpRequest.received_at.desc())
        .limit(100)
    ).scalars()
    # An anti-join (NOT EXISTS, one probe of ix_service_record_request_id per candidate)
    # walking the latest changed requests, not a NOT IN over every service record.
    recorded = (
        sa.select(ServiceRecord.id)
        .where(ServiceRecord.request_id == HelpRequest.id, ServiceRecord.status != "declined")
        .exists()
    )
    finished = db.session.execute(
        sa.select(HelpRequest)
        .where(
            job_scope,
            HelpRequest.status.in_(DONE_STATES),
            HelpRequest.team_id.is_not(None),
            ~recorded,
        )
        .order_by(HelpRequest.updated_at.desc())
        .limit(50)
    ).scalars()
    teams = db.session.execute(sa.select(Team).where(team_scope).order_by(Team.name)).scalars()
    by_community: defaultdict[int, list[Volunteer]] = defaultdict(list)
    for volunteer in volunteers:
        by_community[volunteer.community_id].append(volunteer)
    return {
        "volunteers": volunteers,
        "volunteers_by_community": by_community,
        "next_after": next_after,
        "awaiting_total": awaiting_total,
        "awaiting_counted": AWAITING_COUNTED,
        "open_records": list(open_records),
        "pending": awaiting,
        "decided": list(decided),
        "jobs": list(jobs),
        "finished": list(finished),
        "teams": list(teams),
    }
