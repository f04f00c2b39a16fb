"""Volunteers, teams, importing volunteer lists, and service hours.

GET  /volunteers/                              volunteers, 50 a page by name; search, community
GET  /volunteers/new                           form for one new volunteer
POST /volunteers/new                           add one volunteer
GET  /volunteers/<id>                          one volunteer: skills, teams, hours, notes
POST /volunteers/<id>/edit                     correct a volunteer's details
POST /volunteers/<id>/active                   mark active or not
POST /volunteers/<id>/notes                    add a training, award or evaluation
GET  /volunteers/<id>/record                   printable volunteer service record of a period
GET  /volunteers/import                        upload form
POST /volunteers/import                        preview: rows and every error, nothing saved
POST /volunteers/import/confirm                import the previewed file (all rows or none)
GET  /volunteers/teams                         one community's teams: scope, focus, members
POST /volunteers/teams/<id>/<action>           focus, add, remove
GET  /volunteers/hours                         check-in and out (one community), hours to decide
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
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from server.audit.actor import Actor
from server.auth import access
from server.communities.models import Community
from server.communities.services import points_per_hour
from server.dispatch.queries import team_scope
from server.errors import InvalidInput, LinliError
from server.inputs import as_id
from server.localtime import local_today
from server.pages import form_failed
from server.requests.queries import job_scope
from server.volunteers import forms, imports, queries, services
from server.volunteers.models import NOTE_KINDS, ServiceRecord, Volunteer

bp = Blueprint("volunteers", __name__, url_prefix="/volunteers", template_folder="templates")


def _actor() -> Actor:
    return Actor.of_user(access.user())


def _community_arg(field: str = "community") -> Community:
    raw = (request.values.get(field) or "").strip()
    communities = access.scoped_communities()
    if not raw and len(communities) == 1:
        return communities[0]
    for community in communities:
        if raw in (str(community.id), community.slug):
            return community
    raise InvalidInput(gettext("请选择您的社区之一"), "bad_community")


# --- volunteers ------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    """Volunteers of the user's communities (or of the one chosen), a page at a time, by name;
    searched by name or phone."""
    communities, chosen = access.community_choice()
    search = request.args.get("q", "").strip()[:100]
    scope = frozenset({chosen.id}) if chosen else access.community_scope()
    after = request.args.get("after")
    volunteers, next_after, total = queries.volunteers_page(scope, search, after)
    return render_template(
        "volunteers/index.html",
        volunteers=volunteers,
        next_after=next_after,
        total=total,
        counted=queries.VOLUNTEERS_COUNTED,
        search=search,
        communities=communities,
        chosen=chosen,
        community_names={c.id: c.name for c in communities},
    )


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    """Add one volunteer by hand."""
    if request.method == "GET":
        return render_template(
            "volunteers/new.html", communities=access.scoped_communities(), values={}
        )
    form = forms.DetailsForm(request.form)
    try:
        community = _community_arg()
        volunteer = services.create_volunteer(community, imports.check_fields(form.data))
    except LinliError as exc:
        return form_failed(
            exc,
            "volunteers/new.html",
            lambda: {"communities": access.scoped_communities(), "values": form.data},
        )
    flash(gettext("已添加 %(name)s", name=volunteer.name))
    return redirect(url_for("volunteers.profile", volunteer_id=volunteer.id), 303)


@bp.post("/<int:volunteer_id>/edit")
def edit(volunteer_id: int) -> ResponseReturnValue:
    """Correct a volunteer's details."""
    volunteer = services.volunteer_in(access.community_scope(), volunteer_id)
    form = forms.DetailsForm(request.form)
    try:
        services.update_volunteer(volunteer, imports.check_fields(form.data))
    except LinliError as exc:
        return form_failed(exc, "volunteers/profile.html", lambda: _volunteer_context(volunteer))
    flash(gettext("%(name)s：已保存", name=volunteer.name))
    return redirect(url_for("volunteers.profile", volunteer_id=volunteer.id), 303)


