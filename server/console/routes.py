"""The social workers' console and the teams' phone pages.

GET  /console/                               start page (the queue, or jobs for team leads)
GET  /console/queue                          the live queue: needs action first, filters, pages
GET  /console/queue/rows                     the queue's rows alone (live refresh)
GET  /console/queue/stream                   server-sent events: "changed" when requests change
GET  /console/requests/duplicates            possible duplicates of a room and category (JSON)
GET  /console/requests/new                   新建求助: enter a request told by phone, at the desk...
POST /console/requests/new                   make it (then the request page)
GET  /console/rooms?community=&q=            the intake's room type-ahead (rooms, known residents)
GET  /console/requests/<id>                  one request: words, profile card, timeline, actions
POST /console/requests/<id>/<action>         a lifecycle action or a note
GET  /console/requests/<id>/work-order       the team's 派工单, one A4 page (audited)
GET  /console/requests/<id>/escalations/<e>/transfer-order   an agency's 转办单 (audited)
GET  /console/jobs                           a team lead's jobs (phone-sized)
GET  /console/jobs/<id>                      one job (phone-sized)
POST /console/jobs/<id>/<action>             accept, decline, arrive, complete
GET  /console/kiosks                         kiosks: last sync, queue, health; stale ones flagged
GET  /console/kiosks/<id>/rejections         a kiosk's operations not applied, with bodies (audited)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import Form

from server.audit import services as audit
from server.audit.actor import Actor
from server.auth import access
from server.console import forms, live
from server.dispatch import services as dispatch_services
from server.dispatch.queries import agencies_of
from server.errors import InvalidInput, LinliError, NotFound
from server.field import queries as field_queries
from server.field import services as field_services
from server.inputs import as_id, form_problems, optional_int, parse_int
from server.kiosks.services import board_cursor, board_key, kiosk_board, kiosk_by_id
from server.notify import queries as notify_queries
from server.outbox.words import delivery_problem
from server.pages import form_failed
from server.people import services as people
from server.people.forms import invalid
from server.replies import queries as reply_queries
from server.replies.words import reply_words
from server.requests import queries
from server.requests import services as lifecycle
from server.requests.models import CHANNELS, REPORTER_KINDS, HelpRequest
from server.requests.queries import (
    QueueFilter,
    active_jobs,
    live_cursor,
    load_job,
    load_request,
    queue_changes,
    queue_choices,
    queue_page,
    room_choices,
)
from server.requests.words import TIME_LABELS, preferred_time_words, status_words
from server.subchoices.queries import choice_words, choices_of, names_by_key
from server.synclog import rejections
from server.timeutil import utcnow
from sync import statuses
from sync.messages import OTHER_CHOICE, PREFERRED_TIMES

bp = Blueprint("console", __name__, url_prefix="/console")


def _actor() -> Actor:
    return Actor.of_user(access.user())


# --- the queue ----------------------------------------------------------------------------


def _int_arg(name: str) -> int | None:
    return optional_int(request.args.get(name), name, code="bad_filter")


def _filters() -> QueueFilter:
    view = request.args.get("view", "action")
    if view not in ("action", "all"):
        raise InvalidInput(gettext("视图只能是 action 或 all"), "bad_filter")
    status = request.args.get("status") or None
    if status and status not in statuses.STATUSES:
        raise InvalidInput(gettext("没有 %(status)s 这个状态", status=repr(status)), "bad_filter")
    return QueueFilter(
        view=view,
        community_id=_int_arg("community"),
        category=request.args.get("category") or None,
        status=status,
        building=request.args.get("building") or None,
        team_id=_int_arg("team"),
    )


@bp.get("/")
def index() -> ResponseReturnValue:
    """Where a user starts."""
    if access.reaches("console.queue"):
        return redirect(url_for("console.queue"))
    return redirect(url_for("console.jobs"))


def _queue_context() -> dict[str, Any]:
    scope = access.community_scope()
    filters = _filters()
    since = live_cursor(utcnow())
    rows, next_cursor = queue_page(
        scope, filters, request.args.get("cursor"), current_app.config["LINLI_QUEUE_PAGE_SIZE"]
    )
    return {
        "rows": rows,
        "next_cursor": next_cursor,
        "filters": filters,
        "since": since,
        "row_words": _row_words(rows),
    }


def _row_words(rows: list[Any]) -> dict[int, str]:
    """Each row's sub-choice and preferred time in words (one query for the page's names)."""
    names = names_by_key({row.request.community_id for row in rows if row.request.choice_code})
    words: dict[int, str] = {}
    for row in rows:
        r = row.request
        parts = []
        if r.choice_code == OTHER_CHOICE:
            parts.append(gettext("其他"))
        elif r.choice_code:
            parts.append(names.get((r.community_id, r.category_id, r.choice_code), r.choice_code))
        when = preferred_time_words(r.preferred_time, r.received_at)
        if when:
            parts.append(when)
        if parts:
            words[r.id] = " · ".join(parts)
    return words


@bp.get("/queue")
def queue() -> ResponseReturnValue:
    """The live queue."""
    context = _queue_context()
    choices = queue_choices(access.community_scope())
    args = request.args.to_dict()
    args.pop("cursor", None)
    return render_template(
        "console/queue.html",
        communities=access.scoped_communities(),
        buildings=choices.buildings,
        teams=choices.teams,
        categories=choices.categories,
        statuses=statuses.STATUSES,
        args=args,
        **context,
    )


@bp.get("/queue/rows")
def queue_rows() -> ResponseReturnValue:
    """The queue's rows alone, for the live refresh; with `since` (the live cursor of the
    page's last refresh) only the rows changed since then, and the ids gone from the view."""
    since = request.args.get("since")
    filters = _filters()
    cursor = live_cursor(utcnow())
    changes = queue_changes(access.community_scope(), filters, since) if since else None
    if changes is None or changes.too_many:
        context = _queue_context()
        answer = make_response(render_template("console/_rows.html", **context))
        answer.headers["X-Live-Cursor"] = context["since"]
        return answer
    page = render_template(
        "console/_rows.html",
        rows=changes.rows,
        gone=changes.gone,
        filters=filters,
        delta=True,
        row_words=_row_words(changes.rows),
    )
    answer = make_response(page)
    answer.headers["X-Live-Cursor"] = cursor
    answer.headers["X-Live-Delta"] = "1"
    return answer


