"""The care watch (平安守望) in the console: watch boards, care plans, logged contacts.

GET       /console/care                              the boards the user may open
GET       /console/care/<community_id>               a community's watch board (audited)
GET|POST  /console/care/residents/<id>/plan          a resident's care plan (audited)
POST      /console/care/residents/<id>/contact       log a call, visit, meal or activity
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from server.audit.actor import Actor
from server.auth import access
from server.carewatch import queries, services, words
from server.carewatch.models import CONSENTS, QUIET_REASONS, REASONS, RHYTHMS
from server.errors import InvalidInput, LinliError
from server.inputs import optional_int
from server.localtime import local_midnight
from server.pages import form_failed

bp = Blueprint("carewatch", __name__, url_prefix="/console/care", template_folder="templates")


def _who() -> Actor:
    return Actor.of_user(access.user())


def _key() -> str:
    """A fresh id for a form: a retried post of the same form records its contact once."""
    return str(uuid.uuid4())


@bp.get("")
def index() -> ResponseReturnValue:
    """The watch boards the user may open (straight to the one when there is one)."""
    communities = access.scoped_communities()
    if len(communities) == 1:
        return redirect(url_for("carewatch.board", community_id=communities[0].id))
    return render_template("carewatch/index.html", communities=communities)


@bp.get("/<int:community_id>")
def board(community_id: int) -> ResponseReturnValue:
    """Everyone watched in the community, highest risk first."""
    rows = queries.open_board(community_id, _who())
    return render_template(
        "carewatch/board.html",
        rows=rows,
        declined=queries.declined_count(community_id),
        community_id=community_id,
        words=words,
        key=_key,
    )


def _plan_context(resident_id: int) -> dict[str, Any]:
    resident = queries.load_resident(resident_id)
    plan = services.plan_of(resident.id)
    signs, steps = queries.resident_history(plan) if plan is not None else ([], [])
    return {
        "resident": resident,
        "plan": plan,
        "signs": signs,
        "steps": steps,
        "volunteers": queries.volunteers_of(resident.community_id),
        "reasons": REASONS,
        "rhythms": RHYTHMS,
        "consents": CONSENTS,
        "quiet_reasons": QUIET_REASONS,
        "words": words,
        "key": _key,
    }


def _quiet_until(raw: str) -> datetime | None:
    """A quiet period's last day, as the end of that local day."""
    text = raw.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(_("日期格式应为 年-月-日"), "bad_date", field="quiet_until") from None
    return local_midnight(day + timedelta(days=1))


def _plan_input() -> services.PlanInput:
    form = request.form
    return services.PlanInput(
        is_watched=form.get("is_watched") == "1",
        reason=form.get("reason", ""),
        rhythm=form.get("rhythm", ""),
        consent=form.get("consent", ""),
        consent_note=form.get("consent_note", "")[:300],
        captain_id=optional_int(form.get("captain"), "captain", code="bad_volunteer"),
        buddy_id=optional_int(form.get("buddy"), "buddy", code="bad_volunteer"),
        family_name=form.get("family_name", "")[:100],
        family_phone=form.get("family_phone", "")[:20],
        quiet_reason=form.get("quiet_reason") or None,
        quiet_until=_quiet_until(form.get("quiet_until", "")),
    )


@bp.route("/residents/<int:resident_id>/plan", methods=["GET", "POST"])
def plan(resident_id: int) -> ResponseReturnValue:
    """A resident's care plan, its signs of life and its follow-up (opening it is audited)."""
    resident = queries.load_resident(resident_id)
    if request.method == "GET":
        queries.note_plan_view(resident, _who())
        return render_template("carewatch/plan.html", **_plan_context(resident_id))
    try:
        services.set_plan(resident, _plan_input(), _who(), request.form.get("why", "")[:300])
    except LinliError as exc:
        return form_failed(exc, "carewatch/plan.html", lambda: _plan_context(resident_id))
    flash(_("守望计划已保存"))
    return redirect(url_for("carewatch.plan", resident_id=resident_id), 303)


@bp.post("/residents/<int:resident_id>/contact")
def contact(resident_id: int) -> ResponseReturnValue:
    """Log a contact with a watched resident (a call, a visit, a meal or an activity)."""
    resident = queries.load_resident(resident_id)
    form = request.form
    services.log_contact(
        resident,
        form.get("channel", ""),
        form.get("outcome", ""),
        form.get("note", "")[:300],
        form.get("key", ""),
        _who(),
    )
    flash(_("已记录"))
    if form.get("back") == "plan":
        return redirect(url_for("carewatch.plan", resident_id=resident_id), 303)
    return redirect(url_for("carewatch.board", community_id=resident.community_id), 303)
