"""The request lifecycle as a state machine. Routes call these; they flush, never commit.

received → triaged → dispatched → accepted (declined: back to triaged) → on_site → completed
→ followed_up → closed_fixed | closed_not_fixed; escalated → external_feedback → followed_up;
cancelled; duplicate (merged into another request); closed or cancelled → reopened → triaged.
Every change appends a RequestEvent; a change the kiosks can see goes to the sync change log
(every kiosk of the community sees every request, whatever the channel it came by).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext

from server.audit import services as audit
from server.audit.actor import Actor
from server.communities.models import Community, Room
from server.dispatch.models import ESCALATION_KIND, Agency, Escalation, Team
from server.errors import Conflict, InvalidInput, LinliError
from server.extensions import db
from server.hooks import Hook
from server.notify import services as notify
from server.outbox import services as outbox
from server.people.models import Resident
from server.requests.changes import request_change
from server.requests.models import (
    CHANNELS,
    REPORTER_KINDS,
    STAFF_TICKET_PREFIX,
    Category,
    HelpRequest,
    RequestEvent,
    SubChoice,
)
from server.requests.words import action_words, field_words, status_words
from server.synclog.changes import record_changes
from server.timeutil import utcnow
from sync.ids import format_ticket, uuid7
from sync.messages import OTHER_CHOICE, PREFERRED_TIMES
from sync.statuses import ACTIVE_WORK, BEFORE_ARRIVAL, CLOSED, FINAL, NEW, OPEN, RequestStatus

PRIORITIES = ("normal", "high", "emergency")
OUTCOMES = ("fixed", "partly", "not_fixed")
ELDERLY_AGE = 80
EMERGENCY_DEADLINE_MINUTES = 20
"""An emergency-priority request is overdue when nobody is on site 20 minutes after receipt."""

TRANSITIONS: dict[str, tuple[frozenset[RequestStatus], frozenset[RequestStatus]]] = {
    "triage": (NEW, frozenset({"triaged"})),
    "dispatch": (frozenset({"triaged"}), frozenset({"dispatched"})),
    "accept": (frozenset({"dispatched"}), frozenset({"accepted"})),
    "decline": (frozenset({"dispatched", "accepted"}), frozenset({"triaged"})),
    "arrive": (frozenset({"accepted"}), frozenset({"on_site"})),
    "complete": (frozenset({"on_site"}), frozenset({"completed"})),
    "follow_up": (frozenset({"completed", "external_feedback"}), frozenset({"followed_up"})),
    "close": (frozenset({"followed_up"}), CLOSED),
    "escalate": (NEW | ACTIVE_WORK, frozenset({"escalated"})),
    "external_feedback": (frozenset({"escalated"}), frozenset({"external_feedback"})),
    "cancel": (OPEN, frozenset({"cancelled"})),
    "merge": (OPEN, frozenset({"duplicate"})),
    "reopen": (CLOSED | {"cancelled"}, frozenset({"reopened"})),
}
"""action → (statuses it may start from, statuses it may lead to); `close` picks fixed or not."""


class IllegalTransition(LinliError):
    """The action is not allowed from the request's current status."""

    status = 409
    code = "illegal_transition"


def available_actions(req: HelpRequest) -> list[str]:
    """The lifecycle actions allowed from the request's current status."""
    return [name for name, (sources, _) in TRANSITIONS.items() if req.status in sources]


def _transition(
    req: HelpRequest,
    action: str,
    actor: Actor,
    note: str | None,
    to: RequestStatus | None = None,
) -> None:
    sources, targets = TRANSITIONS[action]
    if req.status not in sources:
        raise IllegalTransition(
            gettext(
                "求助%(status)s，不能%(action)s",
                action=action_words(action),
                status=status_words(req.status),
            )
        )
    if to is None:
        (to,) = targets  # an action with several targets is always told which one
    if to not in targets:
        raise ValueError(f"{action} leads to {sorted(targets)}, not {to}")
    before = req.status
    req.status = to
    _event(req, actor, note, from_status=before, to_status=req.status)


