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

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Form, StringField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from server.audit.actor import Actor
from server.auth import access
from server.console.errors import register_html_errors
from server.errors import InvalidInput, LinliError, NotFound
from server.extensions import db
from server.inputs import StrictIntegerField, parse_int
from server.people import services
from server.people.models import MOBILITY, Resident

bp = Blueprint("people", __name__, url_prefix="/console/residents")
register_html_errors(bp)


class ProfileForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """A resident's profile fields."""

    community = StringField("community")
    room = StringField("room (building-unit-room)", [DataRequired("give the room"), Length(max=50)])
    name = StringField("name", [DataRequired("give the name"), Length(max=100)])
    phone = StringField("phone", [Optional(), Length(max=20)])
    birth_year = StrictIntegerField("birth year", [Optional(), NumberRange(1900, 2100, "a year")])
    is_living_alone = BooleanField("lives alone")
    mobility = StringField("mobility", [AnyOf(MOBILITY, "choose a mobility")])
    emergency_contact_name = StringField("emergency contact", [Optional(), Length(max=100)])
    emergency_contact_phone = StringField("emergency contact phone", [Optional(), Length(max=20)])
    reason = StringField("reason for the change", [Optional(), Length(max=300)])

    def to_input(self) -> services.ProfileInput:
        """The validated fields for the service."""
        return services.ProfileInput(
            room_code=self.room.data or "",
            name=(self.name.data or "").strip(),
            phone=(self.phone.data or "").strip() or None,
            birth_year=self.birth_year.data,
            is_living_alone=bool(self.is_living_alone.data),
            mobility=self.mobility.data or "independent",
            emergency_contact_name=(self.emergency_contact_name.data or "").strip() or None,
            emergency_contact_phone=(self.emergency_contact_phone.data or "").strip() or None,
        )


def _who() -> Actor:
    return Actor.of_user(access.user())


def _load(resident_id: int) -> Resident:
    resident = db.session.get(Resident, resident_id)
    if resident is None or resident.deleted_at is not None:
        raise NotFound("no such resident")
    access.require_community(resident.community_id)
    return resident


def _reason() -> str:
    reason = request.form.get("reason", "").strip()
    if not reason or len(reason) > 300:
        raise InvalidInput("give a reason (up to 300 characters)", "missing_reason")
    return reason


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
    communities = access.scoped_communities()
    if request.method == "GET":
        return render_template(
            "people/form.html", mobility=MOBILITY, form=form, communities=communities, resident=None
        )
    error = None
    if not form.validate():
        error = "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items())
    else:
        community_id = parse_int(form.community.data, "community", code="bad_community")
        access.require_community(community_id)
        try:
            resident = services.create_resident(
                community_id, form.to_input(), _who(), "new profile"
            )
        except LinliError as exc:
            db.session.rollback()
            error = exc.detail
    if error:
        page = render_template(
            "people/form.html",
            mobility=MOBILITY,
            form=form,
            communities=communities,
            resident=None,
            error=error,
        )
        return page, 400
    flash("profile created")
    return redirect(url_for("people.profile", resident_id=resident.id, why="created"), 303)


@bp.get("/<int:resident_id>")
def profile(resident_id: int) -> ResponseReturnValue:
    """A profile; opening it is audited with the reason given."""
    _load(resident_id)
    why = request.args.get("why", "").strip()[:300] or "opened from the residents list"
    resident = services.view_resident(resident_id, access.community_scope(), _who(), why)
    return render_template(
        "people/profile.html", resident=resident, trail=services.audit_trail(resident)
    )


@bp.route("/<int:resident_id>/edit", methods=["GET", "POST"])
def edit(resident_id: int) -> ResponseReturnValue:
    """Correct a profile."""
    resident = _load(resident_id)
    if request.method == "GET":
        services.view_resident(resident_id, access.community_scope(), _who(), "opened to correct")
        form = ProfileForm(obj=resident)
        form.room.data = resident.room.code if resident.room else ""
        return render_template(
            "people/form.html", mobility=MOBILITY, form=form, communities=[], resident=resident
        )
    form = ProfileForm(MultiDict(request.form))
    error = None
    if not form.validate():
        error = "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items())
    else:
        try:
            services.correct_resident(
                resident, form.to_input(), _who(), (form.reason.data or "").strip()
            )
        except LinliError as exc:
            db.session.rollback()
            error = exc.detail
    if error:
        resident = _load(resident_id)
        page = render_template(
            "people/form.html",
            mobility=MOBILITY,
            form=form,
            communities=[],
            resident=resident,
            error=error,
        )
        return page, 400
    flash("profile corrected")
    return redirect(url_for("people.profile", resident_id=resident.id, why="after correction"), 303)


@bp.post("/<int:resident_id>/consent")
def consent(resident_id: int) -> ResponseReturnValue:
    """Record a consent."""
    resident = _load(resident_id)
    services.add_consent(
        resident, request.form.get("kind", ""), request.form.get("version", ""), _who()
    )
    flash("consent recorded")
    return redirect(url_for("people.profile", resident_id=resident.id, why="consent recorded"), 303)


@bp.post("/<int:resident_id>/export")
def export(resident_id: int) -> ResponseReturnValue:
    """Everything held about the person, as a JSON download (audited with the reason)."""
    resident = _load(resident_id)
    data = services.export_resident(resident, _who(), _reason())
    response = Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = f"attachment; filename=resident-{resident.id}.json"
    return response


@bp.post("/<int:resident_id>/delete")
def delete(resident_id: int) -> ResponseReturnValue:
    """Erase the person's data (needs the confirmation word and a reason)."""
    resident = _load(resident_id)
    if request.form.get("confirm") != "DELETE":
        raise InvalidInput("type DELETE to confirm", "not_confirmed")
    services.delete_resident(resident, _who(), _reason())
    flash("the resident's data was deleted")
    return redirect(url_for("people.index"), 303)