@bp.get("/queue/stream")
def queue_stream() -> ResponseReturnValue:
    """Server-sent events telling the page to refresh its rows (429: poll instead)."""
    return live.stream(access.community_scope(), session.get("sid") or access.user().get_id())


# --- intake by staff ----------------------------------------------------------------------


@bp.route("/requests/new", methods=["GET", "POST"])
def new_request() -> ResponseReturnValue:
    """新建求助: a request told to staff, entered while the caller is on the line."""
    form = forms.IntakeForm(MultiDict(request.form) if request.method == "POST" else None)
    communities = access.scoped_communities()
    if request.method == "GET":
        form.channel.data = "phone"
        form.on_behalf.data = "no"
        form.community.data = str(communities[0].id) if communities else ""

    def context() -> dict[str, Any]:
        # The sub-choices of the community picked (the first one before a choice is posted).
        ids = [c.id for c in communities]
        chosen = as_id(str(form.community.data or "")) or (ids[0] if ids else None)
        offered = [c for c in choices_of(chosen) if c.is_active] if chosen in ids else []
        return {
            "form": form,
            "communities": communities,
            "categories": queries.active_categories(),
            "channels": CHANNELS[1:],
            "reporter_kinds": REPORTER_KINDS,
            "choices": offered,
            "preferred_times": PREFERRED_TIMES,
            "time_labels": TIME_LABELS,
        }

    if request.method == "GET":
        return render_template("console/new_request.html", **context())
    if not form.validate():
        return form_failed(invalid(form), "console/new_request.html", context)
    community_id = parse_int(form.community.data, "community", code="bad_community")
    access.require_community(community_id)
    try:
        req = lifecycle.create_by_staff(form.to_intake(community_id), _actor())
    except LinliError as exc:
        return form_failed(exc, "console/new_request.html", context)
    flash(gettext("#%(id)s %(ticket)s：已登记", id=req.id, ticket=req.ticket))
    return redirect(url_for("console.request_page", request_id=req.id), 303)


@bp.get("/rooms")
def rooms() -> Response:
    """The intake's type-ahead: rooms by code, known residents by name or phone."""
    raw = request.args.get("community")
    if not raw:
        return jsonify([])
    community_id = parse_int(raw, "community", code="bad_community")
    access.require_community(community_id)
    choices = room_choices(community_id, request.args.get("q", ""))
    return jsonify([{"value": c.value, "label": c.label} for c in choices])


# --- one request --------------------------------------------------------------------------


