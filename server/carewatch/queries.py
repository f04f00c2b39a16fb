"""What the watch board, the needs map's overlay and the reports read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from server.audit import services as audit
from server.audit.actor import Actor
from server.auth import access
from server.carewatch.models import CarePlan, CareStep, SignOfLife
from server.carewatch.services import due_at, last_signs
from server.communities.models import Room
from server.errors import NotFound
from server.extensions import db
from server.people.models import Resident
from server.timeutil import utcnow
from server.volunteers.models import Volunteer


def load_resident(resident_id: int) -> Resident:
    """A living profile in the user's communities (for this endpoint), or 404."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or resident.deleted_at is not None:
        raise NotFound(gettext("没有这位居民"))
    access.require_community(resident.community_id)
    return resident


def volunteers_of(community_id: int) -> list[Volunteer]:
    """The community's active volunteers, by name (for the plan's captain and buddy)."""
    return list(
        db.session.execute(
            sa.select(Volunteer)
            .where(Volunteer.community_id == community_id, Volunteer.is_active)
            .order_by(Volunteer.name)
        ).scalars()
    )


@dataclass
class BoardRow:
    """One watched resident on the board."""

    plan: CarePlan
    resident: Resident
    room: str
    last_at: datetime | None
    last_channel: str | None
    due: datetime
    step: CareStep | None
    """The highest open step, if the follow-up is under way."""
    is_quiet: bool

    @property
    def is_overdue(self) -> bool:
        """No sign of life within the rhythm and its grace."""
        return not self.is_quiet and (self.step is not None or self.due <= utcnow())

    def risk(self) -> tuple[int, int, float]:
        """Sort key, highest risk first: the step reached (urgent first), then how late."""
        step = self.step.step if self.step is not None else 0
        urgent = 1 if self.step is not None and self.step.is_urgent else 0
        late = (utcnow() - self.due).total_seconds() if not self.is_quiet else -1e12
        return (-step, -urgent, -late)


def board(community_id: int) -> list[BoardRow]:
    """Everyone watched in the community, highest risk first (a fixed number of queries)."""
    now = utcnow()
    grace = int(current_app.config["LINLI_CARE_GRACE_HOURS"])
    pairs = db.session.execute(
        sa.select(CarePlan, Resident)
        .join(Resident, Resident.id == CarePlan.resident_id)
        .where(CarePlan.community_id == community_id, CarePlan.is_watched)
    ).all()
    plans = [plan for plan, _resident in pairs]
    signs = last_signs(plans)
    steps: dict[int, CareStep] = {}
    for step in db.session.execute(
        sa.select(CareStep)
        .where(CareStep.community_id == community_id, CareStep.closed_at.is_(None))
        .order_by(CareStep.step)
    ).scalars():
        steps[step.plan_id] = step
    rows = []
    for plan, resident in pairs:
        last = signs.get(plan.id)
        rows.append(
            BoardRow(
                plan=plan,
                resident=resident,
                room=resident.room.code if resident.room is not None else "",
                last_at=last[0] if last else None,
                last_channel=last[1] if last else None,
                due=due_at(plan, last[0] if last else None, grace),
                step=steps.get(plan.id),
                is_quiet=plan.quiet_until is not None and plan.quiet_until > now,
            )
        )
    rows.sort(key=BoardRow.risk)
    return rows


def open_board(community_id: int, actor: Actor) -> list[BoardRow]:
    """The board of a community in the user's scope (the view is audited: it names people
    and their care)."""
    access.require_community(community_id)
    audit.record(actor, community_id, "view", "care watch board", "opened the watch board")
    return board(community_id)


def note_plan_view(resident: Resident, actor: Actor) -> None:
    """Audit the opening of a resident's care plan (it holds care details)."""
    audit.record(
        actor, resident.community_id, "view", "care plan", "opened the care plan", resident.id
    )


def resident_history(plan: CarePlan, limit: int = 30) -> tuple[list[SignOfLife], list[CareStep]]:
    """The latest signs of life and follow-up steps of a plan's resident, newest first."""
    resident = db.session.get_one(Resident, plan.resident_id)
    whose = SignOfLife.resident_id == resident.id
    if resident.room_id is not None:
        whose = sa.or_(
            whose, sa.and_(SignOfLife.resident_id.is_(None), SignOfLife.room_id == resident.room_id)
        )
    signs = db.session.execute(
        sa.select(SignOfLife).where(whose).order_by(SignOfLife.at.desc()).limit(limit)
    ).scalars()
    steps = db.session.execute(
        sa.select(CareStep)
        .where(CareStep.plan_id == plan.id)
        .order_by(CareStep.created_at.desc(), CareStep.step.desc())
        .limit(limit)
    ).scalars()
    return list(signs), list(steps)


def declined_count(community_id: int) -> int:
    """Residents of the community who declined to be watched."""
    return db.session.execute(
        sa.select(sa.func.count())
        .select_from(CarePlan)
        .where(CarePlan.community_id == community_id, CarePlan.consent == "declined")
    ).scalar_one()


