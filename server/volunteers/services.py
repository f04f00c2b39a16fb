"""Volunteers and teams, importing volunteer lists, and service hours. Flush, never commit.

Service hours: a check-in opens a record, a check-out closes it (pending), a social worker
approves it (points are posted to the passbook in the same transaction) or declines it with a
reason. Records are never deleted. An open record older than `FORGOTTEN_AFTER` is a forgotten
check-out: the nightly job (`close_forgotten()`), or the next check-in, approval or decline of
it, closes it flagged; its hours must be entered by the social worker who approves it. Pages
only show it as forgotten. Hours added by hand are `source="manual"` and kept apart from
recorded hours everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from server.audit.actor import Actor
from server.communities.models import Community
from server.dispatch.models import Team
from server.errors import Conflict, InvalidInput, NotFound
from server.extensions import db
from server.hooks import Hook
from server.requests.models import HelpRequest
from server.requests.words import status_words
from server.timeutil import utcnow
from server.volunteers.imports import ImportRow
from server.volunteers.models import (
    NOTE_KINDS,
    ServiceRecord,
    TeamFocus,
    TeamMember,
    Volunteer,
    VolunteerNote,
)
from server.volunteers.words import hours_words
from sync import statuses

FORGOTTEN_AFTER = timedelta(hours=12)
"""An open check-in older than this is taken as a forgotten check-out."""
MAX_MINUTES = 24 * 60
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a given check-in or check-out time may lie (clocks differ a little)."""
HOURS_REQUEST_STATES = statuses.ACTIVE_WORK | statuses.AWAITING_CLOSE
"""Statuses of a request that a volunteer may record service hours against."""


class PostedPoints(Protocol):
    """What posting approved hours answers (the passbook's ledger entry)."""

    @property
    def points(self) -> int:
        """The points posted."""
        ...


PostHours = Callable[[ServiceRecord, int, Actor], PostedPoints | None]
"""Posts an approved record's points: (record, points per hour, actor) → what was posted."""
POST_HOURS: Hook[PostHours] = Hook("post_hours")
"""Implemented by the passbook (it sits above volunteers), installed by the app factory."""


