"""What the volunteer's phone pages read: their jobs, one job, their hours and points, their
team's queue (for a lead), and the rosters the dispatch form picks from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from server.audit import services as audit
from server.audit.actor import Actor
from server.auth.models import User
from server.carewatch.models import CarePlan, CareStep
from server.carewatch.services import last_signs
from server.communities.models import Building, Community
from server.dispatch.models import Team
from server.extensions import db
from server.field.models import (
    BuildingCaptain,
    JobAssignee,
    SkillWord,
    VolunteerDay,
    VolunteerUser,
)
from server.field.services import ON_THE_JOB, active_link
from server.localtime import local_today, local_zone
from server.people.models import Resident
from server.requests.models import Category, HelpRequest
from server.volunteers.models import ServiceRecord, TeamMember, Volunteer
from sync import statuses

PRIORITY_ORDER = sa.case(
    (HelpRequest.priority == "emergency", 0), (HelpRequest.priority == "high", 1), else_=2
)
"""Most urgent first: emergencies, then high priority, then the oldest."""
JOBS_SHOWN = 50


@dataclass(frozen=True)
class MyJob:
    """A job on the volunteer's list: the request and where they stand on it."""

    req: HelpRequest
    state: str
    """The volunteer's state on it; `offered` also for a team job nobody was named on."""


def _my_team_ids(volunteer_id: int) -> list[int]:
    return list(
        db.session.execute(
            sa.select(TeamMember.team_id).where(TeamMember.volunteer_id == volunteer_id)
        ).scalars()
    )


def volunteer_by_id(volunteer_id: int) -> Volunteer:
    """The signed-in phone's volunteer."""
    return db.session.get_one(Volunteer, volunteer_id)


def my_jobs(volunteer: Volunteer) -> list[MyJob]:
    """Open jobs dispatched to the volunteer, or to their team naming nobody; most urgent first."""
    mine = sa.select(JobAssignee.request_id).where(
        JobAssignee.volunteer_id == volunteer.id, JobAssignee.state.in_(ON_THE_JOB)
    )
    named = sa.select(JobAssignee.request_id).where(
        JobAssignee.request_id == HelpRequest.id, JobAssignee.state != "withdrawn"
    )
    team_open = sa.and_(
        HelpRequest.status == "dispatched",
        HelpRequest.team_id.in_(_my_team_ids(volunteer.id)),
        ~sa.exists(named),
    )
    rows = db.session.execute(
        sa.select(HelpRequest)
        .where(
            HelpRequest.community_id == volunteer.community_id,
            HelpRequest.status.in_(statuses.ACTIVE_WORK),
            sa.or_(HelpRequest.id.in_(mine), team_open),
        )
        .order_by(PRIORITY_ORDER, HelpRequest.received_at, HelpRequest.id)
        .limit(JOBS_SHOWN)
    ).scalars()
    jobs = list(rows)
    states = dict(
        db.session.execute(
            sa.select(JobAssignee.request_id, JobAssignee.state).where(
                JobAssignee.volunteer_id == volunteer.id,
                JobAssignee.request_id.in_([r.id for r in jobs]),
            )
        ).all()
    )
    return [MyJob(r, states.get(r.id, "offered")) for r in jobs]


def free_today(volunteer: Volunteer) -> bool:
    """Whether the volunteer said 今天有空 today."""
    return db.session.get(VolunteerDay, (volunteer.id, local_today())) is not None


def my_job(volunteer: Volunteer, request_id: int) -> MyJob | None:
    """One job the volunteer may see: on their list, or one they were on (done, declined,
    withdrawn: shown without the resident's details)."""
    for job in my_jobs(volunteer):
        if job.req.id == request_id:
            return job
    assignee = db.session.execute(
        sa.select(JobAssignee).where(
            JobAssignee.request_id == request_id, JobAssignee.volunteer_id == volunteer.id
        )
    ).scalar_one_or_none()
    if assignee is None:
        return None
    return MyJob(db.session.get_one(HelpRequest, request_id), assignee.state)


