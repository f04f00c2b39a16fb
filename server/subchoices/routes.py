"""The admin page of a category's sub-choices, for a community's administrators.

GET  /console/admin/categories/<code>/choices?community=<id>   the list, with how often used
POST /console/admin/categories/<code>/choices                   add, rename, up, down, retire,
                                                                restore or remove (audited)
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.audit.actor import Actor
from server.auth import access
from server.errors import LinliError
from server.inputs import parse_int
from server.pages import form_failed
from server.subchoices import queries, services

bp = Blueprint(
    "subchoices", __name__, url_prefix="/console/admin/categories", template_folder="templates"
)

TEMPLATE = "subchoices/choices.html"


def _community_id() -> int:
    """The community asked for (checked against the admin's scope), else their first one."""
    raw = request.values.get("community")
    if raw:
        community_id = parse_int(raw, "community", code="bad_community")
    else:
        communities = access.scoped_communities()
        community_id = communities[0].id if communities else 0
    access.require_community(community_id)
    return community_id


def _context(code: str, community_id: int) -> dict[str, object]:
    return {
        **queries.choices_page(code, community_id),
        "communities": access.scoped_communities(),
    }


@bp.get("/<code>/choices")
def choices(code: str) -> ResponseReturnValue:
    """A category's sub-choices in one community: words, order, in use, active or retired."""
    return render_template(TEMPLATE, **_context(code, _community_id()))


@bp.post("/<code>/choices")
def choice_action(code: str) -> ResponseReturnValue:
    """One edit of the list; the community's kiosks learn it at their next sync."""
    community_id = _community_id()
    try:
        done = services.edit_community_choices(
            community_id,
            code,
            request.form.get("action", ""),
            {k: request.form.get(k, "") for k in ("code", "name_zh", "name_en")},
            Actor.of_user(access.user()),
        )
    except LinliError as exc:
        return form_failed(exc, TEMPLATE, lambda: _context(code, community_id))
    flash(done)
    return redirect(url_for("subchoices.choices", code=code, community=community_id), 303)
