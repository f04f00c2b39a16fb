"""Volunteers' sign-in links, phones and PIN; dispatch to named volunteers; the actions phones
send, each applied exactly once. Flush, never commit.

A volunteer's card carries a link with a random token (only its SHA-256 is kept). Opening it
signs the phone in: a device row whose own random token lives in a cookie (hashed here too), so
the phone stays signed in for months and staff can end it by revoking the link. With a PIN set,
a new phone must give it first; wrong PINs lock it for a while. A phone's action carries the
UUIDv7 it made when the volunteer acted; the unique `field_action.client_id` makes a retry,
a double tap or a replay answer the first result, and a rejected action stays rejected.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from flask import current_app
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from server.audit import services as audit
from server.audit.actor import Actor
from server.auth.models import User
from server.auth.services import HASH_COSTS
from server.carewatch import services as care
from server.carewatch.models import CarePlan, SignOfLife
from server.communities.models import Building
from server.dbutil import hash_secret
from server.dispatch.models import Team
from server.errors import Conflict, InvalidInput, LinliError, NotAllowed, NotFound
from server.extensions import db
from server.field.models import (
    BuildingCaptain,
    FieldAction,
    JobAssignee,
    SkillWord,
    VolunteerDay,
    VolunteerDevice,
    VolunteerLink,
    VolunteerPin,
    VolunteerUser,
)
from server.localtime import local_today
from server.passbook.services import issue_code
from server.requests import services as lifecycle
from server.requests.models import Category, HelpRequest
from server.timeutil import utcnow
from server.volunteers import services as hours
from server.volunteers.models import ServiceRecord, TeamMember, Volunteer
from sync import statuses

PIN_TRIES = 5
"""Wrong PINs in a row before the PIN is locked for `PIN_LOCK`."""
PIN_LOCK = timedelta(minutes=15)
SEEN_EVERY = timedelta(minutes=10)
"""A phone's `last_seen_at` is written at most this often (not on every poll)."""
ON_THE_JOB = ("offered", "accepted", "on_site")
"""Assignee states of a volunteer still on the job."""


def state_word(state: str) -> str:
    """An assignee state in words."""
    words: dict[str, str] = {
        "offered": gettext("待接单"),
        "accepted": gettext("已接单"),
        "declined": gettext("已拒绝"),
        "on_site": gettext("已上门"),
        "done": gettext("已完成"),
        "withdrawn": gettext("已改派"),
    }
    return words[state]


class Reassigned(Conflict):
    """The job is no longer this volunteer's (dispatched again, declined, closed)."""

    code = "reassigned"


# --- links, phones and the PIN --------------------------------------------------------------


def _hasher() -> PasswordHasher:
    return HASH_COSTS[current_app.config["LINLI_PASSWORD_HASH_COST"]]


def active_link(volunteer_id: int) -> VolunteerLink | None:
    """The volunteer's current sign-in link, if one was issued and not revoked."""
    return db.session.execute(
        sa.select(VolunteerLink).where(
            VolunteerLink.volunteer_id == volunteer_id, VolunteerLink.revoked_at.is_(None)
        )
    ).scalar_one_or_none()