def _event(
    req: HelpRequest,
    actor: Actor,
    note: str | None,
    *,
    kind: str = "status",
    from_status: str | None = None,
    to_status: str | None = None,
) -> None:
    now = utcnow()
    req.updated_at = now
    db.session.add(
        RequestEvent(
            request_id=req.id,
            at=now,
            actor=actor.label,
            from_status=from_status,
            to_status=to_status,
            note=note or None,
            kind=kind,
        )
    )
    if kind in ("status", "public_note", "cancel"):
        db.session.flush()
        record_changes([request_change(req)])
    db.session.flush()


def _clean(text: str | None, limit: int, field: str) -> str | None:
    text = (text or "").strip()
    if len(text) > limit:
        raise InvalidInput(
            gettext("%(field)s最多 %(n)s 个字符", field=field_words(field), n=limit),
            "too_long",
            field=field,
        )
    return text or None


def _required(text: str | None, limit: int, field: str) -> str:
    value = _clean(text, limit, field)
    if value is None:
        raise InvalidInput(gettext("请填写%(field)s", field=field_words(field)), "missing")
    return value


# --- intake by staff and integrations ----------------------------------------------------

PHONE = re.compile(r"^\+?[0-9]{5,15}$")
"""The kiosk's phone rule (sync.messages.Phone): digits, an optional leading +."""


@dataclass(frozen=True)
class Intake:
    """A request told to staff (phone, walk-in, a building captain...) or sent by an
    integration; every text is as typed, checked by `create_by_staff`."""

    community_id: int
    room: str
    """The room code, `building-unit-room`."""
    category: str
    """The category code."""
    channel: str
    details: str | None = None
    phone: str | None = None
    reporter_kind: str | None = None
    reporter_name: str | None = None
    on_behalf: bool = False
    choice: str | None = None
    """What is wrong: one of the community's active sub-choices of the category, or `other`."""
    preferred_time: str | None = None
    """One of sync.messages.PREFERRED_TIMES."""


def next_staff_ticket(community_id: int) -> str:
    """The community's next `O-` ticket, skipping one an older request already holds."""
    # The counter's row lock orders concurrent intakes; Open311 once gave random `O-` tickets.
    for _ in range(100):
        number = db.session.execute(
            sa.update(Community)
            .where(Community.id == community_id)
            .values(last_staff_ticket=Community.last_staff_ticket + 1)
            .returning(Community.last_staff_ticket)
        ).scalar_one()
        ticket = format_ticket(STAFF_TICKET_PREFIX, number)
        taken = db.session.execute(
            sa.select(HelpRequest.id).where(
                HelpRequest.community_id == community_id, HelpRequest.ticket == ticket
            )
        ).first()
        if taken is None:
            return ticket
    return ticket  # a full round of 10,000 numbers: reuse, as a kiosk's ticket does