def _request_context(req: HelpRequest) -> dict[str, Any]:
    can_act = access.may(access.STAFF, req.community_id)
    escalations = queries.escalations_of(req)
    replies = reply_queries.replies_to([e.id for e in escalations])
    context: dict[str, Any] = {
        "req": req,
        "events": lifecycle.timeline(req),
        "actions": lifecycle.available_actions(req) if can_act else [],
        "can_act": can_act,
        "overdue": lifecycle.is_overdue(req),
        "due_at": lifecycle.due_at(req),
        "escalations": escalations,
        "notifications": notify_queries.notifications_of(req.id),
        "agency_replies": replies,
        "reply_overdue": {
            e.id: reply_queries.reply_overdue(e, bool(replies[e.id])) for e in escalations
        },
        "reply_words": reply_words,
        "delivery_problem": delivery_problem,
        "duplicates": queries.duplicates_of(req),
        "possible_duplicates": queries.possible_duplicates_of(req),
        "status_words": status_words,
        "choice_words": choice_words(req.community_id, req.category_id, req.choice_code),
        "preferred_words": preferred_time_words(req.preferred_time, req.received_at),
        "resident": None,
        "candidates": [],
        "assignees": field_queries.assignees_of(req.id),
        "state_word": field_services.state_word,
    }
    if can_act:
        context["categories"] = queries.active_categories()
        context["suggestions"] = lifecycle.suggest_teams(req)
        teams = [s.team.id for s in context["suggestions"]]
        context["rosters"] = field_queries.rosters(req, teams)
        context["agencies"] = agencies_of(req.community_id)
        if req.resident_id is not None:
            context["resident"] = people.view_resident(
                req.resident_id, access.community_scope(), _actor(), f"request #{req.id}"
            )
        else:
            context["candidates"] = people.candidates_for(req.room_id, req.phone)
            if req.phone or context["candidates"]:
                who = _actor()
                audit.record(
                    who, req.community_id, "view",
                    f"request #{req.id}: phone and room's profiles", "request page",
                    request_id=req.id,
                )  # fmt: skip
    return context


@bp.get("/requests/duplicates")
def possible_duplicates() -> ResponseReturnValue:
    """Open requests that may be the need being entered for `room` and `category` (and
    `community` when the room code is in several), as JSON for the intake form; none until
    both are chosen."""
    room_code, code = request.args.get("room", ""), request.args.get("category", "")
    if not room_code.strip() or not code.strip():
        return jsonify([])
    category = queries.category_for(code)
    rooms = queries.rooms_coded(room_code, access.community_scope(), _int_arg("community"))
    if not rooms:
        raise NotFound(gettext("您的社区里没有房间 %(room)s", room=repr(room_code)))
    found = [d for room in rooms for d in queries.possible_duplicates(room, category.id)]
    return jsonify(
        [
            {
                "id": d.request.id,
                "ticket": d.request.ticket,
                "status": d.request.status,
                "status_words": status_words(d.request.status),
                "room": d.request.room.code,
                "received_at": d.request.received_at.isoformat(),
                "why": d.why,
                "url": url_for("console.request_page", request_id=d.request.id),
            }
            for d in found
        ]
    )


@bp.get("/requests/<int:request_id>")
def request_page(request_id: int) -> ResponseReturnValue:
    """One request."""
    req = load_request(request_id)
    return render_template("console/request.html", **_request_context(req))


@bp.get("/requests/<int:request_id>/work-order")
def work_order(request_id: int) -> ResponseReturnValue:
    """The team's 派工单, one printable page; it carries the resident's contact, so each
    print is a view of personal data in the audit trail."""
    order = queries.work_order(load_job(request_id))
    req = order.request
    audit.record(
        _actor(), req.community_id, "view",
        f"request #{req.id}: 派工单 printed (name, phone, emergency contact)",
        "print work order 派工单", resident_id=req.resident_id, request_id=req.id,
    )  # fmt: skip
    return render_template(
        "console/work_order.html",
        order=order,
        printed_at=utcnow(),
        choice_words=choice_words(req.community_id, req.category_id, req.choice_code),
        preferred_words=preferred_time_words(req.preferred_time, req.received_at),
    )


@bp.get("/requests/<int:request_id>/escalations/<int:escalation_id>/transfer-order")
def transfer_order(request_id: int, escalation_id: int) -> ResponseReturnValue:
    """An escalation's 转办单 for the agency, one printable page (no name or phone), audited."""
    order = queries.transfer_order(load_request(request_id), escalation_id)
    req, escalation = order.request, order.escalation
    audit.record(
        _actor(), req.community_id, "view",
        f"request #{req.id}: 转办单 printed for {escalation.agency.name} "
        f"(escalation #{escalation.id})",
        "print transfer order 转办单", resident_id=req.resident_id, request_id=req.id,
    )  # fmt: skip
    return render_template("console/transfer_order.html", order=order, printed_at=utcnow())


