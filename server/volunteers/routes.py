"""Volunteers, teams, importing volunteer lists, and service hours.

GET  /volunteers/                              volunteers of the user's communities
GET  /volunteers/new                           form for one new volunteer
POST /volunteers/new                           add one volunteer
GET  /volunteers/<id>                          one volunteer: skills, teams, hours, notes
POST /volunteers/<id>/edit                     correct a volunteer's details
POST /volunteers/<id>/active                   mark active or not
POST /volunteers/<id>/notes                    add a training, award or evaluation
GET  /volunteers/<id>/record                   printable volunteer service record
GET  /volunteers/import                        upload form
POST /volunteers/import                        preview: rows and every error, nothing saved
POST /volunteers/import/confirm                import the previewed file (all rows or none)
GET  /volunteers/teams                         teams: scope, focus list, members
POST /volunteers/teams/<id>/<action>           focus, add, remove
GET  /volunteers/hours                         check-in and out, hours awaiting approval
POST /volunteers/hours/check-in                check a volunteer in
POST /volunteers/hours/<id>/check-out          check out
POST /volunteers/hours/from-job                record a volunteer's hours on a finished job
POST /volunteers/hours/manual                  add hours by hand (kept apart)
POST /volunteers/hours/<id>/approve            approve (posts the points)
POST /volunteers/hours/<id>/decline            decline with a reason
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.auth import access
from server.communities.models import Community
from server.console.errors import register_html_errors
from server.dispatch.models import Team
from server.errors import InvalidInput, LinliError
from server.extensions import db
from server.inputs import INT32_MAX, optional_int
from server.passbook.services import balance
from server.reports.queries import CST, local_today
from server.requests.models import HelpRequest
from server.volunteers import imports, services
from server.volunteers.models import (
    NOTE_KINDS,
    ServiceRecord,
    TeamFocus,
    TeamMember,
    Volunteer,
    VolunteerNote,
)

bp = Blueprint("volunteers", __name__, url_prefix="/volunteers", template_folder="templates")
register_html_errors(bp)


def _actor() -> str:
    return access.user().label


def _community_arg(field: str = "community") -> Community:
    raw = (request.values.get(field) or "").strip()
    communities = access.scoped_communities()
    if not raw and len(communities) == 1:
        return communities[0]
    for community in communities:
        if raw in (str(community.id), community.slug):
            return community
    raise InvalidInput("choose one of your communities", "bad_community")


def _int(raw: str | None, field: str, required: bool = False) -> int | None:
    if required and not (raw or "").strip():
        raise InvalidInput(f"{field} is required", "missing")
    return optional_int(raw, field, low=-INT32_MAX)


def _when(raw: str | None, field: str) -> datetime | None:
    """A `datetime-local` value (the user's local time, China) as UTC; empty means now."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=CST)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"{field} {raw!r} is not a date and time", "bad_time") from exc


def _date(raw: str | None, field: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(f"{field} {raw!r} is not a date like 2026-03-01", "bad_date") from exc


# --- volunteers ------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    """Volunteers of the user's communities, optionally one community."""
    scope = access.community_scope()
    query = sa.select(Volunteer).where(Volunteer.community_id.in_(scope))
    community_id = _int(request.args.get("community"), "community")
    if community_id is not None:
        query = query.where(Volunteer.community_id == community_id)
    volunteers = db.session.execute(query.order_by(Volunteer.name, Volunteer.id)).scalars()
    return render_template(
        "volunteers/index.html",
        volunteers=list(volunteers),
        communities=access.scoped_communities(),
    )


FORM_FIELDS = ("name", "phone", "gender", "birth_year", "registration_no", "skills")
FORM_FIELDS_MORE = ("availability", "joined")


def _fields() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in FORM_FIELDS + FORM_FIELDS_MORE}


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    """Add one volunteer by hand."""
    if request.method == "GET":
        return render_template(
            "volunteers/new.html", communities=access.scoped_communities(), values={}
        )
    try:
        community = _community_arg()
        volunteer = services.create_volunteer(community, imports.check_fields(_fields()))
    except LinliError as exc:
        db.session.rollback()
        page = render_template(
            "volunteers/new.html",
            communities=access.scoped_communities(),
            values=_fields(),
            error=exc.detail,
        )
        return page, exc.status
    flash(f"{volunteer.name} added")
    return redirect(url_for("volunteers.profile", volunteer_id=volunteer.id), 303)


@bp.post("/<int:volunteer_id>/edit")
def edit(volunteer_id: int) -> ResponseReturnValue:
    """Correct a volunteer's details."""
    volunteer = services.volunteer_in(access.community_scope(), volunteer_id)
    try:
        services.update_volunteer(volunteer, imports.check_fields(_fields()))
    except LinliError as exc:
        db.session.rollback()
        context = _volunteer_context(volunteer)
        return render_template("volunteers/profile.html", error=exc.detail, **context), exc.status
    flash(f"{volunteer.name}: saved")
    return redirect(url_for("volunteers.profile", volunteer_id=volunteer.id), 303)


def _volunteer_context(volunteer: Volunteer) -> dict[str, Any]:
    teams = db.session.execute(
        sa.select(Team, TeamMember.is_lead)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.volunteer_id == volunteer.id)
        .order_by(Team.name)
    ).all()
    records = db.session.execute(
        sa.select(ServiceRecord)
        .where(ServiceRecord.volunteer_id == volunteer.id)
        .order_by(ServiceRecord.started_at.desc())
    ).scalars()
    notes = db.session.execute(
        sa.select(VolunteerNote)
        .where(VolunteerNote.volunteer_id == volunteer.id)
        .order_by(VolunteerNote.noted_on, VolunteerNote.id)
    ).scalars()
    return {
        "volunteer": volunteer,
        "teams": teams,
        "records": list(records),
        "notes": list(notes),
        "note_kinds": NOTE_KINDS,
        "balance": balance(volunteer.id),
    }


