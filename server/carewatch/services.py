"""The care watch's rules: care plans, signs of life (exactly once per source), and the
staged follow-up when a rhythm breaks (idempotent, safe to run on two hosts at once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from server.audit import services as audit
from server.audit.actor import Actor
from server.carewatch.models import (
    CHANNELS,
    CONSENTS,
    OUTCOMES,
    QUIET_REASONS,
    REASONS,
    RHYTHMS,
    CarePlan,
    CareStep,
    SignOfLife,
)
from server.communities.models import Room
from server.errors import InvalidInput, LinliError
from server.extensions import db
from server.localtime import local_zone
from server.outbox import services as outbox
from server.outbox.models import OutboxMessage
from server.people.models import Resident
from server.timeutil import utcnow
from server.volunteers.models import Volunteer


class BadSign(LinliError):
    """A sign of life that names no one, or an unknown channel or outcome."""

    status = 400
    code = "bad_sign_of_life"


@dataclass(frozen=True)
class Sign:
    """What is known of one sign of life; `source_key` makes recording it idempotent."""

    community_id: int
    channel: str
    at: datetime
    source_key: str
    recorded_by: str
    resident_id: int | None = None
    room_id: int | None = None
    outcome: str = "ok"
    note: str | None = None


def record_sign(sign: Sign) -> tuple[SignOfLife, bool]:
    """Store `sign` once; return the stored row and whether this call created it.

    A second call with the same `source_key` (a replay, a double tap, a retried form, or a
    concurrent writer that won the race) returns the first row unchanged.
    """
    if sign.resident_id is None and sign.room_id is None:
        raise BadSign(_("平安记录须写明居民或房间"))
    if sign.channel not in CHANNELS:
        raise BadSign(_("未知的来源：%(channel)s", channel=sign.channel))
    if sign.outcome not in OUTCOMES:
        raise BadSign(_("未知的结果：%(outcome)s", outcome=sign.outcome))
    existing = _by_source(sign.source_key)
    if existing is not None:
        return existing, False
    row = SignOfLife(
        community_id=sign.community_id,
        resident_id=sign.resident_id,
        room_id=sign.room_id,
        channel=sign.channel,
        outcome=sign.outcome,
        at=sign.at,
        source_key=sign.source_key,
        recorded_by=sign.recorded_by,
        note=sign.note,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        winner = _by_source(sign.source_key)
        if winner is None:
            raise
        return winner, False
    _follow_up_sign(row)
    return row, True


def _by_source(source_key: str) -> SignOfLife | None:
    return db.session.execute(
        sa.select(SignOfLife).where(SignOfLife.source_key == source_key)
    ).scalar_one_or_none()


# --- care plans -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInput:
    """A care plan as a social worker sets it on a resident's profile."""

    is_watched: bool
    reason: str
    rhythm: str
    consent: str
    consent_note: str
    captain_id: int | None = None
    buddy_id: int | None = None
    family_name: str | None = None
    family_phone: str | None = None
    quiet_reason: str | None = None
    quiet_until: datetime | None = None


def plan_of(resident_id: int) -> CarePlan | None:
    """The resident's care plan, if one was ever set."""
    return db.session.execute(
        sa.select(CarePlan).where(CarePlan.resident_id == resident_id)
    ).scalar_one_or_none()


def _volunteer(community_id: int, volunteer_id: int | None, field: str) -> int | None:
    if volunteer_id is None:
        return None
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None or volunteer.community_id != community_id or not volunteer.is_active:
        raise InvalidInput(_("请选择本社区在册的志愿者"), "bad_volunteer", field=field)
    return volunteer_id