@dataclass(frozen=True)
class Action:
    """A console action: the form it reads and the service call it makes."""

    form: type[Form]
    run: Callable[[HelpRequest, Any], object]
    done: LazyString


def _hours(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _retry(req: HelpRequest, f: Any) -> None:
    dispatch_services.retry(queries.escalation_for(req, f.escalation.data), _actor())


def _link(req: HelpRequest, f: Any) -> None:
    resident = queries.resident_for(req, f.resident.data)
    lifecycle.link_resident(req, resident, _actor())
    who = _actor()
    audit.record(
        who,
        req.community_id,
        "link",
        "request linked to profile",
        f"request #{req.id}",
        resident.id,
        req.id,
    )


def _dispatch(req: HelpRequest, f: Any) -> None:
    picked = [
        parse_int(v, "volunteer", code="bad_volunteer") for v in request.form.getlist("volunteer")
    ]
    field_services.dispatch(req, _actor(), queries.team_for(req, f.team.data), picked, f.note.data)


ACTIONS: dict[str, Action] = {
    "triage": Action(
        forms.TriageForm,
        lambda r, f: lifecycle.triage(
            r, _actor(), queries.category_for(f.category.data), f.priority.data, f.note.data
        ),
        _l("已分类"),
    ),
    "dispatch": Action(forms.DispatchForm, _dispatch, _l("已派单")),
    "accept": Action(
        forms.EmptyForm, lambda r, f: field_services.team_accept(r, _actor()), _l("已接单")
    ),
    "decline": Action(
        forms.ReasonForm,
        lambda r, f: field_services.team_decline(r, _actor(), f.reason.data),
        _l("已退回"),
    ),
    "arrive": Action(
        forms.EmptyForm, lambda r, f: field_services.team_arrive(r, _actor()), _l("已上门")
    ),
    "complete": Action(
        forms.CompleteForm,
        lambda r, f: field_services.team_complete(r, _actor(), f.note.data, _hours(f.hours.data)),
        _l("已完成"),
    ),
    "follow_up": Action(
        forms.FollowUpForm,
        lambda r, f: lifecycle.follow_up(
            r, _actor(), f.outcome.data, f.satisfaction.data, f.note.data
        ),
        _l("已记录回访"),
    ),
    "close": Action(
        forms.CloseForm, lambda r, f: lifecycle.close(r, _actor(), f.note.data), _l("已结案")
    ),
    "escalate": Action(
        forms.EscalateForm,
        lambda r, f: lifecycle.escalate(
            r, _actor(), queries.agency_for(r, f.agency.data), f.note.data
        ),
        _l("已转交"),
    ),
    "external_feedback": Action(
        forms.FeedbackForm,
        lambda r, f: lifecycle.record_external_feedback(r, _actor(), f.note.data),
        _l("已记录反馈"),
    ),
    "cancel": Action(
        forms.ReasonForm, lambda r, f: lifecycle.cancel(r, _actor(), f.reason.data), _l("已取消")
    ),
    "answer_cancel": Action(
        forms.CancelAnswerForm,
        lambda r, f: lifecycle.answer_cancel_request(
            r, _actor(), f.accept.data == "yes", f.reason.data
        ),
        _l("已答复取消申请"),
    ),
    "merge": Action(
        forms.MergeForm,
        lambda r, f: lifecycle.merge_duplicate(
            r, queries.merge_target(r, f.target(), access.community_scope()), _actor(), f.note.data
        ),
        _l("已合并"),
    ),
    "reopen": Action(
        forms.ReasonForm,
        lambda r, f: lifecycle.reopen(r, _actor(), f.reason.data),
        _l("已重新打开"),
    ),
    "note": Action(
        forms.NoteForm, lambda r, f: lifecycle.add_note(r, _actor(), f.text.data), _l("已添加备注")
    ),
    "public_note": Action(
        forms.PublicNoteForm,
        lambda r, f: lifecycle.set_public_note(r, _actor(), f.text.data),
        _l("已设置公开说明"),
    ),
    "link": Action(forms.LinkForm, _link, _l("已关联居民")),
    "retry": Action(forms.RetryForm, _retry, _l("已重试送达")),
}

FIELD_ACTIONS = frozenset({"accept", "decline", "arrive", "complete"})


def _run(req: HelpRequest, action: str) -> None:
    """Validate the form and run the action (`InvalidInput` when the form is not valid)."""
    spec = ACTIONS[action]
    form = spec.form(MultiDict(request.form))
    if not form.validate():
        raise InvalidInput(form_problems(form))
    spec.run(req, form)


@bp.post("/requests/<int:request_id>/<action>")
def request_action(request_id: int, action: str) -> ResponseReturnValue:
    """Run one lifecycle action; bad input re-shows the page with the message, changing nothing."""
    if action not in ACTIONS:
        abort(404)
    req = load_request(request_id, for_update=True)
    try:
        _run(req, action)
    except LinliError as exc:
        audit.keep_on_failure()
        return form_failed(
            exc, "console/request.html", lambda: _request_context(load_request(request_id))
        )
    flash(f"#{req.id}: {ACTIONS[action].done}")
    return redirect(url_for("console.request_page", request_id=req.id), 303)


# --- phone pages for teams ----------------------------------------------------------------


@bp.get("/jobs")
def jobs() -> ResponseReturnValue:
    """Jobs dispatched to the user's teams that are not done yet."""
    jobs, next_cursor = active_jobs(request.args.get("cursor"))
    return render_template("console/jobs.html", jobs=jobs, next_cursor=next_cursor)


@bp.get("/jobs/<int:request_id>")
def job_page(request_id: int) -> ResponseReturnValue:
    """One job with big buttons for the next step."""
    return render_template("console/job.html", **_job_context(load_job(request_id)))


def _job_context(req: HelpRequest) -> dict[str, Any]:
    return {"req": req, "actions": lifecycle.available_actions(req)}


@bp.post("/jobs/<int:request_id>/<action>")
def job_action(request_id: int, action: str) -> ResponseReturnValue:
    """Accept, decline, arrive or complete."""
    if action not in FIELD_ACTIONS:
        abort(404)
    req = load_job(request_id, for_update=True)
    try:
        _run(req, action)
    except LinliError as exc:
        return form_failed(exc, "console/job.html", lambda: _job_context(load_job(request_id)))
    flash(str(ACTIONS[action].done))
    if req.status in statuses.ACTIVE_WORK:
        return redirect(url_for("console.job_page", request_id=req.id), 303)
    return redirect(url_for("console.jobs"), 303)


KIOSKS_SHOWN = 50
"""Kiosks per page of the kiosk board."""


@bp.get("/kiosks")
def kiosks() -> ResponseReturnValue:
    """The kiosks of the user's communities (or of the one chosen), a page at a time: when
    each last synced, its queue and health, the silent and stuck ones first."""
    stale_after = current_app.config["LINLI_KIOSK_STALE_MINUTES"]
    communities, chosen = access.community_choice()
    scope = frozenset({chosen.id}) if chosen else access.community_scope()
    after = request.args.get("after")
    shown, next_key = kiosk_board(
        scope, stale_after, board_key(after) if after else None, KIOSKS_SHOWN
    )
    return render_template(
        "console/kiosks.html",
        kiosks=shown,
        next_after=board_cursor(next_key) if next_key else None,
        communities=communities,
        chosen=chosen,
        stale_after=stale_after,
        may_see_bodies=access.may(access.STAFF),
    )


REFUSALS_SHOWN = 200


@bp.get("/kiosks/<int:kiosk_id>/rejections")
def kiosk_rejections(kiosk_id: int) -> ResponseReturnValue:
    """A kiosk's rejected and conflicting operations with what was sent; each body shown is
    personal data, so each is written to the audit trail."""
    kiosk = kiosk_by_id(kiosk_id)
    access.require_community(kiosk.community_id)
    refusals = rejections.of_kiosk(kiosk.id, REFUSALS_SHOWN)
    who = _actor()
    for refusal in refusals:
        if refusal.body is not None:
            audit.record(
                who, kiosk.community_id, "view",
                f"kiosk {kiosk.name}: body of {refusal.kind} operation seq {refusal.seq}",
                f"kiosk rejections page ({refusal.reason})",
            )  # fmt: skip
    counts = rejections.counts_by_kiosk([kiosk.id]).get(kiosk.id, rejections.KioskRefusals())
    return render_template(
        "console/kiosk_rejections.html", kiosk=kiosk, refusals=refusals, counts=counts
    )