def _revoke(volunteer: Volunteer, actor: Actor) -> bool:
    now = utcnow()
    link = active_link(volunteer.id)
    if link is None:
        return False
    link.revoked_at = now
    link.revoked_by = actor.label
    db.session.execute(
        sa.update(VolunteerDevice)
        .where(VolunteerDevice.link_id == link.id, VolunteerDevice.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.flush()
    return True


def issue_link(volunteer: Volunteer, actor: Actor) -> str:
    """A new sign-in link for the volunteer's card (the old one and its phones end); the token
    is returned only now. Audited."""
    if not volunteer.is_active:
        raise Conflict(gettext("%(name)s 不是在册志愿者", name=volunteer.name), "inactive")
    replaced = _revoke(volunteer, actor)
    token = secrets.token_urlsafe(24)
    db.session.add(
        VolunteerLink(
            volunteer_id=volunteer.id, token_hash=hash_secret(token), issued_by=actor.label
        )
    )
    db.session.flush()
    what = f"volunteer #{volunteer.id}: sign-in link " + ("re-issued" if replaced else "issued")
    audit.record(actor, volunteer.community_id, "create", what, "volunteer card")
    return token


def revoke_link(volunteer: Volunteer, actor: Actor) -> None:
    """End the volunteer's link and every phone signed in through it. Audited."""
    if not _revoke(volunteer, actor):
        raise Conflict(gettext("这位志愿者没有有效的登录链接"), "no_link")
    what = f"volunteer #{volunteer.id}: sign-in link revoked"
    audit.record(actor, volunteer.community_id, "change", what, "volunteer card")


def _new_device(volunteer: Volunteer, link_id: int | None, pin_checked: bool) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(
        VolunteerDevice(
            volunteer_id=volunteer.id,
            link_id=link_id,
            token_hash=hash_secret(token),
            is_pin_checked=pin_checked,
        )
    )
    db.session.flush()
    return token


def sign_in_by_link(token: str) -> str:
    """A phone opened a card's link: its new session token (kept in a cookie)."""
    link = db.session.execute(
        sa.select(VolunteerLink).where(
            VolunteerLink.token_hash == hash_secret(token), VolunteerLink.revoked_at.is_(None)
        )
    ).scalar_one_or_none()
    volunteer = db.session.get(Volunteer, link.volunteer_id) if link is not None else None
    if link is None or volunteer is None or not volunteer.is_active:
        raise NotFound(gettext("这个登录链接已失效，请向社工要一张新卡"), "bad_link")
    return _new_device(volunteer, link.id, pin_checked=pin_of(volunteer.id) is None)


def sign_in_as_user(user: User, actor: Actor) -> str:
    """A console user linked to a volunteer opens their phone pages: a session token. Audited."""
    volunteer = linked_volunteer(user.id)
    if volunteer is None or not volunteer.is_active:
        raise NotFound(gettext("你的账号没有关联志愿者"), "no_volunteer")
    what = f"volunteer #{volunteer.id}: phone pages opened from the console"
    audit.record(actor, volunteer.community_id, "view", what, "linked console user")
    return _new_device(volunteer, None, pin_checked=True)


def device_for(token: str | None) -> VolunteerDevice | None:
    """The signed-in phone of this cookie token (None: unknown, ended, or volunteer inactive)."""
    if not token:
        return None
    device = db.session.execute(
        sa.select(VolunteerDevice).where(
            VolunteerDevice.token_hash == hash_secret(token), VolunteerDevice.revoked_at.is_(None)
        )
    ).scalar_one_or_none()
    if device is None:
        return None
    volunteer = db.session.get(Volunteer, device.volunteer_id)
    if volunteer is None or not volunteer.is_active:
        return None
    now = utcnow()
    # Not while the PIN is owed: a wrong PIN is counted on a second connection, which a write
    # of this request's would hold up on SQLite.
    if device.is_pin_checked and now - device.last_seen_at > SEEN_EVERY:
        device.last_seen_at = now
        db.session.flush()
    return device


def sign_out(device: VolunteerDevice) -> None:
    """End this phone's session."""
    device.revoked_at = utcnow()
    db.session.flush()


def pin_of(volunteer_id: int) -> VolunteerPin | None:
    """The volunteer's PIN record, if they set one."""
    return db.session.get(VolunteerPin, volunteer_id)


def _check_pin_format(pin: str) -> str:
    pin = pin.strip()
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 6):
        raise InvalidInput(gettext("PIN 是 4 到 6 位数字"), "bad_pin")
    return pin


def set_pin(volunteer: Volunteer, pin: str) -> None:
    """Set (or change) the PIN asked on a new phone; argon2-hashed."""
    pin = _check_pin_format(pin)
    record = pin_of(volunteer.id) or VolunteerPin(volunteer_id=volunteer.id)
    record.pin_hash = _hasher().hash(pin)
    record.failures = 0
    record.locked_until = None
    record.set_at = utcnow()
    db.session.add(record)
    db.session.flush()


def check_pin(device: VolunteerDevice, pin: str) -> None:
    """A new phone gives the PIN: `NotAllowed` when wrong or locked; after `PIN_TRIES` wrong
    ones in a row the PIN is locked for `PIN_LOCK`."""
    record = pin_of(device.volunteer_id)
    if record is None:
        device.is_pin_checked = True
        db.session.flush()
        return
    now = utcnow()
    if record.locked_until is not None and record.locked_until > now:
        raise NotAllowed(gettext("PIN 错误次数太多，请 15 分钟后再试"), "pin_locked")
    try:
        _hasher().verify(record.pin_hash, pin.strip())
    except VerifyMismatchError:
        _record_pin_failure(device.volunteer_id, now)
        raise NotAllowed(gettext("PIN 不对"), "bad_pin") from None
    record.failures = 0
    device.is_pin_checked = True
    db.session.flush()


def _record_pin_failure(volunteer_id: int, now: datetime) -> None:
    """Count a wrong PIN in its own transaction: the refusal (403) rolls the request back, and
    the count must survive that and be seen by every worker."""
    table = VolunteerPin.__table__
    with db.engine.begin() as conn:
        failures = conn.execute(
            sa.update(table)
            .where(table.c.volunteer_id == volunteer_id)
            .values(failures=table.c.failures + 1)
            .returning(table.c.failures)
        ).scalar_one()
        if failures >= PIN_TRIES:
            conn.execute(
                sa.update(table)
                .where(table.c.volunteer_id == volunteer_id)
                .values(failures=0, locked_until=now + PIN_LOCK)
            )


def set_free_today(volunteer: Volunteer, free: bool) -> None:
    """The volunteer says whether they are free today (the dispatch form ranks them first)."""
    today = local_today()
    row = db.session.get(VolunteerDay, (volunteer.id, today))
    if free and row is None:
        db.session.add(VolunteerDay(volunteer_id=volunteer.id, day=today))
    elif not free and row is not None:
        db.session.delete(row)
    db.session.flush()


# --- one person: a console user who is a volunteer ------------------------------------------


def linked_volunteer(user_id: int) -> Volunteer | None:
    """The volunteer record of a console user, if linked."""
    link = db.session.get(VolunteerUser, user_id)
    return db.session.get(Volunteer, link.volunteer_id) if link is not None else None


def link_user(volunteer: Volunteer, username: str, actor: Actor) -> User:
    """Link a console user of the volunteer's community to the volunteer record. Audited."""
    user = db.session.execute(
        sa.select(User).where(User.username == username.strip())
    ).scalar_one_or_none()
    if user is None or volunteer.community_id not in user.roles():
        raise InvalidInput(gettext("本社区没有这个用户名"), "bad_user")
    if db.session.get(VolunteerUser, user.id) is not None:
        raise Conflict(gettext("这个用户已关联了一位志愿者"), "linked_already")
    taken = db.session.execute(
        sa.select(VolunteerUser).where(VolunteerUser.volunteer_id == volunteer.id)
    ).scalar_one_or_none()
    if taken is not None:
        db.session.delete(taken)
        db.session.flush()
    db.session.add(VolunteerUser(user_id=user.id, volunteer_id=volunteer.id, linked_by=actor.label))
    db.session.flush()
    what = f"volunteer #{volunteer.id} linked to user {user.username}"
    audit.record(actor, volunteer.community_id, "link", what, "one person, one set of job pages")
    return user


# --- dispatch to named volunteers -----------------------------------------------------------


def roster_of(team: Team, volunteer_ids: list[int]) -> list[Volunteer]:
    """The named volunteers, each an active member of `team` (else `InvalidInput`)."""
    if not volunteer_ids:
        return []
    found = list(
        db.session.execute(
            sa.select(Volunteer)
            .join(TeamMember, TeamMember.volunteer_id == Volunteer.id)
            .where(
                TeamMember.team_id == team.id,
                Volunteer.id.in_(volunteer_ids),
                Volunteer.is_active,
            )
            .order_by(Volunteer.name, Volunteer.id)
        ).scalars()
    )
    if len(found) != len(set(volunteer_ids)):
        raise InvalidInput(gettext("只能派给所选服务队的在册志愿者"), "bad_volunteer")
    return found


def dispatch(
    req: HelpRequest, actor: Actor, team: Team, volunteer_ids: list[int], note: str | None
) -> list[JobAssignee]:
    """Send the request to a team and the volunteers picked from its roster: the request's
    `volunteers` text names them (the kiosk says who is coming); anyone on an earlier dispatch
    of it who has not finished is withdrawn (their later actions are refused as reassigned)."""
    chosen = roster_of(team, volunteer_ids)
    names = "、".join(v.name for v in chosen) or None
    lifecycle.dispatch(req, actor, team, names, note)
    now = utcnow()
    existing = {
        a.volunteer_id: a
        for a in db.session.execute(
            sa.select(JobAssignee).where(JobAssignee.request_id == req.id)
        ).scalars()
    }
    for assignee in existing.values():
        if assignee.state in (*ON_THE_JOB, "declined"):
            assignee.state = "withdrawn"
            assignee.updated_at = now
    assignees = []
    for volunteer in chosen:
        assignee = existing.get(volunteer.id) or JobAssignee(
            request_id=req.id, volunteer_id=volunteer.id
        )
        assignee.team_id = team.id
        assignee.state = "offered"
        assignee.reason = None
        assignee.assigned_by = actor.label
        assignee.assigned_at = now
        assignee.updated_at = now
        db.session.add(assignee)
        assignees.append(assignee)
    db.session.flush()
    return assignees


# --- the same job from the console: the team's steps move the named volunteers too -------


def team_accept(req: HelpRequest, actor: Actor) -> None:
    """The team takes the job from the console: the volunteers offered it have accepted."""
    lifecycle.accept(req, actor)
    _move(req, ("offered",), "accepted")


def team_decline(req: HelpRequest, actor: Actor, reason: str | None) -> None:
    """The team gives the job back from the console: nobody named on it is on it any more
    (their later actions are refused as reassigned)."""
    lifecycle.decline(req, actor, reason)
    _move(req, (*ON_THE_JOB, "declined"), "withdrawn")


def team_arrive(req: HelpRequest, actor: Actor) -> None:
    """A helper is on site, marked from the console: the named volunteers on the job are."""
    lifecycle.arrive(req, actor)
    _move(req, ("offered", "accepted"), "on_site")


def team_complete(req: HelpRequest, actor: Actor, note: str | None, claimed: float | None) -> None:
    """The job is done, marked from the console for the team: each named volunteer still on it
    is done, and their hours (the hours claimed) wait for approval, once: a volunteer who
    already finished on their phone, or whose hours on the job are recorded, keeps theirs."""
    lifecycle.complete(req, actor, note, claimed)
    minutes = max(1, round((req.hours or 0) * 60))
    for assignee in _move(req, ON_THE_JOB, "done"):
        assignee.done_note = _done_note(note)
        record = db.session.execute(
            sa.select(ServiceRecord)
            .where(
                ServiceRecord.request_id == req.id,
                ServiceRecord.volunteer_id == assignee.volunteer_id,
                ServiceRecord.status != "declined",
            )
            .order_by(ServiceRecord.id)
            .limit(1)
        ).scalar_one_or_none()
        if record is None:
            volunteer = db.session.get_one(Volunteer, assignee.volunteer_id)
            record = hours.record_from_job(req, volunteer, actor, minutes)
        assignee.minutes = record.minutes if record.minutes is not None else minutes
        assignee.service_record_id = record.id
    db.session.flush()


def _done_note(note: str | None) -> str | None:
    return (note or "").strip()[:2000] or None


def _move(req: HelpRequest, from_states: tuple[str, ...], to: str) -> list[JobAssignee]:
    """Move the request's assignees in `from_states` to `to`; the ones moved."""
    now = utcnow()
    moved = [a for a in named_on(req) if a.state in from_states]
    for assignee in moved:
        assignee.state = to
        assignee.updated_at = now
    db.session.flush()
    return moved


# --- the actions phones send ----------------------------------------------------------------


@dataclass(frozen=True)
class ActionInput:
    """One action as the phone sent it (checked by `parse_action`)."""

    client_id: uuid.UUID
    kind: str
    request_id: int
    taken_at: datetime
    reason: str | None = None
    note: str | None = None
    minutes: int | None = None

    def body(self) -> dict[str, object]:
        """What is compared when the same id comes again."""
        return {
            "kind": self.kind,
            "request_id": self.request_id,
            "reason": self.reason,
            "note": self.note,
            "minutes": self.minutes,
        }


@dataclass(frozen=True)
class ActionResult:
    """What an action came to: `applied` or `rejected` (with the error code and why)."""

    client_id: str
    status: str
    error: str | None
    detail: str | None
    replay: bool

    def as_json(self) -> dict[str, object]:
        """The answer for the phone."""
        return {
            "id": self.client_id,
            "status": self.status,
            "error": self.error,
            "detail": self.detail,
            "replay": self.replay,
        }


def _result(row: FieldAction, replay: bool) -> ActionResult:
    return ActionResult(str(row.client_id), row.status, row.error, row.detail, replay)


def _membership(volunteer: Volunteer, team_id: int | None) -> bool:
    if team_id is None:
        return False
    return (
        db.session.execute(
            sa.select(TeamMember.team_id).where(
                TeamMember.team_id == team_id, TeamMember.volunteer_id == volunteer.id
            )
        ).first()
        is not None
    )


def named_on(req: HelpRequest) -> list[JobAssignee]:
    """The volunteers on the request's current dispatch (not withdrawn)."""
    return list(
        db.session.execute(
            sa.select(JobAssignee).where(
                JobAssignee.request_id == req.id, JobAssignee.state != "withdrawn"
            )
        ).scalars()
    )


def assignee_of(req: HelpRequest, volunteer: Volunteer) -> JobAssignee | None:
    """The volunteer's place on the job, if they have one (withdrawn included)."""
    return db.session.execute(
        sa.select(JobAssignee).where(
            JobAssignee.request_id == req.id, JobAssignee.volunteer_id == volunteer.id
        )
    ).scalar_one_or_none()


def _reassigned() -> Reassigned:
    return Reassigned(gettext("这项任务已改派给别人，不再需要你处理"))


def _place(req: HelpRequest, volunteer: Volunteer, kind: str) -> JobAssignee:
    """The volunteer's place on the job for this action, or why the job no longer allows it."""
    if req.community_id != volunteer.community_id:
        raise NotFound(gettext("没有这项任务"), "not_found")
    assignee = assignee_of(req, volunteer)
    if assignee is not None and assignee.state == "withdrawn":
        raise _reassigned()
    if assignee is not None and assignee.state == "done":
        # Finished on this phone before, or for the team from the console (hours recorded).
        raise Conflict(gettext("这项任务你已完成，时长已记录，等待审批"), "done_already")
    # A second helper on site finishes after the first one completed the request.
    finishing = (
        kind == "complete"
        and assignee is not None
        and assignee.state == "on_site"
        and req.status in statuses.AWAITING_CLOSE
    )
    if req.status not in statuses.ACTIVE_WORK and not finishing:
        if assignee is not None or _membership(volunteer, req.team_id):
            raise Reassigned(gettext("这项任务已经结束或被撤回"), "job_closed")
        raise NotFound(gettext("没有这项任务"), "not_found")
    if assignee is not None and assignee.team_id == req.team_id:
        return assignee
    team_open = kind in ("accept", "decline") and not named_on(req)
    if team_open and req.status == "dispatched" and _membership(volunteer, req.team_id):
        assignee = JobAssignee(
            request_id=req.id,
            volunteer_id=volunteer.id,
            team_id=req.team_id,
            state="offered",
            assigned_by=f"team:{req.team_id}",
        )
        db.session.add(assignee)
        db.session.flush()
        return assignee
    if _membership(volunteer, req.team_id) or assignee is not None:
        raise _reassigned()
    raise NotFound(gettext("没有这项任务"), "not_found")


REACHED = {"accepted": ("accepted", "on_site"), "on_site": ("on_site",)}
"""A step already reached (the team lead marked it from the console) is applied as it is."""


def _step(assignee: JobAssignee, allowed: tuple[str, ...], to: str) -> None:
    if assignee.state in REACHED.get(to, ()):
        return
    if assignee.state not in allowed:
        raise Conflict(
            gettext(
                "这一步现在不能做（你在这项任务上：%(state)s）", state=state_word(assignee.state)
            ),
            "wrong_step",
        )
    assignee.state = to
    assignee.updated_at = utcnow()


def _text(value: str | None, limit: int, required_message: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        if required_message is not None:
            raise InvalidInput(required_message, "missing")
        return None
    if len(value) > limit:
        raise InvalidInput(gettext("最多 %(n)s 个字", n=limit), "too_long")
    return value


def _accept(req: HelpRequest, me: JobAssignee, actor: Actor, _a: ActionInput) -> None:
    _step(me, ("offered",), "accepted")
    if req.status == "dispatched":
        lifecycle.accept(req, actor)


def _decline(req: HelpRequest, me: JobAssignee, actor: Actor, a: ActionInput) -> None:
    reason = _text(a.reason, 500, gettext("请写明不能接的原因"))
    _step(me, ("offered", "accepted"), "declined")
    me.reason = reason
    still_on = [x for x in named_on(req) if x.state in ON_THE_JOB]
    if not still_on and req.status in ("dispatched", "accepted"):
        lifecycle.decline(req, actor, reason)
    else:
        lifecycle.add_note(req, actor, f"declined: {reason}")


def _arrive(req: HelpRequest, me: JobAssignee, actor: Actor, _a: ActionInput) -> None:
    _step(me, ("accepted",), "on_site")
    if req.status == "accepted":
        lifecycle.arrive(req, actor)


def _complete(req: HelpRequest, me: JobAssignee, actor: Actor, a: ActionInput) -> None:
    note = _text(a.note, 2000, gettext("请写明做了什么"))
    minutes = a.minutes
    if minutes is None or not 0 < minutes <= hours.MAX_MINUTES:
        raise InvalidInput(gettext("分钟数须在 1 到 1440 之间"), "bad_minutes")
    _step(me, ("on_site",), "done")
    me.done_note = note
    me.minutes = minutes
    if req.status == "on_site":
        lifecycle.complete(req, actor, note, minutes / 60)
    volunteer = db.session.get_one(Volunteer, me.volunteer_id)
    record = hours.record_from_job(req, volunteer, actor, minutes)
    me.service_record_id = record.id


APPLY = {"accept": _accept, "decline": _decline, "arrive": _arrive, "complete": _complete}


def _existing(client_id: uuid.UUID) -> FieldAction | None:
    return db.session.execute(
        sa.select(FieldAction).where(FieldAction.client_id == client_id)
    ).scalar_one_or_none()


def _replayed(row: FieldAction, volunteer: Volunteer, a: ActionInput) -> ActionResult:
    if row.volunteer_id != volunteer.id or row.body != a.body():
        # Recorded nowhere: the first action keeps the id, and this one is refused.
        detail = gettext("这个编号已用于另一项操作")
        return ActionResult(str(a.client_id), "rejected", "id_reused", detail, replay=True)
    return _result(row, replay=True)


def apply_action(volunteer: Volunteer, a: ActionInput) -> ActionResult:
    """Apply one phone action exactly once: a repeat of its id answers the first result (the
    same id with other content is refused, the first keeps it); an action the job no longer
    allows is recorded as rejected, with the reason."""
    found = _existing(a.client_id)
    if found is not None:
        return _replayed(found, volunteer, a)
    if db.session.get(HelpRequest, a.request_id) is None:  # nothing to record it against
        return ActionResult(
            str(a.client_id), "rejected", "not_found", gettext("没有这项任务"), False
        )
    actor = Actor.volunteer(volunteer.name, volunteer.id)
    row = FieldAction(
        client_id=a.client_id,
        volunteer_id=volunteer.id,
        request_id=a.request_id,
        kind=a.kind,
        body=a.body(),
        taken_at=a.taken_at,
        status="applied",
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()  # the unique id is claimed before anything changes
            # Locked (PostgreSQL): two volunteers acting at once are applied one after the other.
            req = (
                db.session.execute(
                    sa.select(HelpRequest)
                    .where(HelpRequest.id == a.request_id)
                    .with_for_update(of=HelpRequest)
                )
                .unique()
                .scalar_one()
            )
            me = _place(req, volunteer, a.kind)
            APPLY[a.kind](req, me, actor, a)
            req.updated_at = utcnow()
            db.session.flush()
    except IntegrityError:
        found = _existing(a.client_id)
        if found is None:
            raise
        return _replayed(found, volunteer, a)
    except LinliError as exc:
        rejected = FieldAction(
            client_id=a.client_id,
            volunteer_id=volunteer.id,
            request_id=a.request_id,
            kind=a.kind,
            body=a.body(),
            taken_at=a.taken_at,
            status="rejected",
            error=exc.code[:40],
            detail=exc.detail[:300],
        )
        db.session.add(rejected)
        db.session.flush()
        return _result(rejected, replay=False)
    return _result(row, replay=False)


# --- 我的守望: visits and calls to the elders a volunteer looks after --------------------------

CARE_KINDS = {"visit": "visit", "call": "call"}
"""A phone's care action and the sign-of-life channel it records: 探访, 电话 (亲情连线)."""
CARE_OUTCOMES = ("ok", "needs_help", "no_answer")


@dataclass(frozen=True)
class CareInput:
    """A visit or a call as the phone sent it: the elder, the outcome, when."""

    client_id: uuid.UUID
    kind: str
    resident_id: int
    outcome: str
    taken_at: datetime


def plan_looked_after(volunteer: Volunteer, resident_id: int) -> CarePlan | None:
    """The watched care plan of the resident, when the volunteer is its building captain or
    paired volunteer (None otherwise: the elder is not theirs to see)."""
    plan = care.plan_of(resident_id)
    if plan is None or not plan.is_watched or plan.community_id != volunteer.community_id:
        return None
    if volunteer.id not in (plan.captain_id, plan.buddy_id):
        return None
    return plan


def _care_result(a: CareInput, sign: SignOfLife, replay: bool) -> ActionResult:
    same = (sign.channel, sign.outcome, sign.resident_id) == (
        CARE_KINDS[a.kind],
        a.outcome,
        a.resident_id,
    )
    if not same:
        detail = gettext("这个编号已用于另一项操作")
        return ActionResult(str(a.client_id), "rejected", "id_reused", detail, replay=True)
    return ActionResult(str(a.client_id), "applied", None, None, replay)


def apply_care(volunteer: Volunteer, a: CareInput) -> ActionResult:
    """Record a visit or call once, as a sign of life keyed by the phone's id (a repeat answers
    the first result); only for an elder whose plan names the volunteer. 没开门 / 没接通 and
    需要帮助 raise the next step at once (the care watch's rule). Audited."""
    actor = Actor.volunteer(volunteer.name, volunteer.id)
    key = f"field:{a.client_id}"
    found = db.session.execute(
        sa.select(SignOfLife).where(SignOfLife.source_key == key)
    ).scalar_one_or_none()
    if found is not None:
        if found.recorded_by != actor.label:
            detail = gettext("这个编号已用于另一项操作")
            return ActionResult(str(a.client_id), "rejected", "id_reused", detail, replay=True)
        return _care_result(a, found, replay=True)
    plan = plan_looked_after(volunteer, a.resident_id)
    if plan is None:
        detail = gettext("没有这位老人")
        return ActionResult(str(a.client_id), "rejected", "not_found", detail, False)
    sign, created = care.record_sign(
        care.Sign(
            community_id=plan.community_id,
            channel=CARE_KINDS[a.kind],
            at=min(a.taken_at, utcnow()),
            source_key=key,
            recorded_by=actor.label,
            resident_id=plan.resident_id,
            outcome=a.outcome,
        )
    )
    if not created:  # the same id sent twice at once: the other request recorded it
        return _care_result(a, sign, replay=True)
    audit.record(
        actor,
        plan.community_id,
        "create",
        f"care watch: {sign.channel} ({sign.outcome})",
        "volunteer in the care plan",
        resident_id=plan.resident_id,
    )
    return ActionResult(str(a.client_id), "applied", None, None, replay=False)


def apply_one(volunteer: Volunteer, a: ActionInput | CareInput) -> ActionResult:
    """One action from the phone's queue: a job's step, or a visit or call."""
    if isinstance(a, CareInput):
        return apply_care(volunteer, a)
    return apply_action(volunteer, a)


def issue_my_code(volunteer: Volunteer, points: int) -> str:
    """A redemption code the volunteer shows a merchant (through the passbook's own rule)."""
    _, code = issue_code(volunteer, points, Actor.volunteer(volunteer.name, volunteer.id))
    return code


# --- skills matched to categories, and building captains ------------------------------------

SUGGESTED_SKILL_WORDS: dict[str, tuple[str, ...]] = {
    "electrical": ("电工", "水电维修", "水电工", "电器维修"),
    "plumbing": ("水电维修", "水电工", "水暖工", "管道疏通"),
    "appliance": ("家电维修", "电器维修"),
    "health": ("医生", "护士", "护理", "医疗"),
    "meals": ("厨师", "做饭", "助餐"),
    "company": ("陪伴", "聊天", "心理咨询"),
    "errands": ("跑腿", "代购", "代办"),
}
"""Words a community starts from (`add_suggested_words`); each community edits its own."""
WORD_LIMIT = 40


def add_skill_word(community_id: int, category: Category, word: str, actor: Actor) -> SkillWord:
    """Count a skill word for the category in the community's dispatch. Audited."""
    word = _text(word, WORD_LIMIT, gettext("请写一个技能词")) or ""
    taken = db.session.execute(
        sa.select(SkillWord.id).where(
            SkillWord.community_id == community_id,
            SkillWord.category_id == category.id,
            SkillWord.word == word,
        )
    ).first()
    if taken is not None:
        raise Conflict(
            gettext("「%(word)s」已算作%(category)s", word=word, category=category.name_zh),
            "word_taken",
        )
    row = SkillWord(
        community_id=community_id, category_id=category.id, word=word, added_by=actor.label
    )
    db.session.add(row)
    db.session.flush()
    what = f"skill word {word!r} counts for {category.code}"
    audit.record(actor, community_id, "create", what, "dispatch word list")
    return row


def remove_skill_word(row: SkillWord, actor: Actor) -> None:
    """Stop counting a skill word for its category. Audited."""
    category = db.session.get_one(Category, row.category_id)
    what = f"skill word {row.word!r} no longer counts for {category.code}"
    db.session.delete(row)
    db.session.flush()
    audit.record(actor, row.community_id, "delete", what, "dispatch word list")


def add_suggested_words(community_id: int, actor: Actor) -> int:
    """Add `SUGGESTED_SKILL_WORDS` the community lacks (active categories only); how many."""
    categories = db.session.execute(
        sa.select(Category).where(
            Category.code.in_(SUGGESTED_SKILL_WORDS), Category.is_active.is_(True)
        )
    ).scalars()
    have = {
        (category_id, word)
        for category_id, word in db.session.execute(
            sa.select(SkillWord.category_id, SkillWord.word).where(
                SkillWord.community_id == community_id
            )
        )
    }
    added = 0
    for category in categories:
        for word in SUGGESTED_SKILL_WORDS[category.code]:
            if (category.id, word) not in have:
                db.session.add(
                    SkillWord(
                        community_id=community_id,
                        category_id=category.id,
                        word=word,
                        added_by=actor.label,
                    )
                )
                added += 1
    db.session.flush()
    if added:
        what = f"{added} suggested skill words added"
        audit.record(actor, community_id, "create", what, "dispatch word list")
    return added


def set_captain_buildings(volunteer: Volunteer, codes: list[str], actor: Actor) -> list[str]:
    """Make the volunteer the captain (楼长) of exactly these buildings of their community
    (none: no longer a captain); the codes kept, sorted. Audited."""
    wanted = sorted({c.strip() for c in codes if c.strip()})
    buildings = {
        b.code: b
        for b in db.session.execute(
            sa.select(Building).where(
                Building.community_id == volunteer.community_id, Building.code.in_(wanted)
            )
        ).scalars()
    }
    unknown = [c for c in wanted if c not in buildings]
    if unknown:
        raise InvalidInput(
            gettext("本社区没有这些楼栋：%(codes)s", codes="、".join(unknown)), "bad_building"
        )
    db.session.execute(
        sa.delete(BuildingCaptain).where(BuildingCaptain.volunteer_id == volunteer.id)
    )
    for code in wanted:
        db.session.add(
            BuildingCaptain(
                building_id=buildings[code].id, volunteer_id=volunteer.id, set_by=actor.label
            )
        )
    db.session.flush()
    what = f"volunteer #{volunteer.id}: building captain of {', '.join(wanted) or 'none'}"
    audit.record(actor, volunteer.community_id, "change", what, "楼长")
    return wanted