def set_plan(resident: Resident, plan: PlanInput, actor: Actor, why: str) -> CarePlan:
    """Create or change the resident's care plan (audited with the reason given).

    The elder's consent and how it was given are recorded (PIPL); an elder who declines is
    recorded as declining and is not watched, whatever else the form said.
    """
    if plan.reason not in REASONS:
        raise InvalidInput(_("请选择守望原因"), "bad_reason", field="reason")
    if plan.rhythm not in RHYTHMS:
        raise InvalidInput(_("请选择平安节奏"), "bad_rhythm", field="rhythm")
    if plan.consent not in CONSENTS:
        raise InvalidInput(_("请记录本人是否同意"), "bad_consent", field="consent")
    if not plan.consent_note.strip():
        raise InvalidInput(
            _("请写明同意（或拒绝）的方式"), "missing_consent_note", field="consent_note"
        )
    if (plan.quiet_reason is None) != (plan.quiet_until is None):
        raise InvalidInput(_("暂停须同时写明原因和截止日期"), "bad_quiet", field="quiet_until")
    if plan.quiet_reason is not None and plan.quiet_reason not in QUIET_REASONS:
        raise InvalidInput(_("请选择暂停原因"), "bad_quiet", field="quiet_reason")
    if not why.strip():
        raise InvalidInput(_("请写明修改原因"), "missing_reason", field="why")
    now = utcnow()
    captain_id = _volunteer(resident.community_id, plan.captain_id, "captain")
    buddy_id = _volunteer(resident.community_id, plan.buddy_id, "buddy")
    row = plan_of(resident.id)
    created = row is None
    if row is None:
        row = CarePlan(community_id=resident.community_id, resident_id=resident.id)
        db.session.add(row)
    watched = plan.is_watched and plan.consent == "given"
    if created or (watched and not row.is_watched):
        row.watched_since = now
    row.is_watched = watched
    row.reason = plan.reason
    row.rhythm = plan.rhythm
    if created or row.consent != plan.consent or row.consent_note != plan.consent_note.strip():
        row.consent_at = now
    row.consent = plan.consent
    row.consent_note = plan.consent_note.strip()[:300]
    row.captain_id = captain_id
    row.buddy_id = buddy_id
    row.family_name = (plan.family_name or "").strip()[:100] or None
    row.family_phone = (plan.family_phone or "").strip()[:20] or None
    row.quiet_reason = plan.quiet_reason
    row.quiet_until = plan.quiet_until
    row.updated_at = now
    row.updated_by = actor.label
    db.session.flush()
    if not watched:
        _close_open(row, now, None, "not watched")
    elif plan.quiet_until is not None and plan.quiet_until > now:
        _close_open(row, now, None, f"quiet period: {plan.quiet_reason}")
    state = "watched" if watched else ("declined" if plan.consent == "declined" else "not watched")
    audit.record(
        actor,
        resident.community_id,
        "create" if created else "change",
        f"care plan: {state}, {plan.reason}, {plan.rhythm}",
        why.strip(),
        resident_id=resident.id,
    )
    return row


# --- signs of life and their effect on the follow-up -------------------------------------


def _plans_for(sign: SignOfLife) -> list[CarePlan]:
    """The watched plans a sign counts for: its resident's, or every watched resident's of its
    room."""
    stmt = sa.select(CarePlan).where(CarePlan.is_watched)
    if sign.resident_id is not None:
        stmt = stmt.where(CarePlan.resident_id == sign.resident_id)
    else:
        stmt = stmt.join(Resident, Resident.id == CarePlan.resident_id).where(
            Resident.room_id == sign.room_id, Resident.deleted_at.is_(None)
        )
    return list(db.session.execute(stmt).scalars())


def _open_steps(plan: CarePlan) -> list[CareStep]:
    return list(
        db.session.execute(
            sa.select(CareStep)
            .where(CareStep.plan_id == plan.id, CareStep.closed_at.is_(None))
            .order_by(CareStep.step)
        ).scalars()
    )


def _close_open(plan: CarePlan, at: datetime, sign: SignOfLife | None, note: str) -> int:
    steps = _open_steps(plan)
    for step in steps:
        step.closed_at = at
        step.closed_by_sign_id = sign.id if sign is not None else None
        if step.note is None:
            step.note = note[:300]
    return len(steps)


