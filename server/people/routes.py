"""Residents (档案) in the console; every view, export and change is audited.

GET       /console/residents                  search profiles
GET|POST  /console/residents/new              create a profile
GET       /console/residents/<id>             a profile (audited view; a reason is asked)
GET|POST  /console/residents/<id>/edit        correct a profile (with a reason)
POST      /console/residents/<id>/consent     record a consent
POST      /console/residents/<id>/export      download everything held about the person
POST      /console/residents/<id>/delete      erase the person's data (PIPL)
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from server.audit.actor import Actor
from server.auth import access
from server.errors import InvalidInput, LinliError
from server.inputs import parse_int
from server.pages import form_failed
from server.people import services
from server.people.forms import ConsentForm, DeleteForm, ProfileForm, ReasonForm, invalid
from server.people.models import MOBILITY
from server.people.queries import load_resident

bp = Blueprint("people", __name__, url_prefix="/console/residents")


def _who() -> Actor:
    return Actor.of_user(access.user())


@bp.get("")
def index() -> ResponseReturnValue:
    """Search profiles (names and rooms only)."""
    q = request.args.get("q", "")[:100]
    residents = services.search(access.community_scope(), q, _who())
    return render_template("people/index.html", residents=residents, q=q)


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    """Create a profile."""
    form = ProfileForm(MultiDict(request.form) if request.method == "POST" else None)

    def context() -> dict[str, Any]:
        communities = access.scoped_communities()
        return {"mobility": MOBILITY, "form": form, "communities": communities, "resident": None}

    if request.method == "GET":
        return render_template("people/form.html", **context())
    if not form.validate():
        return form_failed(invalid(form), "people/form.html", context)
    community_id = parse_int(form.community.data, "community", code="bad_community")
    access.require_community(community_id)
    try:
        resident = services.create_resident(community_id, form.to_input(), _who(), "new profile")
    except LinliError as exc:
        return form_failed(exc, "people/form.html", context)
    flash(gettext("已新建档案"))
    return redirect(url_for("people.profile", resident_id=resident.id, why="created"), 303)


@bp.get("/<int:resident_id>")
def profile(resident_id: int) -> ResponseReturnValue:
    """A profile; opening it is audited with the reason given."""
    load_resident(resident_id)
    why = request.args.get("why", "").strip()[:300] or "opened from the residents list"
    resident = services.view_resident(resident_id, access.community_scope(), _who(), why)
    return render_template(
        "people/profile.html", resident=resident, trail=services.audit_trail(resident)
    )


@bp.route("/<int:resident_id>/edit", methods=["GET", "POST"])
def edit(resident_id: int) -> ResponseReturnValue:
    """Correct a profile."""
    resident = load_resident(resident_id)
    if request.method == "GET":
        services.view_resident(resident_id, access.community_scope(), _who(), "opened to correct")
        form = ProfileForm(obj=resident)
        form.room.data = resident.room.code if resident.room else ""
        return render_template(
            "people/form.html", mobility=MOBILITY, form=form, communities=[], resident=resident
        )
    form = ProfileForm(MultiDict(request.form))

    def context() -> dict[str, Any]:
        resident = load_resident(resident_id)
        return {"mobility": MOBILITY, "form": form, "communities": [], "resident": resident}

    if not form.validate():
        return form_failed(invalid(form), "people/form.html", context)
    try:
        services.correct_resident(
            resident, form.to_input(), _who(), (form.reason.data or "").strip()
        )
    except LinliError as exc:
        return form_failed(exc, "people/form.html", context)
    flash(gettext("已更正档案"))
    return redirect(url_for("people.profile", resident_id=resident.id, why="after correction"), 303)


@bp.post("/<int:resident_id>/consent")
def consent(resident_id: int) -> ResponseReturnValue:
    """Record a consent."""
    resident = load_resident(resident_id)
    form = ConsentForm(request.form)
    services.add_consent(resident, form.kind.data or "", form.version.data or "", _who())
    flash(gettext("已记录同意"))
    return redirect(url_for("people.profile", resident_id=resident.id, why="consent recorded"), 303)


@bp.post("/<int:resident_id>/export")
def export(resident_id: int) -> ResponseReturnValue:
    """Everything held about the person, as a JSON download (audited with the reason)."""
    resident = load_resident(resident_id)
    reason = ReasonForm(request.form).checked_reason()
    data = services.export_resident(resident, _who(), reason)
    response = Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = f"attachment; filename=resident-{resident.id}.json"
    return response


@bp.post("/<int:resident_id>/delete")
def delete(resident_id: int) -> ResponseReturnValue:
    """Erase the person's data (needs the confirmation word and a reason)."""
    resident = load_resident(resident_id)
    form = DeleteForm(request.form)
    if form.confirm.data != "DELETE":
        raise InvalidInput(gettext("请输入 DELETE 确认"), "not_confirmed")
    services.delete_resident(resident, _who(), form.checked_reason())
    flash(gettext("已删除这位居民的数据"))
    return redirect(url_for("people.index"), 303)
