"""The social workers' console and the teams' phone pages.

GET  /console/                               start page (the queue, or jobs for team leads)
GET  /console/queue                          the live queue: needs action first, filters, pages
GET  /console/queue/rows                     the queue's rows alone (live refresh)
GET  /console/queue/stream                   server-sent events: "changed" when requests change
GET  /console/requests/<id>                  one request: words, profile card, timeline, actions
POST /console/requests/<id>/<action>         a lifecycle action or a note
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

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict
from wtforms import Form

from server.audit import services as audit
from server.auth import access
from server.communities.models import Building, Community
from server.console import forms, live, localtime
from server.console.errors import register_html_errors
from server.dispatch import services as dispatch_services
from server.dispatch.models import Agency, Escalation, Team
from server.errors import InvalidInput, LinliError, NotFound
from server.extensions import db
from server.inputs import as_id, optional_int
from server.people import services as people
from server.people.models import Resident
from server.requests import services as lifecycle
from server.requests.models import Category, HelpRequest
from server.requests.queries import QueueFilter, live_cursor, queue_changes, queue_page
from server.timeutil import utcnow
from sync import statuses

bp = Blueprint("console", __name__, url_prefix="/console")
register_html_errors(bp)
localtime.register(bp)


def _actor() -> lifecycle.Actor:
    return lifecycle.Actor(access.user().label)


def _who() -> people.Who:
    user = access.user()
    return people.Who(user.label, user.id)


def load_request(request_id: int, for_update: bool = False) -> HelpRequest:
    """A request in the user's communities, or 404; `for_update` locks its row (PostgreSQL)
    so two people acting at once are applied one after the other, each seeing the other's."""
    stmt = sa.select(HelpRequest).where(HelpRequest.id == request_id)
    if for_update:
        stmt = stmt.with_for_update(of=HelpRequest)
    req = db.session.execute(stmt).unique().scalar_one_or_none()
    if req is None:
        raise NotFound("no such request")
    access.require_community(req.community_id)
    return req


# --- the queue ----------------------------------------------------------------------------


def _int_arg(name: str) -> int | None:
    return optional_int(request.args.get(name), name, code="bad_filter")


def _filters() -> QueueFilter:
    view = request.args.get("view", "action")
    if view not in ("action", "all"):
        raise InvalidInput("view is 'action' or 'all'", "bad_filter")
    status = request.args.get("status") or None
    if status and status not in statuses.STATUSES:
        raise InvalidInput(f"no status {status!r}", "bad_filter")
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
    return {"rows": rows, "next_cursor": next_cursor, "filters": filters, "since": since}


@bp.get("/queue")
def queue() -> ResponseReturnValue:
    """The live queue."""
    scope = access.community_scope()
    context = _queue_context()
    communities = db.session.execute(
        sa.select(Community).where(Community.id.in_(scope)).order_by(Community.name)
    ).scalars()
    buildings = db.session.execute(
        sa.select(Building.code)
        .where(Building.community_id.in_(scope))
        .distinct()
        .order_by(Building.code)
    ).scalars()
    teams = db.session.execute(
        sa.select(Team).where(Team.community_id.in_(scope)).order_by(Team.name)
    ).scalars()
    categories = db.session.execute(
        sa.select(Category).order_by(Category.sort_order, Category.id)
    ).scalars()
    args = request.args.to_dict()
    args.pop("cursor", None)
    return render_template(
        "console/queue.html",
        communities=list(communities),
        buildings=list(buildings),
        teams=list(teams),
        categories=list(categories),
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
        "console/_rows.html", rows=changes.rows, gone=changes.gone, filters=filters, delta=True
    )
    answer = make_response(page)
    answer.headers["X-Live-Cursor"] = cursor
    answer.headers["X-Live-Delta"] = "1"
    return answer


@bp.get("/queue/stream")
def queue_stream() -> ResponseReturnValue:
    """Server-sent events telling the page to refresh its rows (429: poll instead)."""
    return live.stream(access.community_scope(), session.get("sid") or access.user().get_id())


# --- one request --------------------------------------------------------------------------