def _previous_life(plan: CarePlan, before_id: int) -> datetime | None:
    """The latest sign of life of the plan's resident known before sign `before_id`."""
    resident = db.session.get_one(Resident, plan.resident_id)
    return db.session.execute(
        sa.select(sa.func.max(SignOfLife.at)).where(
            _life_of(resident.id, resident.room_id), SignOfLife.id != before_id
        )
    ).scalar_one_or_none()


def _life_of(resident_id: int, room_id: int | None) -> sa.ColumnElement[bool]:
    """Signs of life of a resident: their own, and their room's (not an unanswered door)."""
    whose = SignOfLife.resident_id == resident_id
    if room_id is not None:
        whose = sa.or_(
            whose, sa.and_(SignOfLife.resident_id.is_(None), SignOfLife.room_id == room_id)
        )
    return sa.and_(whose, SignOfLife.outcome != "no_answer")


def _follow_up_sign(sign: SignOfLife) -> None:
    """What a newly recorded sign changes: a sign of life newer than any known closes the open
    steps; an outcome on a step is written on it; 没开门 / 没接通 raises the next step at once
    (straight to step 2 when nothing was open); 需要帮助 raises the social worker's call."""
    now = utcnow()
    for plan in _plans_for(sign):
        steps = _open_steps(plan)
        current = steps[-1] if steps else None
        if current is not None and sign.channel in ("visit", "call", "staff_call"):
            current.outcome = sign.outcome
            current.outcome_at = sign.at
            current.outcome_by = sign.recorded_by[:100]
            current.note = sign.note
        if sign.outcome == "no_answer":
            if current is None:
                _raise_step(plan, sign.at, 2, now, urgent=True)
            elif current.step < 3:
                _raise_step(plan, current.since, current.step + 1, now, urgent=True)
            continue
        previous = _previous_life(plan, sign.id)
        if steps and (previous is None or sign.at > previous):
            _close_open(plan, now, sign, f"closed by a sign of life ({sign.channel})")
        if sign.outcome == "needs_help":
            _raise_step(plan, sign.at, 2, now, urgent=True)
    db.session.flush()


def note_room(community_id: int, room_id: int, channel: str, at: datetime, key: str) -> None:
    """A request made for a room, or a job completed there: a sign of life for the room's
    watched residents (nothing is recorded for a room where nobody is watched)."""
    if not watched_rooms([room_id]):
        return
    record_sign(Sign(community_id, channel, at, key, "system", room_id=room_id))


def watched_rooms(room_ids: list[int]) -> set[int]:
    """Which of these rooms house a watched resident (one query, for a batch of requests)."""
    if not room_ids:
        return set()
    rows = db.session.execute(
        sa.select(Resident.room_id)
        .join(CarePlan, CarePlan.resident_id == Resident.id)
        .where(
            CarePlan.is_watched,
            Resident.deleted_at.is_(None),
            Resident.room_id.in_(sorted(set(room_ids))),
        )
    ).scalars()
    return {room_id for room_id in rows if room_id is not None}


def log_contact(
    resident: Resident, channel: str, outcome: str, note: str | None, key: str, actor: Actor
) -> SignOfLife:
    """A contact a social worker logged (a call, a visit, a meal or an activity attended),
    once per form (`key` is made when the form is shown), audited."""
    if channel not in ("staff_call", "visit", "call", "meal", "activity"):
        raise BadSign(_("未知的来源：%(channel)s", channel=channel))
    if not key.strip():
        raise InvalidInput(_("表单已过期，请重新打开"), "missing_form_key")
    sign, created = record_sign(
        Sign(
            community_id=resident.community_id,
            channel=channel,
            at=utcnow(),
            source_key=f"console:{key.strip()[:60]}",
            recorded_by=actor.label,
            resident_id=resident.id,
            outcome=outcome if channel in ("staff_call", "visit", "call") else "ok",
            note=(note or "").strip()[:300] or None,
        )
    )
    if created:
        audit.record(
            actor,
            resident.community_id,
            "create",
            f"care watch: {channel} ({sign.outcome})",
            "contact logged",
            resident_id=resident.id,
        )
    return sign