@bp.get("/<int:volunteer_id>")
def profile(volunteer_id: int) -> ResponseReturnValue:
    """One volunteer."""
    volunteer = services.volunteer_in(access.community_scope(), volunteer_id)
    return render_template("volunteers/profile.html", **_volunteer_context(volunteer))


@bp.post("/<int:volunteer_id>/active")
def set_active(volunteer_id: int) -> ResponseReturnValue:
    """Mark the volunteer active or not."""
    volunteer = services.volunteer_in(access.community_scope(), volunteer_id)
    services.set_active(volunteer, request.form.get("active") == "yes")
    flash(f"{volunteer.name}: {'active' if volunteer.is_active else 'not active'}")
    return redirect(url_for("volunteers.profile", volunteer_id=volunteer.id), 303)


@bp.post("/<int:volunteer_id>/notes")
def add_note(volunteer_id: int) -> ResponseReturnValue:
    """A training, award or evaluation on the service record."""
    volunteer = services.volunteer_in(access.community_scope(), volunteer_id)
    try:
        services.add_note(
            volunteer,
            request.form.get("kind", ""),
            _date(request.form.get("noted_on"), "date"),
            request.form.get("text"),
            _actor(),
        )
    except LinliError as exc:
        db.session.rollback()
        context = _volunteer_context(volunteer)
        return render_template("volunteers/profile.html", error=exc.detail, **context), exc.status
    flash("added to the service record")
    return redirect(url_for("volunteers.profile", volunteer_id=volunteer.id), 303)


@bp.get("/<int:volunteer_id>/record")
def service_record(volunteer_id: int) -> ResponseReturnValue:
    """The printable volunteer service record (志愿服务记录证明)."""
    volunteer = services.volunteer_in(access.community_scope(), volunteer_id)
    context = _volunteer_context(volunteer)
    approved = [r for r in context["records"] if r.status == "approved"]
    approved.sort(key=lambda r: r.started_at)
    community = db.session.get_one(Community, volunteer.community_id)
    recorded = sum(r.minutes or 0 for r in approved if r.source == "recorded")
    manual = sum(r.minutes or 0 for r in approved if r.source == "manual")
    return render_template(
        "volunteers/record.html",
        community=community,
        approved=approved,
        recorded_minutes=recorded,
        manual_minutes=manual,
        issued_by=_actor(),
        issued_on=local_today(),
        **context,
    )