def _request_context(req: HelpRequest) -> dict[str, Any]:
    can_act = access.may(access.STAFF, req.community_id)
    context: dict[str, Any] = {
        "req": req,
        "events": lifecycle.timeline(req),
        "actions": lifecycle.available_actions(req) if can_act else [],
        "can_act": can_act,
        "overdue": lifecycle.is_overdue(req),
        "due_at": lifecycle.due_at(req),
        "escalations": list(
            db.session.execute(
                sa.select(Escalation).where(Escalation.request_id == req.id).order_by(Escalation.id)
            ).scalars()
        ),
        "duplicates": list(
            db.session.execute(
                sa.select(HelpRequest).where(HelpRequest.duplicate_of_id == req.id)
            ).scalars()
        ),
        "resident": None,
        "candidates": [],
    }
    if can_act:
        context["categories"] = list(
            db.session.execute(
                sa.select(Category).where(Category.is_active).order_by(Category.sort_order)
            ).scalars()
        )
        context["suggestions"] = lifecycle.suggest_teams(req)
        context["volunteer_names"] = lifecycle.member_names(req.community_id)
        context["agencies"] = list(
            db.session.execute(
                sa.select(Agency)
                .where(Agency.community_id == req.community_id)
                .order_by(Agency.name)
            ).scalars()
        )
        if req.resident_id is not None:
            context["resident"] = people.view_resident(
                req.resident_id, access.community_scope(), _who(), f"request #{req.id}"
            )
        else:
            context["candidates"] = people.candidates_for(req)
            if req.phone or context["candidates"]:
                who = _who()
                audit.record(
                    who.label, who.user_id, req.community_id, "view",
                    f"request #{req.id}: phone and room's profiles", "request page",
                    request_id=req.id,
                )  # fmt: skip
    return context


@bp.get("/requests/<int:request_id>")
def request_page(request_id: int) -> ResponseReturnValue:
    """One request."""
    req = load_request(request_id)
    return render_template("console/request.html", **_request_context(req))


@dataclass(frozen=True)
class Action:
    """A console action: the form it reads and the service call it makes."""

    form: type[Form]
    run: Callable[[HelpRequest, Any], object]
    done: str


def _team(req: HelpRequest, raw: str) -> Team:
    team_id = as_id(raw)
    team = db.session.get(Team, team_id) if team_id is not None else None
    if team is None or team.community_id != req.community_id:
        raise InvalidInput("choose a team of this request's community", "bad_team")
    return team


def _agency(req: HelpRequest, raw: str) -> Agency:
    agency_id = as_id(raw)
    agency = db.session.get(Agency, agency_id) if agency_id is not None else None
    if agency is None or agency.community_id != req.community_id:
        raise InvalidInput("choose an agency of this request's community", "bad_agency")
    return agency


def _category(code: str) -> Category:
    category = db.session.execute(
        sa.select(Category).where(Category.code == code, Category.is_active)
    ).scalar_one_or_none()
    if category is None:
        raise InvalidInput(f"no category {code!r}", "bad_category")
    return category


def _other_request(req: HelpRequest, number: int) -> HelpRequest:
    other = db.session.get(HelpRequest, number)
    if other is None or other.community_id not in access.community_scope():
        raise InvalidInput(f"no request #{number}", "bad_merge")
    return other


def _resident(req: HelpRequest, resident_id: int) -> Resident:
    resident = db.session.get(Resident, resident_id)
    if resident is None or resident.community_id != req.community_id or resident.deleted_at:
        raise InvalidInput("no such resident in this community", "bad_resident")
    return resident