def _intake_field(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(
            gettext(
                "%(field)s须为以下之一：%(codes)s",
                field=field_words(field),
                codes=", ".join(allowed),
            ),
            f"bad_{field}",
            field=field,
        )
    return value


def _intake_choice(community_id: int, category: Category, code: str | None) -> str | None:
    """The sub-choice code when it is `other` or an active one of the community's category."""
    if code is None or code == OTHER_CHOICE:
        return code
    found = db.session.execute(
        sa.select(SubChoice.id).where(
            SubChoice.community_id == community_id,
            SubChoice.category_id == category.id,
            SubChoice.code == code,
            SubChoice.is_active,
        )
    ).first()
    if found is None:
        raise InvalidInput(
            gettext("这个类别没有这个细分选项：%(code)s", code=code), "bad_choice", field="choice"
        )
    return code


def create_by_staff(intake: Intake, actor: Actor) -> HelpRequest:
    """A request entered for a caller (console, staff API, Open311), audited; then as a kiosk's."""
    # Any channel but `kiosk` (a kiosk's own come by sync); linked to the resident when exactly
    # one profile has the room and phone, as triage would.
    channel = _intake_field(intake.channel, CHANNELS[1:], "channel")
    kind = intake.reporter_kind or None
    if kind is not None:
        _intake_field(kind, REPORTER_KINDS, "reporter_kind")
    category = db.session.execute(
        sa.select(Category).where(Category.code == intake.category, Category.is_active)
    ).scalar_one_or_none()
    if category is None:
        raise InvalidInput(
            gettext("类别：没有启用的类别 %(code)s", code=repr(intake.category)),
            "bad_category",
            field="category",
        )
    room = db.session.execute(
        sa.select(Room).where(
            Room.community_id == intake.community_id, Room.code == (intake.room or "").strip()
        )
    ).scalar_one_or_none()
    if room is None:
        raise InvalidInput(
            gettext("房间须为本社区的房间号（楼-单元-室）"),
            "bad_room",
            field="room",
        )
    phone = _clean(intake.phone, 20, "phone")
    if phone is not None:
        phone = phone.replace(" ", "").replace("-", "")
        if not PHONE.match(phone):
            raise InvalidInput(
                gettext("电话须为 5 到 15 位数字，开头可有 +"), "bad_phone", field="phone"
            )
    choice = _intake_choice(intake.community_id, category, intake.choice or None)
    preferred = intake.preferred_time or None
    if preferred is not None:
        _intake_field(preferred, PREFERRED_TIMES, "preferred_time")
    details = _clean(intake.details, 2000, "details")
    if details is not None and "\x00" in details:
        raise InvalidInput(gettext("原话不能含有 NUL 字符"), "bad_details", field="details")
    now = utcnow()
    req = HelpRequest(
        client_id=uuid7(),
        community_id=intake.community_id,
        kiosk_id=None,
        category_id=category.id,
        room_id=room.id,
        ticket=next_staff_ticket(intake.community_id),
        phone=phone,
        details=details,
        is_on_behalf=intake.on_behalf,
        channel=channel,
        reporter_kind=kind,
        reporter_name=_clean(intake.reporter_name, 100, "reporter_name"),
        choice_code=choice,
        preferred_time=preferred,
        status="received",
        is_urgent=category.is_urgent,
        device_created_at=now,
        received_at=now,
        updated_at=now,
    )
    db.session.add(req)
    db.session.flush()
    db.session.add(
        RequestEvent(
            request_id=req.id,
            at=now,
            actor=actor.label,
            to_status="received",
            note=f"channel {channel}",
        )
    )
    db.session.flush()
    auto_link_resident(req, actor)
    audit.record(
        actor,
        req.community_id,
        "create",
        f"request {req.ticket} ({channel})",
        "intake for a caller",
        resident_id=req.resident_id,
        request_id=req.id,
    )
    # Every kiosk of the community hears of it at once ("我的求助" shows a phone request too).
    record_changes([request_change(req)])
    ROOM_SEEN.get()(req.community_id, room.id, "request", now, f"request:{req.client_id}")
    if req.is_urgent:
        _notify(req, "emergency", (), "arrival")
    return req


# --- deadlines --------------------------------------------------------------------------


def deadline_minutes(req: HelpRequest) -> int | None:
    """Minutes allowed to a helper on site: the category's, at most 20 for emergencies."""
    minutes = req.category.deadline_minutes
    if req.priority == "emergency":
        return min(minutes or EMERGENCY_DEADLINE_MINUTES, EMERGENCY_DEADLINE_MINUTES)
    return minutes


def due_at(req: HelpRequest) -> datetime | None:
    """When a helper should be on site (received + the deadline)."""
    minutes = deadline_minutes(req)
    return None if minutes is None else req.received_at + timedelta(minutes=minutes)


def is_overdue(req: HelpRequest, now: datetime | None = None) -> bool:
    """Past the category's deadline and nobody on site yet."""
    due = due_at(req)
    return req.status in BEFORE_ARRIVAL and due is not None and (now or utcnow()) > due


def overdue_clause(categories: list[Category], now: datetime) -> sa.ColumnElement[bool]:
    """SQL for `is_overdue`, portable: one cut-off time per category instead of date maths."""
    per_category = [
        sa.and_(
            HelpRequest.category_id == c.id,
            HelpRequest.received_at < now - timedelta(minutes=c.deadline_minutes),
        )
        for c in categories
        if c.deadline_minutes is not None
    ]
    per_category.append(
        sa.and_(
            HelpRequest.priority == "emergency",
            HelpRequest.received_at < now - timedelta(minutes=EMERGENCY_DEADLINE_MINUTES),
        )
    )
    return sa.and_(HelpRequest.status.in_(BEFORE_ARRIVAL), sa.or_(*per_category))


# --- triage and dispatch ------------------------------------------------------------------


def resident_age(resident: Resident, now: datetime | None = None) -> int | None:
    """Age in years this year, from the birth year."""
    if resident.birth_year is None:
        return None
    return (now or utcnow()).year - resident.birth_year


def effective_priority(category: Category, resident: Resident | None, asked: str) -> str:
    """The asked priority, raised for emergencies and for elders living alone or over 80."""
    if asked not in PRIORITIES:
        raise InvalidInput(
            gettext("优先级须为以下之一：%(codes)s", codes=", ".join(PRIORITIES)), "bad_priority"
        )
    if category.is_urgent:
        return "emergency"
    vulnerable = resident is not None and (
        resident.is_living_alone or (resident_age(resident) or 0) >= ELDERLY_AGE
    )
    if vulnerable and asked == "normal":
        return "high"
    return asked


def auto_link_resident(req: HelpRequest, actor: Actor) -> Resident | None:
    """Link the request to the one profile matching its room and phone, if exactly one does.

    Anything less certain (room only, several matches) waits for a social worker to confirm.
    """
    if req.resident_id is not None:
        return db.session.get(Resident, req.resident_id)
    if not req.phone:
        return None
    matches = (
        db.session.execute(
            sa.select(Resident).where(
                Resident.room_id == req.room_id,
                Resident.phone == req.phone,
                Resident.deleted_at.is_(None),
            )
        )
        .scalars()
        .all()
    )
    if len(matches) != 1:
        return None
    req.resident_id = matches[0].id
    _event(req, actor, gettext("按房间和电话关联到居民"), kind="link")
    return matches[0]


def link_resident(req: HelpRequest, resident: Resident, actor: Actor) -> None:
    """A social worker confirms which resident a request is from."""
    if resident.community_id != req.community_id or resident.deleted_at is not None:
        raise InvalidInput(gettext("这位居民不在这条求助的社区"), "bad_resident")
    req.resident_id = resident.id
    _event(req, actor, gettext("已关联到居民 #%(id)s（已确认）", id=resident.id), kind="link")


def triage(
    req: HelpRequest, actor: Actor, category: Category, priority: str, note: str | None
) -> None:
    """Set category and priority (raised for vulnerable residents)."""
    note = _clean(note, 2000, "note")
    resident = auto_link_resident(req, actor)
    req.category_id = category.id
    req.category = category
    req.is_urgent = category.is_urgent
    req.priority = effective_priority(category, resident, priority)
    text = f"category {category.code}, priority {req.priority}"
    _transition(req, "triage", actor, f"{text}: {note}" if note else text)


def dispatch(
    req: HelpRequest, actor: Actor, team: Team, volunteers: str | None, note: str | None
) -> None:
    """Send to a team (and optionally named volunteers); tell the kiosk who is coming."""
    if team.community_id != req.community_id or not team.is_active:
        raise InvalidInput(gettext("请选择这条求助所在社区的在用服务队"), "bad_team")
    req.team_id = team.id
    req.team = team
    req.volunteers = _clean(volunteers, 300, "volunteers")
    _transition(req, "dispatch", actor, _clean(note, 2000, "note"))
    who = f"{team.name} {req.volunteers}" if req.volunteers else team.name
    set_public_note(req, actor, f"已派单 — {who}")
    # Dispatched before (then declined): a reassignment, told to the teams told before too.
    again = req.first_dispatched_at is not None
    _notify(req, "reassign" if again else "dispatch", (team.id,), str(uuid7()))


def _notify(req: HelpRequest, event: str, team_ids: tuple[int, ...], key: str) -> None:
    """Tell the community's groups (and the teams' own) of this request's event."""
    notify.announce(
        notify.Occasion(
            event=event,
            request_id=req.id,
            community_id=req.community_id,
            ticket=req.ticket,
            room_id=req.room_id,
            category_name=req.category.name_zh,
            team_ids=team_ids,
            key=key,
        )
    )


def notify_overdue(req: HelpRequest) -> None:
    """Tell the groups concerned that nobody is on site past the deadline (once per mark)."""
    team_ids = (req.team_id,) if req.team_id is not None else ()
    marked = req.overdue_marked_at.isoformat() if req.overdue_marked_at else ""
    _notify(req, "overdue", team_ids, marked)


@dataclass(frozen=True)
class Roster:
    """Who serves in the teams, answered by the volunteers feature (installed in `ROSTER` by
    the app factory), which sits above requests and is not imported here."""

    skilled: Callable[[list[int], set[str]], dict[int, int]]
    """Per team id: its active members whose skills name one of the words."""
    category_words: Callable[[int, Category], set[str]]
    """The words a skill may name to count for the category in the community (its code and
    names, and the community's word list)."""
    captains: Callable[[list[int], int], dict[int, int]]
    """Per team id: its active members who captain the building (楼长)."""


ROSTER: Hook[Roster] = Hook("roster")

ROOM_SEEN: Hook[Callable[[int, int, str, datetime, str], None]] = Hook("room_seen")
"""A request made for a room, or a job completed there, is a sign of life for the care watch
(community id, room id, channel `request` or `job`, when, a key naming the event once);
implemented by the care watch, above this feature."""


def _roster() -> Roster:
    return ROSTER.get()


@dataclass(frozen=True)
class TeamSuggestion:
    """A team for a dispatch, with what its rank is based on."""

    team: Team
    takes_category: bool
    skilled: int
    """Active members whose skills name this category (its code or a name)."""
    load: int
    """Requests dispatched to the team and not yet completed."""
    captains: int = 0
    """Members who captain the request's building (楼长): such a team is offered first."""


def suggest_teams(req: HelpRequest) -> list[TeamSuggestion]:
    """The community's teams ranked: takes this category, has the building's captain (楼长),
    most skilled members, least load."""
    load = (
        sa.select(HelpRequest.team_id, sa.func.count().label("n"))
        .where(HelpRequest.status.in_(ACTIVE_WORK))
        .group_by(HelpRequest.team_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Team, sa.func.coalesce(load.c.n, 0))
        .outerjoin(load, load.c.team_id == Team.id)
        .where(Team.community_id == req.community_id, Team.is_active)
    ).all()
    words = _roster().category_words(req.community_id, req.category)
    team_ids = [team.id for team, _ in rows]
    skilled = _roster().skilled(team_ids, words)
    captains = _roster().captains(team_ids, req.room.building_id)
    ranked = [
        TeamSuggestion(
            team,
            req.category.code in (team.category_codes or []),
            skilled.get(team.id, 0),
            n,
            captains.get(team.id, 0),
        )
        for team, n in rows
    ]
    ranked.sort(
        key=lambda t: (not t.takes_category, not t.captains, -t.skilled, t.load, t.team.name)
    )
    return ranked


def accept(req: HelpRequest, actor: Actor) -> None:
    """The team takes the job."""
    _transition(req, "accept", actor, None)


def decline(req: HelpRequest, actor: Actor, reason: str | None) -> None:
    """The team cannot take it: back to triaged for another dispatch."""
    reason = _required(reason, 500, "reason")
    req.team_id = None
    req.team = None
    req.volunteers = None
    _transition(req, "decline", actor, f"declined: {reason}")
    set_public_note(req, actor, "正在重新安排")


def arrive(req: HelpRequest, actor: Actor) -> None:
    """A helper is on site."""
    req.arrived_at = utcnow()
    _transition(req, "arrive", actor, None)


def complete(req: HelpRequest, actor: Actor, note: str | None, hours: float | None) -> None:
    """The job is done on site: what was done and the hours claimed."""
    note = _required(note, 2000, "what was done")
    if hours is None or not 0 < hours <= 24:
        raise InvalidInput(gettext("工时须大于 0、最多 24"), "bad_hours")
    req.hours = hours
    _transition(
        req, "complete", actor, gettext("%(note)s（%(hours)s 小时）", note=note, hours=f"{hours:g}")
    )
    if req.room_id is not None:
        ROOM_SEEN.get()(req.community_id, req.room_id, "job", utcnow(), f"job:{req.client_id}")


def follow_up(
    req: HelpRequest, actor: Actor, outcome: str, satisfaction: int | None, note: str | None
) -> None:
    """The 回访 phone call: was it fixed, and how satisfied was the resident (1 to 5)."""
    if outcome not in OUTCOMES:
        raise InvalidInput(
            gettext("结果须为以下之一：%(codes)s", codes=", ".join(OUTCOMES)), "bad_outcome"
        )
    if satisfaction is None or not 1 <= satisfaction <= 5:
        raise InvalidInput(gettext("满意度须在 1 到 5 之间"), "bad_satisfaction")
    req.outcome = outcome
    req.satisfaction = satisfaction
    note = _clean(note, 2000, "note")
    text = f"outcome {outcome}, satisfaction {satisfaction}"
    _transition(req, "follow_up", actor, f"{text}: {note}" if note else text)


def close(req: HelpRequest, actor: Actor, note: str | None) -> None:
    """Close after follow-up: fixed only when the resident said it was fixed."""
    to: RequestStatus = "closed_fixed" if req.outcome == "fixed" else "closed_not_fixed"
    _transition(req, "close", actor, _clean(note, 2000, "note"), to=to)
    req.closed_at = utcnow()


def reopen(req: HelpRequest, actor: Actor, reason: str | None) -> None:
    """Open a closed or cancelled request again; it goes back through triage."""
    reason = _required(reason, 500, "reason")
    req.closed_at = None
    _transition(req, "reopen", actor, reason)


def cancel(req: HelpRequest, actor: Actor, reason: str | None) -> None:
    """Cancel (the resident no longer needs help, or staff decide so), with a reason."""
    reason = _required(reason, 500, "reason")
    req.is_cancel_requested = False
    _transition(req, "cancel", actor, reason)


def answer_cancel_request(
    req: HelpRequest, actor: Actor, accepted: bool, reason: str | None
) -> None:
    """Accept or refuse the kiosk's cancellation request; the reason reaches the kiosk."""
    if not req.is_cancel_requested:
        raise Conflict(gettext("这条求助没有待答复的取消申请"), "no_cancel_request")
    reason = _required(reason, 500, "reason")
    if accepted:
        cancel(req, actor, gettext("同意取消申请：%(reason)s", reason=reason))
        set_public_note(req, actor, f"已取消 — {reason}")
        return
    req.is_cancel_requested = False
    _event(req, actor, gettext("不同意取消申请：%(reason)s", reason=reason), kind="cancel")
    set_public_note(req, actor, f"未取消 — {reason}")


def merge_duplicate(req: HelpRequest, into: HelpRequest, actor: Actor, note: str | None) -> None:
    """Mark `req` a duplicate of `into`; both stay, with their residents, linked."""
    if into.id == req.id:
        raise InvalidInput(gettext("求助不能与自己重复"), "self_merge")
    if into.community_id != req.community_id:
        raise InvalidInput(gettext("两条求助须在同一社区"), "bad_merge")
    if into.status in FINAL:
        raise InvalidInput(
            gettext(
                "求助 #%(id)s %(status)s；请合并到未结的求助",
                id=into.id,
                status=status_words(into.status),
            ),
            "bad_merge",
        )
    note = _clean(note, 2000, "note")
    req.duplicate_of_id = into.id
    _transition(req, "merge", actor, f"merged into #{into.id}" + (f": {note}" if note else ""))
    _event(into, actor, gettext("#%(id)s 已合并到这条求助", id=req.id), kind="merge")
    set_public_note(req, actor, f"已合并到 {into.ticket}")


def new_escalation(req: HelpRequest, agency: Agency, note: str | None) -> Escalation:
    """The hand-off record and its delivery, queued in the outbox: sent once the transaction
    commits (never before), retried by the timer. The payload has no name or phone number."""
    escalation = Escalation(
        request_id=req.id,
        agency_id=agency.id,
        agency=agency,
        delivery_status="pending",
        attempts=0,
        payload={
            "ticket": req.ticket,
            "category": req.category.code,
            "address_id": req.room.code,
            "description": req.details,
            "note": note,
            "received_at": req.received_at.isoformat(),
        },
    )
    db.session.add(escalation)
    db.session.flush()
    key = f"linli-escalation-{escalation.id}"
    if agency.delivery == "order":  # no webhook: staff print or e-mail its 转办单 and reply link
        escalation.delivery_status = "order"
        escalation.payload = {**escalation.payload, "idempotency_key": key}
        return escalation
    escalation.payload = {**escalation.payload, "idempotency_key": key}
    message = outbox.enqueue(
        ESCALATION_KIND, agency.endpoint_url, escalation.payload, key, escalation.id
    )
    escalation.next_attempt_at = message.next_attempt_at
    return escalation


def escalate(req: HelpRequest, actor: Actor, agency: Agency, note: str | None) -> Escalation:
    """Hand the request to an outside agency; delivered after the commit, retried later."""
    if agency.community_id != req.community_id:
        raise InvalidInput(gettext("请选择这条求助所在社区的职能部门"), "bad_agency")
    note = _clean(note, 2000, "note")
    _transition(
        req,
        "escalate",
        actor,
        gettext("转交 %(agency)s：%(note)s", agency=agency.name, note=note)
        if note
        else gettext("转交 %(agency)s", agency=agency.name),
    )
    escalation = new_escalation(req, agency, note)
    record_changes([request_change(req)])  # now the kiosks can name the agency
    return escalation


def note_delivery(escalation: Escalation, actor: str, at: datetime, note: str) -> None:
    """A delivery attempt on the request's timeline (dispatch calls it through its hook)."""
    db.session.add(
        RequestEvent(
            request_id=escalation.request_id, at=at, actor=actor, note=note, kind="delivery"
        )
    )


def record_external_feedback(req: HelpRequest, actor: Actor, note: str | None) -> None:
    """What the outside agency reported back."""
    _transition(req, "external_feedback", actor, _required(note, 2000, "feedback"))


def add_note(req: HelpRequest, actor: Actor, text: str | None) -> None:
    """An internal note (staff only; never sent to the kiosk)."""
    _event(req, actor, _required(text, 2000, "note"), kind="note")


def set_public_note(req: HelpRequest, actor: Actor, text: str | None) -> None:
    """The status note the kiosk shows the resident."""
    req.public_note = _required(text, 200, "public note")
    _event(req, actor, req.public_note, kind="public_note")


def timeline(req: HelpRequest) -> list[RequestEvent]:
    """The request's events, oldest first."""
    return list(
        db.session.execute(
            sa.select(RequestEvent)
            .where(RequestEvent.request_id == req.id)
            .order_by(RequestEvent.at, RequestEvent.id)
        ).scalars()
    )