# --- import ----------------------------------------------------------------------------------


def _team_names(community: Community) -> set[str]:
    return set(
        db.session.execute(sa.select(Team.name).where(Team.community_id == community.id)).scalars()
    )


@bp.get("/import")
def import_form() -> ResponseReturnValue:
    """Upload a volunteer list."""
    return render_template(
        "volunteers/import.html", communities=access.scoped_communities(), parsed=None
    )


def _upload() -> tuple[str, bytes]:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.filename, upload.read()
    filename = request.form.get("filename", "")
    try:
        data = base64.b64decode(request.form.get("content", ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("the previewed file was damaged; upload it again", "bad_file") from exc
    if not filename or not data:
        raise InvalidInput("choose a CSV or XLSX file", "missing")
    return filename, data


@bp.post("/import")
def import_preview() -> ResponseReturnValue:
    """Check the file and show every row and every error; nothing is saved."""
    community = _community_arg()
    filename, data = _upload()
    parsed = imports.parse_volunteers(filename, data, _team_names(community))
    existing = set(
        db.session.execute(
            sa.select(Volunteer.phone).where(Volunteer.community_id == community.id)
        ).scalars()
    )
    return render_template(
        "volunteers/import.html",
        communities=access.scoped_communities(),
        community=community,
        parsed=parsed,
        existing=existing,
        content=base64.b64encode(data).decode(),
    ), (200 if parsed.ok else 400)


@bp.post("/import/confirm")
def import_confirm() -> ResponseReturnValue:
    """Import the previewed file: checked again, then every row or none."""
    community = _community_arg()
    filename, data = _upload()
    parsed = imports.parse_volunteers(filename, data, _team_names(community))
    if not parsed.ok:
        return render_template(
            "volunteers/import.html",
            communities=access.scoped_communities(),
            community=community,
            parsed=parsed,
            existing=set(),
            content=base64.b64encode(data).decode(),
            error="the file has errors; nothing was imported",
        ), 400
    result = services.import_volunteers(community, parsed.rows)
    flash(f"{filename}: {result.added} volunteers added, {result.present} already registered")
    return redirect(url_for("volunteers.index", community=community.id), 303)


# --- teams -----------------------------------------------------------------------------------


def _teams_context() -> dict[str, Any]:
    scope = access.community_scope()
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
    return {"teams": teams, "members": members, "focus": focus, "volunteers": volunteers}


@bp.get("/teams")
def teams() -> ResponseReturnValue:
    """Teams with their service scope, focus list and members."""
    return render_template("volunteers/teams.html", **_teams_context())


@bp.post("/teams/<int:team_id>/<action>")
def team_action(team_id: int, action: str) -> ResponseReturnValue:
    """Change a team's focus list or members."""
    scope = access.community_scope()
    team = services.team_in(scope, team_id)
    try:
        if action == "focus":
            services.set_focus(team, request.form.get("focus"))
        elif action in ("add", "remove"):
            vid = _int(request.form.get("volunteer"), "volunteer", required=True)
            volunteer = services.volunteer_in(scope, vid or 0)
            if action == "add":
                services.add_member(team, volunteer, request.form.get("is_lead") == "yes")
            else:
                services.remove_member(team, volunteer)
        else:
            raise InvalidInput(f"no team action {action!r}", "bad_action")
    except LinliError as exc:
        db.session.rollback()
        page = render_template("volunteers/teams.html", error=exc.detail, **_teams_context())
        return page, exc.status
    flash(f"{team.name}: saved")
    return redirect(url_for("volunteers.teams"), 303)


# --- service hours ---------------------------------------------------------------------------


def _field_volunteers() -> sa.ColumnElement[bool]:
    """Whose hours the user may record: a team lead only the members of teams they lead."""
    teams = sa.select(Team.id).where(access.team_scope())
    members = sa.select(TeamMember.volunteer_id).where(TeamMember.team_id.in_(teams))
    whole = access.community_scope() & access.community_scope(access.STAFF)
    return sa.or_(Volunteer.community_id.in_(whole), Volunteer.id.in_(members))


def _field_volunteer(raw: str | None) -> Volunteer:
    vid = _int(raw, "volunteer", required=True)
    volunteer = db.session.execute(
        sa.select(Volunteer).where(Volunteer.id == vid, _field_volunteers())
    ).scalar_one_or_none()
    if volunteer is None:
        raise InvalidInput("choose one of your volunteers", "bad_volunteer")
    return volunteer


def _field_job(raw: str | None) -> int | None:
    """A job id the user may record hours against (team leads: their teams' jobs), or None."""
    job_id = _int(raw, "request")
    if job_id is None:
        return None
    found = db.session.execute(
        sa.select(HelpRequest.id).where(HelpRequest.id == job_id, access.job_scope())
    ).scalar_one_or_none()
    if found is None:
        raise InvalidInput(f"request #{job_id} is not one of your jobs", "bad_request")
    return job_id


def _field_team(raw: str | None) -> int | None:
    """A team the user may book hours under (team leads: teams they lead), or None."""
    team_id = _int(raw, "team")
    if team_id is None:
        return None
    found = db.session.execute(
        sa.select(Team.id).where(Team.id == team_id, access.team_scope())
    ).scalar_one_or_none()
    if found is None:
        raise InvalidInput("choose one of your teams", "bad_team")
    return team_id


def _field_record(record_id: int) -> ServiceRecord:
    record = services.record_in(access.community_scope(), record_id)
    _field_volunteer(str(record.volunteer_id))
    if record.team_id is not None:
        _field_team(str(record.team_id))
    return record


def _hours_context() -> dict[str, Any]:
    scope = access.community_scope(access.STAFF)
    volunteers = list(
        db.session.execute(
            sa.select(Volunteer)
            .where(_field_volunteers(), Volunteer.is_active)
            .order_by(Volunteer.name)
        ).scalars()
    )
    visible = [v.id for v in volunteers]
    open_records = db.session.execute(
        sa.select(ServiceRecord)
        .where(
            ServiceRecord.status == "open",
            ServiceRecord.volunteer_id.in_(visible),
            sa.or_(
                ServiceRecord.team_id.is_(None),
                ServiceRecord.team_id.in_(sa.select(Team.id).where(access.team_scope())),
            ),
        )
        .order_by(ServiceRecord.started_at)
    ).scalars()
    pending = db.session.execute(
        sa.select(ServiceRecord)
        .where(ServiceRecord.status == "pending", ServiceRecord.community_id.in_(scope))
        .order_by(ServiceRecord.source, ServiceRecord.started_at)
    ).scalars()
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
        .where(access.job_scope(), HelpRequest.status.in_(services.HOURS_REQUEST_STATES))
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
            access.job_scope(),
            HelpRequest.status.in_(services.DONE_STATES),
            HelpRequest.team_id.is_not(None),
            ~recorded,
        )
        .order_by(HelpRequest.updated_at.desc())
        .limit(50)
    ).scalars()
    teams = db.session.execute(
        sa.select(Team).where(access.team_scope()).order_by(Team.name)
    ).scalars()
    can_decide = access.may(access.STAFF)
    return {
        "volunteers": volunteers,
        "open_records": list(open_records),
        "pending": list(pending) if can_decide else [],
        "decided": list(decided) if can_decide else [],
        "jobs": list(jobs),
        "finished": list(finished),
        "teams": list(teams),
        "can_decide": can_decide,
        "rate": current_app.config["LINLI_POINTS_PER_HOUR"],
    }