@dataclass(frozen=True)
class Doorstep:
    """What a volunteer on an open, accepted job needs at the door."""

    address: str
    phone: str | None
    name: str | None
    emergency_name: str | None
    emergency_phone: str | None
    mobility: str | None
    access_notes: str | None


def doorstep(job: MyJob, volunteer: Volunteer) -> Doorstep | None:
    """The resident's address, phone, emergency contact, mobility and access notes, only while
    the job is open and the volunteer is on it (accepted or on site); each view is audited."""
    req = job.req
    if job.state not in ("accepted", "on_site") or req.status not in statuses.ACTIVE_WORK:
        return None
    community = db.session.get_one(Community, req.community_id)
    resident = db.session.get(Resident, req.resident_id) if req.resident_id else None
    if resident is not None and resident.deleted_at is not None:
        resident = None
    audit.record(
        Actor.volunteer(volunteer.name, volunteer.id),
        req.community_id,
        "view",
        f"job #{req.id}: address, phone, emergency contact, access notes",
        "volunteer on the job",
        resident_id=resident.id if resident else None,
        request_id=req.id,
    )
    return Doorstep(
        address=f"{community.name} {req.room.code}",
        phone=(resident.phone if resident else None) or req.phone,
        name=resident.name if resident else None,
        emergency_name=resident.emergency_contact_name if resident else None,
        emergency_phone=resident.emergency_contact_phone if resident else None,
        mobility=resident.mobility if resident else None,
        access_notes=resident.access_notes if resident else None,
    )