def _volunteer_context(volunteer: Volunteer) -> dict[str, Any]:
    return {
        "volunteer": volunteer,
        "note_kinds": NOTE_KINDS,
        **queries.volunteer_context(volunteer),
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
    flash(
        gettext("%(name)s：在册", name=volunteer.name)
        if volunteer.is_active
        else gettext("%(name)s：不在册", name=volunteer.name)
    )
    return redirect(url_for("volunteers.profile", volunteer_id=volunteer.id), 303)


@bp.post("/<int:volunteer_id>/notes")
def add_note(volunteer_id: int) -> ResponseReturnValue:
    """A training, award or evaluation on the service record."""
    volunteer = services.volunteer_in(access.community_scope(), volunteer_id)
    try:
        form = forms.checked(forms.NoteForm)
        services.add_note(volunteer, form.kind.data, form.noted_on.data, form.text.data, _actor())
    except LinliError as exc:
        return form_failed(exc, "volunteers/profile.html", lambda: _volunteer_context(volunteer))
    flash(gettext("已加入志愿服务记录"))
    return redirect(url_for("volunteers.profile", volunteer_id=volunteer.id), 303)


@bp.get("/<int:volunteer_id>/record")
def service_record(volunteer_id: int) -> ResponseReturnValue:
    """The printable volunteer service record (志愿服务记录证明) of a period (`start`, `end`;
    by default the last twelve months), with all-time totals."""
    volunteer = services.volunteer_in(access.community_scope(), volunteer_id)
    start, end = forms.record_period(request.args)
    return render_template(
        "volunteers/record.html",
        volunteer=volunteer,
        community=queries.community(volunteer.community_id),
        issued_by=_actor().label,
        issued_on=local_today(),
        **queries.service_record_context(volunteer, start, end),
    )


# --- import ----------------------------------------------------------------------------------


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
        raise InvalidInput(gettext("预览的文件已损坏；请重新上传"), "bad_file") from exc
    if not filename or not data:
        raise InvalidInput(gettext("请选择 CSV 或 XLSX 文件"), "missing")
    return filename, data


@bp.post("/import")
def import_preview() -> ResponseReturnValue:
    """Check the file and show every row and every error; nothing is saved."""
    community = _community_arg()
    filename, data = _upload()
    parsed = imports.parse_volunteers(filename, data, queries.team_names(community.id))
    return render_template(
        "volunteers/import.html",
        communities=access.scoped_communities(),
        community=community,
        parsed=parsed,
        existing=queries.phones(community.id),
        content=base64.b64encode(data).decode(),
    ), (200 if parsed.ok else 400)


@bp.post("/import/confirm")
def import_confirm() -> ResponseReturnValue:
    """Import the previewed file: checked again, then every row or none."""
    community = _community_arg()
    filename, data = _upload()
    parsed = imports.parse_volunteers(filename, data, queries.team_names(community.id))
    unconfirmed = parsed.team_matches and request.form.get("confirm_teams") != "yes"
    if not parsed.ok or unconfirmed:
        return render_template(
            "volunteers/import.html",
            communities=access.scoped_communities(),
            community=community,
            parsed=parsed,
            existing=set(),
            content=base64.b64encode(data).decode(),
            error=(
                "the file has errors; nothing was imported"
                if not parsed.ok
                else gettext("请先确认队伍对应关系；未导入")
            ),
        ), 400
    result = services.import_volunteers(community, parsed.rows)
    flash(
        gettext(
            "%(file)s：新增 %(added)s 位志愿者，%(present)s 位已登记",
            file=filename,
            added=result.added,
            present=result.present,
        )
    )
    return redirect(url_for("volunteers.index", community=community.id), 303)


# --- teams -----------------------------------------------------------------------------------


def _teams_context(communities: list[Community], chosen: Community | None) -> dict[str, Any]:
    teams = queries.teams_context(chosen.id) if chosen else {}
    return {"communities": communities, "chosen": chosen, **teams}


@bp.get("/teams")
def teams() -> ResponseReturnValue:
    """One community's teams with their service scope, focus list and members (the user with
    several communities chooses one)."""
    return render_template("volunteers/teams.html", **_teams_context(*access.community_choice()))


@bp.post("/teams/<int:team_id>/<action>")
def team_action(team_id: int, action: str) -> ResponseReturnValue:
    """Change a team's focus list or members."""
    scope = access.community_scope()
    team = services.team_in(scope, team_id)
    try:
        if action == "focus":
            services.set_focus(team, forms.checked(forms.FocusForm).focus.data)
        elif action in ("add", "remove"):
            form = forms.checked(forms.MemberForm)
            volunteer = services.volunteer_in(scope, form.volunteer.data or 0)
            if action == "add":
                services.add_member(team, volunteer, form.is_lead.data == "yes")
            else:
                services.remove_member(team, volunteer)
        else:
            raise InvalidInput(
                gettext("没有服务队操作 %(action)s", action=repr(action)), "bad_action"
            )
    except LinliError as exc:

        def context() -> dict[str, Any]:
            communities = access.scoped_communities()
            return _teams_context(communities, queries.community(team.community_id))

        return form_failed(exc, "volunteers/teams.html", context)
    flash(gettext("%(name)s：已保存", name=team.name))
    return redirect(
        url_for("volunteers.teams", community=team.community_id, _anchor=f"team-{team.id}"), 303
    )


# --- service hours ---------------------------------------------------------------------------


def _field_volunteers(within: frozenset[int] | None = None) -> queries.Clause:
    """Whose hours the user may record: a team lead only the members of teams they lead (only
    in the communities `within`, when given)."""
    whole = access.community_scope() & access.community_scope(access.STAFF)
    return queries.field_volunteers(team_scope(within), whole if within is None else whole & within)


def _field_volunteer(volunteer_id: int | None) -> Volunteer:
    volunteer = queries.field_volunteer(volunteer_id, _field_volunteers())
    if volunteer is None:
        raise InvalidInput(gettext("请选择您的志愿者之一"), "bad_volunteer")
    return volunteer


def _field_job(job_id: int | None) -> int | None:
    """A job id the user may record hours against (team leads: their teams' jobs), or None."""
    if job_id is None:
        return None
    if queries.job_id_in(job_id, job_scope()) is None:
        raise InvalidInput(gettext("求助 #%(id)s 不是您的任务", id=job_id), "bad_request")
    return job_id


def _field_team(team_id: int | None) -> int | None:
    """A team the user may book hours under (team leads: teams they lead), or None."""
    if team_id is None:
        return None
    if queries.team_id_in(team_id, team_scope()) is None:
        raise InvalidInput(gettext("请选择您的服务队之一"), "bad_team")
    return team_id


def _field_record(record_id: int) -> ServiceRecord:
    record = services.record_in(access.community_scope(), record_id)
    _field_volunteer(record.volunteer_id)
    if record.team_id is not None:
        _field_team(record.team_id)
    return record


def _hours_context() -> dict[str, Any]:
    """The hours page: its forms work in one community (the user with several chooses one);
    the hours to decide are listed for the chosen community or for all the user's."""
    communities, chosen = access.community_choice()
    forgotten_before = services.forgotten_before()
    context: dict[str, Any] = {
        "communities": communities,
        "chosen": chosen,
        "community_names": {c.id: c.name for c in communities},
        "volunteers": [],
        "open_records": [],
        "jobs": [],
        "finished": [],
        "teams": [],
        "pending": [],
        "decided": [],
        "next_after": None,
        "awaiting_total": 0,
    }
    if chosen is not None:
        # The scopes narrowed to the community shown: the same answer, without a city
        # admin's 200 community ids in each clause. The forms' handlers check the full scopes.
        here = frozenset({chosen.id})
        context.update(
            queries.hours_desk(
                _field_volunteers(here),
                chosen.id,
                team_scope(here),
                job_scope(here),
                forgotten_before,
            )
        )
    can_decide = access.may(access.STAFF)
    if can_decide:
        staff = access.community_scope(access.STAFF)
        scope = staff & {chosen.id} if chosen else staff
        context.update(queries.hours_decisions(scope, forgotten_before, request.args.get("after")))
    return {
        **context,
        "can_decide": can_decide,
        "forgotten_hours": f"{services.FORGOTTEN_AFTER.total_seconds() / 3600:g}",
        "rate": current_app.config["LINLI_POINTS_PER_HOUR"],
    }


@bp.get("/hours")
def hours() -> ResponseReturnValue:
    """Check in and out; approve or decline hours (forgotten check-outs shown as such)."""
    return render_template("volunteers/hours.html", **_hours_context())


def _hours_step(run: Callable[[], str], done: str) -> ResponseReturnValue:
    try:
        message = run()
    except LinliError as exc:
        return form_failed(exc, "volunteers/hours.html", _hours_context)
    flash(message or done)
    back = url_for("volunteers.hours", community=as_id(request.args.get("community")))
    return redirect(back, 303)


@bp.post("/hours/check-in")
def check_in() -> ResponseReturnValue:
    """Check a volunteer in (now, or at the time given)."""

    def run() -> str:
        form = forms.checked(forms.CheckInForm)
        volunteer = _field_volunteer(form.volunteer.data)
        services.check_in(
            volunteer,
            _actor(),
            at=form.at.data,
            request_id=_field_job(form.request.data),
            team_id=_field_team(form.team.data),
            content=form.content.data,
        )
        return str(gettext("%(name)s 已签到", name=volunteer.name))

    return _hours_step(run, gettext("已签到"))


@bp.post("/hours/<int:record_id>/check-out")
def check_out(record_id: int) -> ResponseReturnValue:
    """Check out (now, or at the time given)."""

    def run() -> str:
        record = _field_record(record_id)
        form = forms.checked(forms.CheckOutForm)
        services.check_out(record, _actor(), at=form.at.data, content=form.content.data)
        return str(
            gettext(
                "%(name)s 已签退：%(n)s 分钟，待审核", name=record.volunteer.name, n=record.minutes
            )
        )

    return _hours_step(run, gettext("已签退"))


@bp.post("/hours/from-job")
def from_job() -> ResponseReturnValue:
    """Record a volunteer's hours on a finished job (the hours claimed at completion)."""

    def run() -> str:
        form = forms.checked(forms.FromJobForm)
        volunteer = _field_volunteer(form.volunteer.data)
        req = queries.job_in(form.request.data, job_scope())
        if req is None:
            raise InvalidInput(gettext("请选择您已完成的任务之一"), "bad_request")
        record = services.record_from_job(req, volunteer, _actor(), form.minutes.data)
        return str(
            gettext(
                "%(name)s：#%(id)s 上 %(n)s 分钟，待审核",
                name=volunteer.name,
                id=req.id,
                n=record.minutes,
            )
        )

    return _hours_step(run, gettext("已记录"))


@bp.post("/hours/manual")
def add_manual() -> ResponseReturnValue:
    """Hours added by hand, e.g. from a paper sheet."""

    def run() -> str:
        form = forms.checked(forms.ManualForm)
        volunteer = services.volunteer_in(access.community_scope(), form.volunteer.data or 0)
        services.add_manual(
            volunteer,
            _actor(),
            started_at=form.started_at.data,
            minutes=form.minutes.data,
            content=form.content.data,
            team_id=form.team.data,
            request_id=form.request.data,
        )
        return str(gettext("已为 %(name)s 手工补录时长，待审核", name=volunteer.name))

    return _hours_step(run, gettext("已添加"))


@bp.post("/hours/<int:record_id>/approve")
def approve(record_id: int) -> ResponseReturnValue:
    """Approve the hours; the points are posted to the passbook."""

    def run() -> str:
        record = services.record_in(access.community_scope(), record_id)
        form = forms.checked(forms.ApproveForm)
        entry = services.approve(
            record,
            _actor(),
            points_per_hour(record.community_id, current_app.config["LINLI_POINTS_PER_HOUR"]),
            minutes=form.minutes.data,
            note=form.note.data,
        )
        if entry is None:
            return str(
                gettext(
                    "#%(id)s %(name)s：已通过，无积分", id=record.id, name=record.volunteer.name
                )
            )
        return str(
            gettext(
                "#%(id)s %(name)s：已通过，记入 %(points)s 积分",
                id=record.id,
                name=record.volunteer.name,
                points=entry.points,
            )
        )

    return _hours_step(run, gettext("已通过"))


@bp.post("/hours/<int:record_id>/decline")
def decline(record_id: int) -> ResponseReturnValue:
    """Decline the hours with a reason."""

    def run() -> str:
        record = services.record_in(access.community_scope(), record_id)
        services.decline(record, _actor(), forms.checked(forms.DeclineForm).reason.data)
        return str(gettext("#%(id)s %(name)s：未通过", id=record.id, name=record.volunteer.name))

    return _hours_step(run, gettext("未通过"))