@bp.get("/hours")
def hours() -> ResponseReturnValue:
    """Check in and out; approve or decline hours (closing forgotten check-outs first)."""
    services.close_forgotten(community_ids=access.community_scope())
    return render_template("volunteers/hours.html", **_hours_context())


def _hours_step(run: Any, done: str) -> ResponseReturnValue:
    try:
        message = run()
    except LinliError as exc:
        db.session.rollback()
        page = render_template("volunteers/hours.html", error=exc.detail, **_hours_context())
        return page, exc.status
    flash(message or done)
    return redirect(url_for("volunteers.hours"), 303)


@bp.post("/hours/check-in")
def check_in() -> ResponseReturnValue:
    """Check a volunteer in (now, or at the time given)."""

    def run() -> str:
        volunteer = _field_volunteer(request.form.get("volunteer"))
        services.check_in(
            volunteer,
            _actor(),
            at=_when(request.form.get("at"), "check-in time"),
            request_id=_field_job(request.form.get("request")),
            team_id=_field_team(request.form.get("team")),
            content=request.form.get("content"),
        )
        return f"{volunteer.name} checked in"

    return _hours_step(run, "checked in")


@bp.post("/hours/<int:record_id>/check-out")
def check_out(record_id: int) -> ResponseReturnValue:
    """Check out (now, or at the time given)."""

    def run() -> str:
        record = _field_record(record_id)
        services.check_out(
            record,
            _actor(),
            at=_when(request.form.get("at"), "check-out time"),
            content=request.form.get("content"),
        )
        return f"{record.volunteer.name} checked out: {record.minutes} min, awaiting approval"

    return _hours_step(run, "checked out")