@dataclass(frozen=True)
class Attendance:
    """One line of an attendance list: a canteen meal or an activity, by room and name."""

    room: str
    name: str
    kind: str
    at: datetime


def import_attendance(community_id: int, rows: list[Attendance], source: str) -> tuple[int, int]:
    """Record meals and activity attendance as signs of life; each line once (a re-imported
    list adds nothing). Returns (recorded, already present). Every line must name a resident
    of the community by room and name, or nothing is recorded."""
    residents = {
        (code, name): rid
        for rid, code, name in db.session.execute(
            sa.select(Resident.id, Room.code, Resident.name)
            .join(Room, Room.id == Resident.room_id)
            .where(Resident.community_id == community_id, Resident.deleted_at.is_(None))
        )
    }
    problems = []
    for number, row in enumerate(rows, start=2):
        if row.kind not in ("meal", "activity"):
            problems.append(_("第%(line)d行：类型须为 meal 或 activity", line=number))
        elif (row.room, row.name) not in residents:
            problems.append(_("第%(line)d行：本社区没有这位居民", line=number))
    if problems:
        raise InvalidInput("; ".join(problems), "bad_attendance")
    added = 0
    for row in rows:
        rid = residents[(row.room, row.name)]
        key = f"{row.kind}:{rid}:{row.at.isoformat()}"
        _sign, created = record_sign(
            Sign(community_id, row.kind, row.at, key, source[:100], resident_id=rid)
        )
        added += created
    return added, len(rows) - added


# --- the staged follow-up ----------------------------------------------------------------

NOTIFY_KIND = "care_visit"


def _notify_attempted(message: OutboxMessage, error: str | None) -> None:
    """Show a visit task's delivery on its step."""
    step = db.session.get(CareStep, message.ref_id)
    if step is None:
        return
    if error is None:
        step.notified_at = message.delivered_at
        step.notify_error = None
    else:
        step.notify_error = message.last_error


outbox.register_kind(NOTIFY_KIND, outbox.Kind("CARE_NOTIFY", _notify_attempted))


def after_night(now: datetime) -> datetime:
    """`now`, or 07:00 local when `now` falls in the night hours (22:00 to 07:00 local)."""
    local = now.astimezone(local_zone())
    if 7 <= local.hour < 22:
        return now
    day = local.date() if local.hour < 7 else local.date() + timedelta(days=1)
    return datetime.combine(day, time(7), local_zone()).astimezone(now.tzinfo)