def _text(value: str | None, limit: int, field: str, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(gettext("请填写%(field)s", field=field), "missing")
    if len(value) > limit:
        raise InvalidInput(gettext("%(field)s最多 %(n)s 个字符", field=field, n=limit), "too_long")
    return value


def _fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


# --- volunteers and teams -------------------------------------------------------------------


def volunteer_in(community_ids: frozenset[int], volunteer_id: int) -> Volunteer:
    """A volunteer of one of these communities, or `NotFound`."""
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None or volunteer.community_id not in community_ids:
        raise NotFound(gettext("没有这位志愿者"))
    return volunteer


def create_volunteer(community: Community, row: ImportRow) -> Volunteer:
    """One volunteer from validated fields; a phone number already registered is a conflict."""
    exists = sa.select(Volunteer.id).where(
        Volunteer.community_id == community.id, Volunteer.phone == row.phone
    )
    if db.session.execute(exists).first():
        raise Conflict(gettext("手机号 %(phone)s 的志愿者已登记", phone=row.phone), "exists")
    volunteer = Volunteer(
        community_id=community.id,
        name=row.name,
        phone=row.phone,
        gender=row.gender,
        birth_year=row.birth_year,
        registration_no=row.registration_no,
        skills=list(row.skills),
        availability=row.availability,
        is_active=row.is_active,
        joined_on=row.joined_on,
    )
    db.session.add(volunteer)
    db.session.flush()
    return volunteer


def update_volunteer(volunteer: Volunteer, row: ImportRow) -> None:
    """Correct a volunteer's details (the phone number stays unique in the community)."""
    taken = sa.select(Volunteer.id).where(
        Volunteer.community_id == volunteer.community_id,
        Volunteer.phone == row.phone,
        Volunteer.id != volunteer.id,
    )
    if db.session.execute(taken).first():
        raise Conflict(gettext("另一位志愿者的手机号是 %(phone)s", phone=row.phone), "exists")
    volunteer.name = row.name
    volunteer.phone = row.phone
    volunteer.gender = row.gender
    volunteer.birth_year = row.birth_year
    volunteer.registration_no = row.registration_no
    volunteer.skills = list(row.skills)
    volunteer.availability = row.availability
    volunteer.joined_on = row.joined_on
    db.session.flush()


def set_active(volunteer: Volunteer, is_active: bool) -> None:
    """Mark a volunteer active or not (inactive volunteers cannot check in)."""
    volunteer.is_active = is_active
    db.session.flush()


@dataclass(frozen=True)
class ImportResult:
    """How many volunteers an import added and how many were registered already."""

    added: int
    present: int


def import_volunteers(community: Community, rows: list[ImportRow]) -> ImportResult:
    """Add every new volunteer of validated rows (all in this transaction, or none).

    Rows whose phone number is registered already are left alone and counted as present.
    """
    existing = set(
        db.session.execute(
            sa.select(Volunteer.phone).where(Volunteer.community_id == community.id)
        ).scalars()
    )
    teams = {
        t.name: t
        for t in db.session.execute(sa.select(Team).where(Team.community_id == community.id))
        .scalars()
        .all()
    }
    added = 0
    for row in rows:
        if row.phone in existing:
            continue
        volunteer = create_volunteer(community, row)
        existing.add(row.phone)
        added += 1
        if row.team:
            team = teams.get(row.team)
            if team is None:
                raise InvalidInput(
                    gettext(
                        "第 %(line)s 行：服务队：没有服务队 %(team)s",
                        line=row.line,
                        team=repr(row.team),
                    ),
                    "bad_row",
                )
            db.session.add(TeamMember(team_id=team.id, volunteer_id=volunteer.id))
    db.session.flush()
    return ImportResult(added=added, present=len(rows) - added)


def team_in(community_ids: frozenset[int], team_id: int) -> Team:
    """A team of one of these communities, or `NotFound`."""
    team = db.session.get(Team, team_id)
    if team is None or team.community_id not in community_ids:
        raise NotFound(gettext("没有这个服务队"))
    return team


def add_member(team: Team, volunteer: Volunteer, is_lead: bool = False) -> None:
    """Put a volunteer of the team's community in the team (again: only the lead flag changes)."""
    if volunteer.community_id != team.community_id:
        raise InvalidInput(gettext("这位志愿者不在服务队所在的社区"), "bad_member")
    member = db.session.get(TeamMember, (team.id, volunteer.id))
    if member is None:
        member = TeamMember(team_id=team.id, volunteer_id=volunteer.id)
        db.session.add(member)
    member.is_lead = is_lead
    db.session.flush()


def remove_member(team: Team, volunteer: Volunteer) -> None:
    """Take a volunteer out of a team (their service records keep the team they served in)."""
    member = db.session.get(TeamMember, (team.id, volunteer.id))
    if member is None:
        raise InvalidInput(
            gettext("%(name)s 不在 %(team)s", name=volunteer.name, team=team.name), "not_member"
        )
    db.session.delete(member)
    db.session.flush()


def set_focus(team: Team, text: str | None) -> TeamFocus:
    """Set the team's focus list (一队一重点), one item per line."""
    items = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(items) > 20 or any(len(item) > 100 for item in items):
        raise InvalidInput(gettext("重点清单最多 20 项，每项最多 100 个字符"), "bad_focus")
    focus = db.session.get(TeamFocus, team.id)
    if focus is None:
        focus = TeamFocus(team_id=team.id)
        db.session.add(focus)
    focus.items = items
    focus.updated_at = utcnow()
    db.session.flush()
    return focus


def add_note(
    volunteer: Volunteer, kind: str, noted_on: date | None, text: str | None, actor: Actor
) -> VolunteerNote:
    """A training, award or evaluation for the volunteer's service record."""
    if kind not in NOTE_KINDS:
        raise InvalidInput(
            gettext("类型须为以下之一：%(kinds)s", kinds=", ".join(NOTE_KINDS)), "bad_kind"
        )
    if noted_on is None:
        raise InvalidInput(gettext("请填写日期"), "missing")
    note = VolunteerNote(
        volunteer_id=volunteer.id,
        kind=kind,
        noted_on=noted_on,
        text=_text(text, 300, gettext("内容"), required=True),
        recorded_by=actor.label,
    )
    db.session.add(note)
    db.session.flush()
    return note


# --- service hours ----------------------------------------------------------------------------


def open_record(volunteer_id: int) -> ServiceRecord | None:
    """The volunteer's open check-in, if any."""
    return db.session.execute(
        sa.select(ServiceRecord).where(
            ServiceRecord.volunteer_id == volunteer_id, ServiceRecord.status == "open"
        )
    ).scalar_one_or_none()


def _not_future(at: datetime, what: str) -> datetime:
    if at.tzinfo is None:
        raise InvalidInput(gettext("%(what)s时间须带时区", what=what), "bad_time")
    if at > utcnow() + CLOCK_SKEW:
        raise InvalidInput(
            gettext("%(what)s时间 %(at)s 在将来", what=what, at=_fmt(at)), "future_time"
        )
    return at


def _request_for_hours(volunteer: Volunteer, request_id: int | None) -> HelpRequest | None:
    if request_id is None:
        return None
    req = db.session.get(HelpRequest, request_id)
    if req is None or req.community_id != volunteer.community_id:
        raise InvalidInput(gettext("志愿者所在社区没有求助 #%(id)s", id=request_id), "bad_request")
    if req.status not in HOURS_REQUEST_STATES:
        raise InvalidInput(
            gettext(
                "求助 #%(id)s %(status)s：只有已派单、已接单、已上门或已完成的任务才能记时长",
                id=req.id,
                status=status_words(req.status),
            ),
            "bad_request",
        )
    return req


def _team_for_hours(
    volunteer: Volunteer, team_id: int | None, req: HelpRequest | None
) -> int | None:
    if team_id is None:
        return req.team_id if req is not None else None
    team = db.session.get(Team, team_id)
    if team is None or team.community_id != volunteer.community_id:
        raise InvalidInput(gettext("请选择志愿者所在社区的服务队"), "bad_team")
    return team.id


def check_in(
    volunteer: Volunteer,
    actor: Actor,
    *,
    at: datetime | None = None,
    request_id: int | None = None,
    team_id: int | None = None,
    content: str | None = None,
) -> ServiceRecord:
    """Open a service record for an active volunteer (one open record per volunteer)."""
    if not volunteer.is_active:
        raise Conflict(gettext("%(name)s 不是在册志愿者", name=volunteer.name), "inactive")
    current = open_record(volunteer.id)
    if current is not None and is_forgotten(current):
        _close_as_forgotten(current)
        current = None
    if current is not None:
        raise Conflict(
            gettext(
                "%(name)s 已于 %(at)s 签到；请先签退",
                name=volunteer.name,
                at=_fmt(current.started_at),
            ),
            "already_checked_in",
        )
    started = _not_future(at or utcnow(), gettext("签到"))
    req = _request_for_hours(volunteer, request_id)
    default_content = f"request #{req.id} {req.category.name_zh}" if req is not None else ""
    record = ServiceRecord(
        community_id=volunteer.community_id,
        volunteer_id=volunteer.id,
        team_id=_team_for_hours(volunteer, team_id, req),
        request_id=req.id if req is not None else None,
        source="recorded",
        content=_text(content, 300, gettext("内容")) or default_content,
        started_at=started,
        status="open",
        is_auto_closed=False,
        recorded_by=actor.label,
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError as exc:
        raise Conflict(
            gettext("%(name)s 已经签到", name=volunteer.name), "already_checked_in"
        ) from exc
    return record


def check_out(
    record: ServiceRecord, actor: Actor, *, at: datetime | None = None, content: str | None = None
) -> ServiceRecord:
    """Close an open record; it then waits for a social worker's decision."""
    if record.status != "open":
        raise Conflict(
            gettext(
                "记录 #%(id)s 不在服务中（%(status)s）：没有可签退的签到",
                id=record.id,
                status=hours_words(record.status),
            ),
            "not_checked_in",
        )
    ended = _not_future(at or utcnow(), gettext("签退"))
    if ended < record.started_at:
        raise InvalidInput(
            gettext(
                "签退时间 %(out)s 早于签到时间 %(in)s；没有做任何改动",
                out=_fmt(ended),
                **{"in": _fmt(record.started_at)},
            ),
            "checkout_before_checkin",
        )
    minutes = int((ended - record.started_at).total_seconds() // 60)
    if minutes > MAX_MINUTES:
        raise InvalidInput(
            gettext(
                "签到到签退 %(hours)s 小时，超过 24 小时；请社工手工补录时长", hours=minutes // 60
            ),
            "too_long",
        )
    record.ended_at = ended
    record.minutes = minutes
    record.status = "pending"
    new_content = _text(content, 300, gettext("内容"))
    if new_content:
        record.content = new_content
    db.session.flush()
    return record


def forgotten_before(now: datetime | None = None) -> datetime:
    """An open check-in started before this time is a forgotten check-out."""
    return (now or utcnow()) - FORGOTTEN_AFTER


def is_forgotten(record: ServiceRecord, now: datetime | None = None) -> bool:
    """Whether the record is an open check-in whose check-out was forgotten."""
    return record.status == "open" and record.started_at < forgotten_before(now)


def _close_as_forgotten(record: ServiceRecord) -> None:
    limit = FORGOTTEN_AFTER.total_seconds() / 3600
    record.status = "pending"
    record.is_auto_closed = True
    record.decision_note = f"closed automatically: no check-out within {limit:g} h"
    db.session.flush()


def close_forgotten(now: datetime | None = None) -> int:
    """Close every check-in open longer than `FORGOTTEN_AFTER`, flagged (the nightly job)."""
    stale = db.session.execute(
        sa.select(ServiceRecord).where(
            ServiceRecord.status == "open", ServiceRecord.started_at < forgotten_before(now)
        )
    ).scalars()
    records = list(stale)
    for record in records:
        _close_as_forgotten(record)
    return len(records)


def add_manual(
    volunteer: Volunteer,
    actor: Actor,
    *,
    started_at: datetime,
    minutes: int | None,
    content: str | None,
    team_id: int | None = None,
    request_id: int | None = None,
) -> ServiceRecord:
    """Hours added by hand (e.g. from a paper sign-in sheet), kept apart from recorded hours."""
    if minutes is None or not 0 < minutes <= MAX_MINUTES:
        raise InvalidInput(gettext("分钟数须大于 0、最多 1440（24 小时）"), "bad_minutes")
    _not_future(started_at, gettext("服务"))
    req = _request_for_hours(volunteer, request_id)
    record = ServiceRecord(
        community_id=volunteer.community_id,
        volunteer_id=volunteer.id,
        team_id=_team_for_hours(volunteer, team_id, req),
        request_id=req.id if req is not None else None,
        source="manual",
        content=_text(content, 300, gettext("内容"), required=True),
        started_at=started_at,
        ended_at=started_at + timedelta(minutes=minutes),
        minutes=minutes,
        status="pending",
        is_auto_closed=False,
        recorded_by=actor.label,
    )
    db.session.add(record)
    db.session.flush()
    return record


DONE_STATES = statuses.DONE
"""Statuses of a finished job whose claimed hours can be recorded for its volunteers."""


def record_from_job(
    req: HelpRequest, volunteer: Volunteer, actor: Actor, minutes: int | None = None
) -> ServiceRecord:
    """Record a volunteer's hours on a finished job: from arrival, for the hours claimed at
    completion (or `minutes`); at most one record per job and volunteer unless declined."""
    if req.community_id != volunteer.community_id:
        raise InvalidInput(gettext("这位志愿者不在任务所在的社区"), "bad_volunteer")
    if req.status not in DONE_STATES:
        raise InvalidInput(
            gettext(
                "求助 #%(id)s %(status)s：只能记已完成的任务",
                id=req.id,
                status=status_words(req.status),
            ),
            "not_done",
        )
    if minutes is None:
        if req.hours is None:
            raise InvalidInput(gettext("这个任务没有申报工时：请填写分钟数"), "missing")
        minutes = round(req.hours * 60)
    if not 0 < minutes <= MAX_MINUTES:
        raise InvalidInput(gettext("分钟数须大于 0、最多 1440（24 小时）"), "bad_minutes")
    recorded = db.session.execute(
        sa.select(ServiceRecord.id).where(
            ServiceRecord.request_id == req.id,
            ServiceRecord.volunteer_id == volunteer.id,
            ServiceRecord.status != "declined",
        )
    ).first()
    if recorded is not None:
        raise Conflict(
            gettext(
                "%(name)s 在求助 #%(id)s 上的时长已记录（记录 #%(record)s）",
                name=volunteer.name,
                id=req.id,
                record=recorded[0],
            ),
            "recorded_already",
        )
    started = req.arrived_at or req.received_at
    record = ServiceRecord(
        community_id=req.community_id,
        volunteer_id=volunteer.id,
        team_id=req.team_id,
        request_id=req.id,
        source="recorded",
        content=f"request #{req.id} {req.category.name_zh} {req.room.code}",
        started_at=started,
        ended_at=started + timedelta(minutes=minutes),
        minutes=minutes,
        status="pending",
        is_auto_closed=False,
        recorded_by=actor.label,
    )
    db.session.add(record)
    db.session.flush()
    return record


def _undecided(record: ServiceRecord) -> None:
    if is_forgotten(record):
        _close_as_forgotten(record)
    if record.status == "open":
        raise Conflict(gettext("记录 #%(id)s 仍在服务中：请先签退", id=record.id), "still_open")
    if record.status != "pending":
        raise Conflict(
            gettext(
                "记录 #%(id)s 已由 %(who)s 审核（%(status)s）",
                id=record.id,
                who=record.decided_by,
                status=hours_words(record.status),
            ),
            "decided",
        )


def approve(
    record: ServiceRecord,
    actor: Actor,
    points_per_hour: int,
    *,
    minutes: int | None = None,
    note: str | None = None,
) -> PostedPoints | None:
    """Approve the hours and post their points to the volunteer's passbook."""
    post_hours = POST_HOURS.get()
    _undecided(record)
    note = _text(note, 300, gettext("备注"))
    if minutes is not None and not 0 < minutes <= MAX_MINUTES:
        raise InvalidInput(gettext("分钟数须大于 0、最多 1440（24 小时）"), "bad_minutes")
    if record.is_auto_closed and minutes is None:
        raise InvalidInput(gettext("忘记签退：请填写实际服务的分钟数"), "minutes_needed")
    if minutes is not None and minutes != record.minutes:
        was = "unknown" if record.minutes is None else f"{record.minutes} min"
        note = f"minutes set to {minutes} (was {was})" + (f"; {note}" if note else "")
        record.minutes = minutes
    record.status = "approved"
    record.decided_by = actor.label
    record.decided_at = utcnow()
    record.decision_note = note or record.decision_note
    db.session.flush()
    return post_hours(record, points_per_hour, actor)


def decline(record: ServiceRecord, actor: Actor, reason: str | None) -> None:
    """Decline the hours, with a reason; no points are posted."""
    _undecided(record)
    record.decision_note = _text(reason, 300, gettext("原因"), required=True)
    record.status = "declined"
    record.decided_by = actor.label
    record.decided_at = utcnow()
    db.session.flush()


def record_in(community_ids: frozenset[int], record_id: int) -> ServiceRecord:
    """A service record of one of these communities, or `NotFound`."""
    record = db.session.get(ServiceRecord, record_id)
    if record is None or record.community_id not in community_ids:
        raise NotFound(gettext("没有这条服务记录"))
    return record