@bp.post("/hours/from-job")
def from_job() -> ResponseReturnValue:
    """Record a volunteer's hours on a finished job (the hours claimed at completion)."""

    def run() -> str:
        volunteer = _field_volunteer(request.form.get("volunteer"))
        req = db.session.execute(
            sa.select(HelpRequest).where(
                HelpRequest.id == _int(request.form.get("request"), "request", required=True),
                access.job_scope(),
            )
        ).scalar_one_or_none()
        if req is None:
            raise InvalidInput("choose one of your finished jobs", "bad_request")
        record = services.record_from_job(
            req, volunteer, _actor(), _int(request.form.get("minutes"), "minutes")
        )
        return f"{volunteer.name}: {record.minutes} min on #{req.id}, awaiting approval"

    return _hours_step(run, "recorded")


@bp.post("/hours/manual")
def add_manual() -> ResponseReturnValue:
    """Hours added by hand, e.g. from a paper sheet."""

    def run() -> str:
        volunteer = services.volunteer_in(
            access.community_scope(), _int(request.form.get("volunteer"), "volunteer", True) or 0
        )
        started = _when(request.form.get("started_at"), "service time")
        if started is None:
            raise InvalidInput("give the date and time of the service", "missing")
        services.add_manual(
            volunteer,
            _actor(),
            started_at=started,
            minutes=_int(request.form.get("minutes"), "minutes", required=True),
            content=request.form.get("content"),
            team_id=_int(request.form.get("team"), "team"),
            request_id=_int(request.form.get("request"), "request"),
        )
        return f"hours added by hand for {volunteer.name}, awaiting approval"

    return _hours_step(run, "added")


@bp.post("/hours/<int:record_id>/approve")
def approve(record_id: int) -> ResponseReturnValue:
    """Approve the hours; the points are posted to the passbook."""

    def run() -> str:
        record = services.record_in(access.community_scope(), record_id)
        entry = services.approve(
            record,
            _actor(),
            current_app.config["LINLI_POINTS_PER_HOUR"],
            minutes=_int(request.form.get("minutes"), "minutes"),
            note=request.form.get("note"),
        )
        points = f", {entry.points} points posted" if entry is not None else ", no points"
        return f"#{record.id} {record.volunteer.name}: approved{points}"

    return _hours_step(run, "approved")


@bp.post("/hours/<int:record_id>/decline")
def decline(record_id: int) -> ResponseReturnValue:
    """Decline the hours with a reason."""

    def run() -> str:
        record = services.record_in(access.community_scope(), record_id)
        services.decline(record, _actor(), request.form.get("reason"))
        return f"#{record.id} {record.volunteer.name}: declined"

    return _hours_step(run, "declined")