def watched_per_unit(community_id: int) -> dict[tuple[str, str], int]:
    """Watched residents per (building code, unit): counts only, for the needs map."""
    from server.communities.models import Building

    rows = db.session.execute(
        sa.select(Building.code, Room.unit, sa.func.count())
        .select_from(CarePlan)
        .join(Resident, Resident.id == CarePlan.resident_id)
        .join(Room, Room.id == Resident.room_id)
        .join(Building, Building.id == Room.building_id)
        .where(
            CarePlan.community_id == community_id,
            CarePlan.is_watched,
            Resident.deleted_at.is_(None),
        )
        .group_by(Building.code, Room.unit)
    ).all()
    return {(building, unit): count for building, unit, count in rows}


def steps_between(community_id: int, start: datetime, end: datetime) -> list[CareStep]:
    """Follow-up steps of the community raised in [start, end)."""
    return list(
        db.session.execute(
            sa.select(CareStep).where(
                CareStep.community_id == community_id,
                CareStep.created_at >= start,
                CareStep.created_at < end,
            )
        ).scalars()
    )


def contact_times(
    community_id: int, start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    """For each episode that began (its rhythm missed) in [start, end) and has been answered:
    its start and the hours from the missed rhythm to the first completed contact (the first
    sign of life, or an outcome other than no answer, after it). One statement for them all."""
    episodes = (
        sa.select(CareStep.plan_id, CareStep.since)
        .where(
            CareStep.community_id == community_id,
            CareStep.since >= start,
            CareStep.since < end,
        )
        .distinct()
        .subquery()
    )
    answered = (
        sa.select(sa.func.min(SignOfLife.at))
        .where(
            sa.or_(SignOfLife.resident_id == Resident.id, SignOfLife.room_id == Resident.room_id),
            SignOfLife.outcome != "no_answer",
            SignOfLife.at >= episodes.c.since,
        )
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(episodes.c.since, answered)
        .join(CarePlan, CarePlan.id == episodes.c.plan_id)
        .join(Resident, Resident.id == CarePlan.resident_id)
        .order_by(episodes.c.plan_id.desc(), episodes.c.since.desc())
    ).all()
    return [(since, (at - since).total_seconds() / 3600) for since, at in rows if at is not None]


@dataclass(frozen=True)
class WatchSummary:
    """The care watch over a period, for the joint meeting sheet and the monthly report."""

    watched: int
    on_rhythm: int
    """Watched residents with no missed rhythm in the period."""
    overdue: int
    """Watched residents overdue now."""
    escalated: int
    """Episodes of the period that reached step 2 or 3."""
    episodes: int
    """Rhythms missed (or worrying outcomes) in the period."""
    first_follow_up_hours: list[float]
    """Per episode: hours from the missed rhythm to its first step's task."""
    contact_hours: list[float]
    """Per answered episode: hours from the missed rhythm to the first completed contact."""

    @property
    def on_rhythm_share(self) -> float | None:
        """Share of the watched residents who kept their rhythm through the period."""
        return self.on_rhythm / self.watched if self.watched else None


def summary(community_id: int, start: datetime, end: datetime) -> WatchSummary:
    """The watch over [start, end): watched now and on rhythm through the period, overdue now,
    episodes and escalations in the period, time to the first follow-up, time to a completed
    contact (median and P90)."""
    return summaries(community_id, [(start, end)])[0]


def summaries(community_id: int, spans: list[tuple[datetime, datetime]]) -> list[WatchSummary]:
    """`summary` of each span [start, end), in a fixed number of statements: the board, the
    steps and the contacts of the whole stretch are read once and split by span."""
    rows = board(community_id)
    overdue = sum(1 for r in rows if r.is_overdue)
    watched = {r.plan.id for r in rows}
    lo, hi = min(start for start, _ in spans), max(end for _, end in spans)
    steps = steps_between(community_id, lo, hi)
    contacts = contact_times(community_id, lo, hi)
    found = []
    for start, end in spans:
        episodes: dict[tuple[int, datetime], list[CareStep]] = {}
        for step in steps:
            if start <= step.created_at < end:
                episodes.setdefault((step.plan_id, step.since), []).append(step)
        escalated = sum(1 for group in episodes.values() if max(s.step for s in group) >= 2)
        first = [
            max(0.0, (min(s.created_at for s in group) - since).total_seconds() / 3600)
            for (_plan, since), group in episodes.items()
        ]
        missed = {plan_id for plan_id, _since in episodes}
        found.append(
            WatchSummary(
                watched=len(rows),
                on_rhythm=len(watched - missed),
                overdue=overdue,
                escalated=escalated,
                episodes=len(episodes),
                first_follow_up_hours=first,
                contact_hours=[hours for since, hours in contacts if start <= since < end],
            )
        )
    return found