def _hours(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _retry(req: HelpRequest, f: Any) -> None:
    escalation = db.session.get(Escalation, f.escalation.data)
    if escalation is None or escalation.request_id != req.id:
        raise InvalidInput("no such escalation on this request", "bad_escalation")
    dispatch_services.retry(escalation, _actor().label)


def _link(req: HelpRequest, f: Any) -> None:
    resident = _resident(req, f.resident.data)
    lifecycle.link_resident(req, resident, _actor())
    who = _who()
    audit.record(
        who.label,
        who.user_id,
        req.community_id,
        "link",
        "request linked to profile",
        f"request #{req.id}",
        resident.id,
        req.id,
    )


ACTIONS: dict[str, Action] = {
    "triage": Action(
        forms.TriageForm,
        lambda r, f: lifecycle.triage(
            r, _actor(), _category(f.category.data), f.priority.data, f.note.data
        ),
        "triaged",
    ),
    "dispatch": Action(
        forms.DispatchForm,
        lambda r, f: lifecycle.dispatch(
            r, _actor(), _team(r, f.team.data), f.volunteers.data, f.note.data
        ),
        "dispatched",
    ),
    "accept": Action(forms.EmptyForm, lambda r, f: lifecycle.accept(r, _actor()), "accepted"),
    "decline": Action(
        forms.ReasonForm, lambda r, f: lifecycle.decline(r, _actor(), f.reason.data), "declined"
    ),
    "arrive": Action(forms.EmptyForm, lambda r, f: lifecycle.arrive(r, _actor()), "on site"),
    "complete": Action(
        forms.CompleteForm,
        lambda r, f: lifecycle.complete(r, _actor(), f.note.data, _hours(f.hours.data)),
        "completed",
    ),
    "follow_up": Action(
        forms.FollowUpForm,
        lambda r, f: lifecycle.follow_up(
            r, _actor(), f.outcome.data, f.satisfaction.data, f.note.data
        ),
        "follow-up recorded",
    ),
    "close": Action(
        forms.CloseForm, lambda r, f: lifecycle.close(r, _actor(), f.note.data), "closed"
    ),
    "escalate": Action(
        forms.EscalateForm,
        lambda r, f: lifecycle.escalate(r, _actor(), _agency(r, f.agency.data), f.note.data),
        "escalated",
    ),
    "external_feedback": Action(
        forms.FeedbackForm,
        lambda r, f: lifecycle.record_external_feedback(r, _actor(), f.note.data),
        "feedback recorded",
    ),
    "cancel": Action(
        forms.ReasonForm, lambda r, f: lifecycle.cancel(r, _actor(), f.reason.data), "cancelled"
    ),
    "answer_cancel": Action(
        forms.CancelAnswerForm,
        lambda r, f: lifecycle.answer_cancel_request(
            r, _actor(), f.accept.data == "yes", f.reason.data
        ),
        "cancellation request answered",
    ),
    "merge": Action(
        forms.MergeForm,
        lambda r, f: lifecycle.merge_duplicate(
            r, _other_request(r, f.into.data), _actor(), f.note.data
        ),
        "merged",
    ),
    "reopen": Action(
        forms.ReasonForm, lambda r, f: lifecycle.reopen(r, _actor(), f.reason.data), "reopened"
    ),
    "note": Action(
        forms.NoteForm, lambda r, f: lifecycle.add_note(r, _actor(), f.text.data), "note added"
    ),
    "public_note": Action(
        forms.PublicNoteForm,
        lambda r, f: lifecycle.set_public_note(r, _actor(), f.text.data),
        "public note set",
    ),
    "link": Action(forms.LinkForm, _link, "resident linked"),
    "retry": Action(forms.RetryForm, _retry, "delivery retried"),
}

FIELD_ACTIONS = frozenset({"accept", "decline", "arrive", "complete"})


def _run(req: HelpRequest, action: str) -> tuple[int, str] | None:
    """Validate the form and run the action; (status, message) on failure, None when done."""
    spec = ACTIONS[action]
    form = spec.form(MultiDict(request.form))
    if not form.validate():
        return 400, "; ".join(f"{name}: {msgs[0]}" for name, msgs in form.errors.items())
    try:
        spec.run(req, form)
    except LinliError as exc:
        db.session.rollback()
        return exc.status, exc.detail
    return None


@bp.post("/requests/<int:request_id>/<action>")
def request_action(request_id: int, action: str) -> ResponseReturnValue:
    """Run one lifecycle action; bad input re-shows the page with the message, changing nothing."""
    if action not in ACTIONS:
        abort(404)
    req = load_request(request_id, for_update=True)
    failed = _run(req, action)
    if failed is not None:
        status, error = failed
        audit.keep_on_failure()
        req = load_request(request_id)
        return render_template("console/request.html", error=error, **_request_context(req)), status
    flash(f"#{req.id}: {ACTIONS[action].done}")
    return redirect(url_for("console.request_page", request_id=req.id), 303)


# --- phone pages for teams ----------------------------------------------------------------


def load_job(request_id: int, for_update: bool = False) -> HelpRequest:
    """A request the user may work on from the phone pages, or 404 (`for_update`: locked)."""
    stmt = sa.select(HelpRequest).where(HelpRequest.id == request_id, access.job_scope())
    if for_update:
        stmt = stmt.with_for_update(of=HelpRequest)
    req = db.session.execute(stmt).unique().scalar_one_or_none()
    if req is None:
        raise NotFound("no such job")
    return req


@bp.get("/jobs")
def jobs() -> ResponseReturnValue:
    """Jobs dispatched to the user's teams that are not done yet."""
    rows = db.session.execute(
        sa.select(HelpRequest)
        .where(access.job_scope(), HelpRequest.status.in_(statuses.ACTIVE_WORK))
        .order_by(HelpRequest.received_at)
    ).scalars()
    return render_template("console/jobs.html", jobs=list(rows))


@bp.get("/jobs/<int:request_id>")
def job_page(request_id: int) -> ResponseReturnValue:
    """One job with big buttons for the next step."""
    req = load_job(request_id)
    return render_template("console/job.html", req=req, actions=lifecycle.available_actions(req))


@bp.post("/jobs/<int:request_id>/<action>")
def job_action(request_id: int, action: str) -> ResponseReturnValue:
    """Accept, decline, arrive or complete."""
    if action not in FIELD_ACTIONS:
        abort(404)
    req = load_job(request_id, for_update=True)
    failed = _run(req, action)
    if failed is not None:
        status, error = failed
        req = load_job(request_id)
        page = render_template(
            "console/job.html", req=req, actions=lifecycle.available_actions(req), error=error
        )
        return page, status
    flash(ACTIONS[action].done)
    if req.status in statuses.ACTIVE_WORK:
        return redirect(url_for("console.job_page", request_id=req.id), 303)
    return redirect(url_for("console.jobs"), 303)


@bp.get("/kiosks")
def kiosks() -> ResponseReturnValue:
    """Every kiosk of the user's communities: when it last synced, its queue and health."""
    from server.kiosks.services import kiosk_health

    stale_after = current_app.config["LINLI_KIOSK_STALE_MINUTES"]
    return render_template(
        "console/kiosks.html",
        kiosks=kiosk_health(access.community_scope(), stale_after),
        stale_after=stale_after,
        may_see_bodies=access.may(access.STAFF),
    )


REFUSALS_SHOWN = 200


@bp.get("/kiosks/<int:kiosk_id>/rejections")
def kiosk_rejections(kiosk_id: int) -> ResponseReturnValue:
    """A kiosk's rejected and conflicting operations with what was sent; each body shown is
    personal data, so each is written to the audit trail."""
    from server.kiosks.models import Kiosk
    from server.syncapi import rejections
    from server.syncapi.models import AppliedOp, SyncConflict

    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise NotFound("no such kiosk")
    access.require_community(kiosk.community_id)
    refusals = [
        *rejections.rejected_ops(AppliedOp.kiosk_id == kiosk.id, 0, REFUSALS_SHOWN),
        *rejections.conflicts(SyncConflict.kiosk_id == kiosk.id, 0, REFUSALS_SHOWN),
    ]
    who = _who()
    for refusal in refusals:
        if refusal.body is not None:
            audit.record(
                who.label, who.user_id, kiosk.community_id, "view",
                f"kiosk {kiosk.name}: body of {refusal.kind} operation seq {refusal.seq}",
                f"kiosk rejections page ({refusal.reason})",
            )  # fmt: skip
    counts = rejections.counts_by_kiosk([kiosk.id]).get(kiosk.id, rejections.KioskRefusals())
    return render_template(
        "console/kiosk_rejections.html", kiosk=kiosk, refusals=refusals, counts=counts
    )