def fingerprint(jobs: list[MyJob], team_jobs: list[HelpRequest]) -> str:
    """Changes when the lists would look different (the page polls it to show new jobs)."""
    latest = max((r.updated_at for r in [j.req for j in jobs] + team_jobs), default=None)
    stamp = latest.isoformat() if isinstance(latest, datetime) else "-"
    text = f"{stamp}:" + ",".join(f"{j.req.id}{j.state}" for j in jobs)
    text += ":" + ",".join(str(r.id) for r in team_jobs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- a team lead's queue --------------------------------------------------------------------


def led_team_ids(volunteer: Volunteer) -> list[int]:
    """Teams the volunteer leads: as the member marked lead, or as the linked console user
    who is the team's lead."""
    as_member = sa.select(TeamMember.team_id).where(
        TeamMember.volunteer_id == volunteer.id, TeamMember.is_lead
    )
    user_ids = sa.select(VolunteerUser.user_id).where(VolunteerUser.volunteer_id == volunteer.id)
    ids = db.session.execute(
        sa.select(Team.id).where(
            Team.community_id == volunteer.community_id,
            Team.is_active,
            sa.or_(Team.id.in_(as_member), Team.lead_user_id.in_(user_ids)),
        )
    ).scalars()
    return list(ids)


@dataclass(frozen=True)
class TeamJob:
    """A job of the lead's team, and who is on it."""

    req: HelpRequest
    people: list[tuple[str, str]]
    """(name, state) of each volunteer named on it."""


def team_queue(team_ids: list[int]) -> list[TeamJob]:
    """Open jobs of these teams, most urgent first, with who is on each."""
    if not team_ids:
        return []
    reqs = list(
        db.session.execute(
            sa.select(HelpRequest)
            .where(HelpRequest.team_id.in_(team_ids), HelpRequest.status.in_(statuses.ACTIVE_WORK))
            .order_by(PRIORITY_ORDER, HelpRequest.received_at, HelpRequest.id)
            .limit(JOBS_SHOWN)
        ).scalars()
    )
    people: dict[int, list[tuple[str, str]]] = {}
    for request_id, name, state in db.session.execute(
        sa.select(JobAssignee.request_id, Volunteer.name, JobAssignee.state)
        .join(Volunteer, Volunteer.id == JobAssignee.volunteer_id)
        .where(JobAssignee.request_id.in_([r.id for r in reqs]), JobAssignee.state != "withdrawn")
        .order_by(Volunteer.name)
    ):
        people.setdefault(request_id, []).append((name, state))
    return [TeamJob(r, people.get(r.id, [])) for r in reqs]


# --- hours and points -----------------------------------------------------------------------


@dataclass(frozen=True)
class MyHours:
    """Minutes approved and waiting for approval, and the latest records."""

    approved_minutes: int
    pending_minutes: int
    records: list[ServiceRecord]


def my_hours(volunteer: Volunteer, shown: int = 30) -> MyHours:
    """The volunteer's hours: approved and pending sums, the latest records first."""
    totals = db.session.execute(
        sa.select(ServiceRecord.status, sa.func.coalesce(sa.func.sum(ServiceRecord.minutes), 0))
        .where(
            ServiceRecord.volunteer_id == volunteer.id,
            ServiceRecord.status.in_(("approved", "pending")),
        )
        .group_by(ServiceRecord.status)
    ).all()
    sums = {status: int(total or 0) for status, total in totals}
    records = db.session.execute(
        sa.select(ServiceRecord)
        .where(ServiceRecord.volunteer_id == volunteer.id)
        .order_by(ServiceRecord.started_at.desc(), ServiceRecord.id.desc())
        .limit(shown)
    ).scalars()
    return MyHours(sums.get("approved", 0), sums.get("pending", 0), list(records))


# --- the dispatch form's rosters ------------------------------------------------------------


WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")


def on_duty(availability: str, today: date) -> bool | None:
    """Whether the weekly availability as typed (随时, 周末, 工作日晚上, 周一 周三…) covers today;
    None when nothing was typed or nothing in it is understood."""
    text = availability.strip()
    if not text:
        return None
    weekday = WEEKDAYS[today.weekday()]
    if "随时" in text or "每天" in text:
        return True
    if f"周{weekday}" in text or f"星期{weekday}" in text:
        return True
    if "周末" in text and today.weekday() >= 5:
        return True
    if "工作日" in text and today.weekday() < 5:
        return True
    understood = ("周", "星期", "工作日")
    return False if any(word in text for word in understood) else None


@dataclass(frozen=True)
class RosterEntry:
    """A team member the dispatch form offers, with what their rank is based on."""

    id: int
    name: str
    skills: list[str]
    open_jobs: int
    skilled: bool
    """Their skills name the request's category (its code, a name, or a word of the
    community's list for it)."""
    free_today: bool
    """They said 今天有空 on their own page today."""
    on_duty: bool | None
    """Their weekly availability covers today (None: not known)."""
    served_before: bool
    """They served this resident (or, with no profile linked, this room) before."""
    captain: bool = False
    """They are the captain (楼长) of the request's building: offered first."""


def _served_before(req: HelpRequest) -> set[int]:
    same = (
        HelpRequest.resident_id == req.resident_id
        if req.resident_id is not None
        else HelpRequest.room_id == req.room_id
    )
    earlier = sa.select(HelpRequest.id).where(same, HelpRequest.id != req.id)
    return set(
        db.session.execute(
            sa.select(ServiceRecord.volunteer_id).where(
                ServiceRecord.request_id.in_(earlier), ServiceRecord.status != "declined"
            )
        ).scalars()
    )


def rosters(req: HelpRequest, team_ids: list[int]) -> dict[int, list[RosterEntry]]:
    """Per team: its active members for dispatching `req`, best first: the captain (楼长) of
    its building, free today or on duty,
    served this resident before, skilled for the category, then the fewest open jobs."""
    if not team_ids:
        return {}
    load = (
        sa.select(JobAssignee.volunteer_id, sa.func.count().label("n"))
        .join(HelpRequest, HelpRequest.id == JobAssignee.request_id)
        .where(JobAssignee.state.in_(ON_THE_JOB), HelpRequest.status.in_(statuses.ACTIVE_WORK))
        .group_by(JobAssignee.volunteer_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(TeamMember.team_id, Volunteer, sa.func.coalesce(load.c.n, 0))
        .join(Volunteer, Volunteer.id == TeamMember.volunteer_id)
        .outerjoin(load, load.c.volunteer_id == Volunteer.id)
        .where(TeamMember.team_id.in_(team_ids), Volunteer.is_active)
    ).all()
    today = local_today()
    free = set(
        db.session.execute(
            sa.select(VolunteerDay.volunteer_id).where(
                VolunteerDay.day == today,
                VolunteerDay.volunteer_id.in_([v.id for _, v, _ in rows]),
            )
        ).scalars()
    )
    served = _served_before(req)
    words = category_words(req.community_id, req.category)
    captains = captains_of_building(req.room.building_id)
    found: dict[int, list[RosterEntry]] = {}
    for team_id, volunteer, n in rows:
        skills = list(volunteer.skills or [])
        found.setdefault(team_id, []).append(
            RosterEntry(
                volunteer.id,
                volunteer.name,
                skills,
                int(n),
                skilled=bool(words & set(skills)),
                free_today=volunteer.id in free,
                on_duty=on_duty(volunteer.availability or "", today),
                served_before=volunteer.id in served,
                captain=volunteer.id in captains,
            )
        )
    for entries in found.values():
        entries.sort(
            key=lambda e: (
                not e.captain,
                not (e.free_today or e.on_duty),
                not e.served_before,
                not e.skilled,
                e.open_jobs,
                e.name,
            )
        )
    return found


def assignees_of(request_id: int) -> list[tuple[str, str, str | None]]:
    """(name, state, reason) of everyone dispatched on the request, for its page."""
    return [
        (name, state, reason)
        for name, state, reason in db.session.execute(
            sa.select(Volunteer.name, JobAssignee.state, JobAssignee.reason)
            .join(Volunteer, Volunteer.id == JobAssignee.volunteer_id)
            .where(JobAssignee.request_id == request_id)
            .order_by(JobAssignee.assigned_at, Volunteer.name)
        ).all()
    ]


def card_context(volunteer: Volunteer) -> dict[str, Any]:
    """The volunteer card page: whether a link is active, the linked console user, and the
    buildings they captain."""
    link = db.session.execute(
        sa.select(VolunteerUser).where(VolunteerUser.volunteer_id == volunteer.id)
    ).scalar_one_or_none()
    user = db.session.get(User, link.user_id) if link is not None else None
    return {
        "volunteer": volunteer,
        "link": active_link(volunteer.id),
        "linked_user": user,
        "buildings": captained_buildings(volunteer.id),
    }


# --- skills matched to categories, and building captains ------------------------------------


def category_words(community_id: int, category: Category) -> set[str]:
    """The words a volunteer's skills may name to count for the category in the community:
    its code and names, and the community's word list for it."""
    listed = db.session.execute(
        sa.select(SkillWord.word).where(
            SkillWord.community_id == community_id, SkillWord.category_id == category.id
        )
    ).scalars()
    return {category.code, category.name_zh, category.name_en, *listed}


@dataclass(frozen=True)
class CategoryWords:
    """A category and the community's skill words counting for it."""

    category: Category
    words: list[SkillWord]


def skill_word_list(community_id: int) -> list[CategoryWords]:
    """The community's word list, per active category in the kiosk's order."""
    words: dict[int, list[SkillWord]] = {}
    for row in db.session.execute(
        sa.select(SkillWord)
        .where(SkillWord.community_id == community_id)
        .order_by(SkillWord.word, SkillWord.id)
    ).scalars():
        words.setdefault(row.category_id, []).append(row)
    categories = db.session.execute(
        sa.select(Category).where(Category.is_active.is_(True)).order_by(Category.sort_order)
    ).scalars()
    return [CategoryWords(c, words.get(c.id, [])) for c in categories]


def skill_word_in(community_ids: frozenset[int], word_id: int) -> SkillWord | None:
    """A word of the list, if it belongs to one of the communities."""
    return db.session.execute(
        sa.select(SkillWord).where(
            SkillWord.id == word_id, SkillWord.community_id.in_(community_ids)
        )
    ).scalar_one_or_none()


def category_by_code(code: str) -> Category | None:
    """An active category by its code."""
    return db.session.execute(
        sa.select(Category).where(Category.code == code, Category.is_active.is_(True))
    ).scalar_one_or_none()


def captains_of_building(building_id: int) -> set[int]:
    """Ids of the volunteers who captain the building."""
    return set(
        db.session.execute(
            sa.select(BuildingCaptain.volunteer_id).where(
                BuildingCaptain.building_id == building_id
            )
        ).scalars()
    )


def captain_members(team_ids: list[int], building_id: int) -> dict[int, int]:
    """Per team: its active members who captain the building."""
    rows = db.session.execute(
        sa.select(TeamMember.team_id, sa.func.count())
        .join(BuildingCaptain, BuildingCaptain.volunteer_id == TeamMember.volunteer_id)
        .join(Volunteer, Volunteer.id == TeamMember.volunteer_id)
        .where(
            TeamMember.team_id.in_(team_ids),
            BuildingCaptain.building_id == building_id,
            Volunteer.is_active,
        )
        .group_by(TeamMember.team_id)
    )
    return {team_id: int(n) for team_id, n in rows}


def captained_buildings(volunteer_id: int) -> list[str]:
    """Codes of the buildings the volunteer captains, sorted."""
    return list(
        db.session.execute(
            sa.select(Building.code)
            .join(BuildingCaptain, BuildingCaptain.building_id == Building.id)
            .where(BuildingCaptain.volunteer_id == volunteer_id)
            .order_by(Building.code)
        ).scalars()
    )


# --- 我的守望 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """An elder the volunteer looks after, as their phone shows them: room and name only (no
    health details), the day of the last sign of life, the visit task open for this volunteer
    and whether the social workers took over (a later step is open)."""

    resident_id: int
    room: str
    name: str
    last_sign: date | None
    task_since: datetime | None
    """When the open step-1 visit task assigned to this volunteer, with no outcome reported
    yet, was raised."""
    escalated: int | None
    """The highest open step beyond the visit (2: the social worker's call, 3: the family)."""


def _plans_of(volunteer: Volunteer) -> list[CarePlan]:
    return list(
        db.session.execute(
            sa.select(CarePlan)
            .join(Resident, Resident.id == CarePlan.resident_id)
            .where(
                CarePlan.community_id == volunteer.community_id,
                CarePlan.is_watched,
                sa.or_(CarePlan.captain_id == volunteer.id, CarePlan.buddy_id == volunteer.id),
                Resident.deleted_at.is_(None),
            )
            .order_by(CarePlan.id)
        ).scalars()
    )


def watches_anyone(volunteer: Volunteer) -> bool:
    """Whether the volunteer is a building captain or paired volunteer in a watched plan."""
    return bool(_plans_of(volunteer))


def my_watch(volunteer: Volunteer, resident_id: int | None = None) -> list[Watched]:
    """The elders whose care plan names the volunteer (or only `resident_id`, when given),
    by room; each view is audited."""
    plans = [p for p in _plans_of(volunteer) if resident_id in (None, p.resident_id)]
    if not plans:
        return []
    signs = last_signs(plans)
    steps: dict[int, list[CareStep]] = {}
    for step in db.session.execute(
        sa.select(CareStep)
        .where(CareStep.plan_id.in_([p.id for p in plans]), CareStep.closed_at.is_(None))
        .order_by(CareStep.step)
    ).scalars():
        steps.setdefault(step.plan_id, []).append(step)
    residents = {
        r.id: r
        for r in db.session.execute(
            sa.select(Resident).where(Resident.id.in_([p.resident_id for p in plans]))
        ).scalars()
    }
    actor = Actor.volunteer(volunteer.name, volunteer.id)
    found = []
    for plan in plans:
        resident = residents[plan.resident_id]
        open_steps = steps.get(plan.id, [])
        mine = [s for s in open_steps if s.step == 1 and s.volunteer_id == volunteer.id]
        task = next((s for s in mine if s.outcome is None), None)  # not yet reported on
        later = [s.step for s in open_steps if s.step > 1]
        last = signs.get(plan.id)
        found.append(
            Watched(
                resident_id=resident.id,
                room=resident.room.code if resident.room is not None else "—",
                name=resident.name,
                last_sign=last[0].astimezone(local_zone()).date() if last else None,
                task_since=task.created_at if task is not None else None,
                escalated=max(later) if later else None,
            )
        )
        audit.record(
            actor,
            plan.community_id,
            "view",
            "care watch: room, name, last sign of life",
            "volunteer in the care plan",
            resident_id=resident.id,
        )
    return sorted(found, key=lambda w: (w.task_since is None, w.room, w.name))