def _raise_step(
    plan: CarePlan, since: datetime, number: int, now: datetime, *, urgent: bool
) -> CareStep | None:
    """Create step `number` of the episode `since`, once: a step already there (raised by an
    earlier run, or by another host at this moment) is left alone and None returned."""
    volunteer_id = plan.captain_id or plan.buddy_id if number == 1 else None
    volunteer = db.session.get(Volunteer, volunteer_id) if volunteer_id is not None else None
    step = CareStep(
        community_id=plan.community_id,
        plan_id=plan.id,
        since=since,
        step=number,
        is_urgent=urgent,
        assignee=(volunteer.name if volunteer is not None else "social_workers")[:100],
        volunteer_id=volunteer_id,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(step)
    except IntegrityError:
        return None
    url = current_app.config["LINLI_CARE_NOTIFY_URL"]
    if volunteer is not None and url:
        step.notify_at = now if urgent else after_night(now)
        room = db.session.get_one(Resident, plan.resident_id).room
        body: dict[str, Any] = {
            "kind": NOTIFY_KIND,
            "step": number,
            "urgent": urgent,
            "community_id": plan.community_id,
            "to": {"volunteer_id": volunteer.id, "phone": volunteer.phone},
            # The room, never the elder's name or why they are watched.
            "room": room.code if room is not None else None,
            "text": _(
                "平安守望：请今天去探访 %(room)s 的住户，并在手机页记录结果。",
                room=room.code if room is not None else "—",
            ),
        }
        message = outbox.enqueue(NOTIFY_KIND, url, body, f"linli-care-step-{step.id}", step.id)
        message.next_attempt_at = step.notify_at
    db.session.flush()
    return step


@dataclass
class Evaluation:
    """What one evaluation of the watch did."""

    watched: int = 0
    raised: int = 0

    def __str__(self) -> str:
        return f"{self.watched} watched resident(s), {self.raised} follow-up step(s) raised"


def last_signs(plans: list[CarePlan]) -> dict[int, tuple[datetime, str]]:
    """Each plan's latest sign of life (its time and channel): the resident's own or their
    room's, whichever is later. Two queries, whatever the number of plans: per plan, the
    newest sign is found by a backward walk of the (resident, at) or (room, at) index."""
    if not plans:
        return {}

    def newest(*where: sa.ColumnElement[bool]) -> Any:
        return (
            sa.select(SignOfLife.id)
            .where(*where, SignOfLife.outcome != "no_answer")
            .order_by(SignOfLife.at.desc(), SignOfLife.id.desc())
            .limit(1)
            .correlate(Resident)
            .scalar_subquery()
        )

    own = newest(SignOfLife.resident_id == Resident.id)
    room = newest(SignOfLife.room_id == Resident.room_id, SignOfLife.resident_id.is_(None))
    found = db.session.execute(
        sa.select(CarePlan.id, own, room)
        .join(Resident, Resident.id == CarePlan.resident_id)
        .where(CarePlan.id.in_([p.id for p in plans]))
    ).all()
    ids = {sign_id for _plan, *pair in found for sign_id in pair if sign_id is not None}
    signs = {
        sign_id: (at, channel)
        for sign_id, at, channel in db.session.execute(
            sa.select(SignOfLife.id, SignOfLife.at, SignOfLife.channel).where(
                SignOfLife.id.in_(sorted(ids))
            )
        )
    }
    out: dict[int, tuple[datetime, str]] = {}
    for plan_id, *pair in found:
        known = [signs[sign_id] for sign_id in pair if sign_id is not None]
        if known:
            out[plan_id] = max(known, key=lambda sign: sign[0])
    return out


def due_at(plan: CarePlan, last: datetime | None, grace_hours: int) -> datetime:
    """When the plan's rhythm is missed: its window and the grace after the latest of the last
    sign of life, the start of the watch and the end of a quiet period."""
    base = max(t for t in (last, plan.watched_since, plan.quiet_until) if t is not None)
    return base + timedelta(hours=RHYTHMS[plan.rhythm] + grace_hours)


def _answered_after(plan: CarePlan, steps: list[CareStep], grace_hours: int) -> datetime:
    """A sign of life after this moment answers the open episode: the sign its rhythm counted
    from (its start less the rhythm and grace), or the worrying sign that raised it."""
    first = steps[0]
    if first.is_urgent:
        return first.since
    return first.since - timedelta(hours=RHYTHMS[plan.rhythm] + grace_hours)


def evaluate(now: datetime | None = None, community_id: int | None = None) -> Evaluation:
    """Raise the follow-up steps that are due (the nightly job and the frequent timer).

    Idempotent: every step is named by its plan, episode and number, so running again, or on
    two hosts at once, raises each once. Flushes; the caller commits.
    """
    now = now or utcnow()
    grace = int(current_app.config["LINLI_CARE_GRACE_HOURS"])
    step_hours = int(current_app.config["LINLI_CARE_STEP_HOURS"])
    stmt = sa.select(CarePlan).where(CarePlan.is_watched).order_by(CarePlan.id)
    if community_id is not None:
        stmt = stmt.where(CarePlan.community_id == community_id)
    plans = list(db.session.execute(stmt).scalars())
    signs = last_signs(plans)
    open_steps: dict[int, list[CareStep]] = {}
    for step in db.session.execute(
        sa.select(CareStep)
        .where(CareStep.closed_at.is_(None), CareStep.plan_id.in_([p.id for p in plans]))
        .order_by(CareStep.step)
    ).scalars():
        open_steps.setdefault(step.plan_id, []).append(step)
    result = Evaluation(watched=len(plans))
    for plan in plans:
        if plan.quiet_until is not None and plan.quiet_until > now:
            continue
        steps = open_steps.get(plan.id, [])
        last = signs.get(plan.id)
        if steps and last is not None and last[0] > _answered_after(plan, steps, grace):
            # A sign recorded while this episode was being raised (another transaction).
            _close_open(plan, now, None, f"closed by a sign of life ({last[1]})")
            continue
        if steps:
            current = steps[-1]
            late = now >= current.created_at + timedelta(hours=step_hours)
            if current.step < 3 and current.outcome is None and late:
                raised = _raise_step(plan, current.since, current.step + 1, now, urgent=False)
                result.raised += raised is not None
            continue
        missed = due_at(plan, last[0] if last else None, grace)
        if now >= missed:
            result.raised += _raise_step(plan, missed, 1, now, urgent=False) is not None
    db.session.flush()
    return result


# --- a resident's rights (PIPL) ----------------------------------------------------------


class CareRecords:
    """The care watch's part of a resident's export and erasure (installed in
    `server.people.services.CARE_RECORDS` by the app factory)."""

    def export(self, resident: Resident) -> dict[str, Any]:
        """The care plan, the resident's own signs of life and every follow-up step."""
        plan = plan_of(resident.id)
        signs = db.session.execute(
            sa.select(SignOfLife)
            .where(SignOfLife.resident_id == resident.id)
            .order_by(SignOfLife.at)
        ).scalars()
        steps: list[CareStep] = []
        if plan is not None:
            steps = list(
                db.session.execute(
                    sa.select(CareStep).where(CareStep.plan_id == plan.id).order_by(CareStep.id)
                ).scalars()
            )

        def when(at: datetime | None) -> str | None:
            return at.isoformat() if at is not None else None

        return {
            "plan": None
            if plan is None
            else {
                "is_watched": plan.is_watched,
                "reason": plan.reason,
                "rhythm": plan.rhythm,
                "consent": plan.consent,
                "consent_note": plan.consent_note,
                "consent_at": when(plan.consent_at),
                "family_name": plan.family_name,
                "family_phone": plan.family_phone,
                "quiet_reason": plan.quiet_reason,
                "quiet_until": when(plan.quiet_until),
            },
            "signs_of_life": [
                {"at": when(s.at), "channel": s.channel, "outcome": s.outcome, "note": s.note}
                for s in signs
            ],
            "follow_up": [
                {
                    "step": s.step,
                    "raised_at": when(s.created_at),
                    "assignee": s.assignee,
                    "outcome": s.outcome,
                    "outcome_at": when(s.outcome_at),
                    "closed_at": when(s.closed_at),
                }
                for s in steps
            ],
        }

    def erase(self, resident: Resident) -> int:
        """Delete the plan, its steps and the resident's own signs of life (a room's signs,
        which name nobody, stay)."""
        plan = plan_of(resident.id)
        deleted = 0
        if plan is not None:
            deleted += db.session.execute(
                sa.delete(CareStep).where(CareStep.plan_id == plan.id)
            ).rowcount  # type: ignore[attr-defined]
            db.session.delete(plan)
            deleted += 1
        own = sa.select(SignOfLife.id).where(SignOfLife.resident_id == resident.id)
        db.session.execute(
            sa.update(CareStep)
            .where(CareStep.closed_by_sign_id.in_(own))
            .values(closed_by_sign_id=None)
        )
        deleted += db.session.execute(
            sa.delete(SignOfLife).where(SignOfLife.resident_id == resident.id)
        ).rowcount  # type: ignore[attr-defined]
        db.session.flush()
        return int(deleted)
