"""Open311 queries and filing, always within the API key's communities.

Output never carries a name or phone number; phone numbers in free text are masked too
(server/open311/render.py masks every text field it writes).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.audit.actor import Actor
from server.communities.models import Community, Room
from server.dispatch.models import Agency, Escalation
from server.extensions import db
from server.inputs import as_id
from server.requests.models import Category, HelpRequest
from server.requests.services import Intake, create_by_staff, due_at
from server.staffapi.services import Scope
from server.timeutil import utcnow
from sync.statuses import FINAL

PAGE_LIMIT = 1000
DEFAULT_DAYS = 90
"""Without ids or a start_date, the list covers the last 90 days (as the specification says)."""


def discard_changes() -> None:
    """An answer with an error keeps nothing of the request's work."""
    db.session.rollback()


class Open311Error(Exception):
    """An error in the specification's format: HTTP status and description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _category(code: str) -> Category:
    category = db.session.execute(
        sa.select(Category).where(Category.code == code, Category.is_active)
    ).scalar_one_or_none()
    if category is None:
        raise Open311Error(404, f"no service {code!r}")
    return category


def service_list() -> list[dict[str, Any]]:
    """Every active category as a service."""
    rows = db.session.execute(
        sa.select(Category).where(Category.is_active).order_by(Category.sort_order, Category.id)
    ).scalars()
    return [
        {
            "service_code": c.code,
            "service_name": c.name_en,
            "description": f"{c.name_zh} / {c.name_en}",
            "metadata": False,
            "type": "realtime",
            "keywords": c.code,
            "group": "emergency" if c.is_urgent else "community help",
        }
        for c in rows
    ]


def service_definition(code: str) -> dict[str, Any]:
    """A service's definition: no extra attributes are asked."""
    category = _category(code)
    return {"service_code": category.code, "attributes": []}


def _agencies(request_ids: list[int]) -> dict[int, str]:
    """The agency each escalated request was last handed to (one query for a whole page)."""
    if not request_ids:
        return {}
    rows = db.session.execute(
        sa.select(Escalation.request_id, Agency.name)
        .join(Agency, Escalation.agency_id == Agency.id)
        .where(Escalation.request_id.in_(request_ids))
        .order_by(Escalation.id)
    )
    return {request_id: name for request_id, name in rows}


def _as_open311(req: HelpRequest, agency: str | None) -> dict[str, Any]:
    due = due_at(req)
    return {
        "service_request_id": str(req.id),
        "status": "closed" if req.status in FINAL else "open",
        "status_notes": req.public_note,
        "service_name": req.category.name_en,
        "service_code": req.category.code,
        "description": req.details,
        "agency_responsible": agency or (req.team.name if req.team else None),
        "service_notice": None,
        "requested_datetime": req.received_at.isoformat(),
        "updated_datetime": req.updated_at.isoformat(),
        "expected_datetime": due.isoformat() if due else None,
        "address": req.room.code,
        "address_id": req.room.code,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def _visible(scope: Scope) -> sa.ColumnElement[bool]:
    if scope.community_ids is None:
        return sa.true()
    return HelpRequest.community_id.in_(scope.community_ids)


def list_requests(
    scope: Scope,
    ids: list[str] | None,
    service_code: str | None,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[dict[str, Any]]:
    """Requests matching the standard filters, newest first (the last 90 days by default)."""
    stmt = sa.select(HelpRequest).where(_visible(scope))
    if ids:
        numbers = [n for n in map(as_id, ids) if n is not None]
        stmt = stmt.where(HelpRequest.id.in_(numbers))
    if service_code:
        stmt = stmt.where(HelpRequest.category_id == _category(service_code).id)
    if status == "open":
        stmt = stmt.where(HelpRequest.status.not_in(FINAL))
    elif status == "closed":
        stmt = stmt.where(HelpRequest.status.in_(FINAL))
    elif status:
        raise Open311Error(400, "status must be open or closed")
    if end is not None:
        stmt = stmt.where(HelpRequest.received_at <= end)
    if not ids and start is None:
        start = utcnow() - timedelta(days=DEFAULT_DAYS)
    if start is not None:
        stmt = stmt.where(HelpRequest.received_at >= start)
    rows = list(
        db.session.execute(
            stmt.order_by(HelpRequest.received_at.desc(), HelpRequest.id.desc()).limit(PAGE_LIMIT)
        ).scalars()
    )
    agencies = _agencies([r.id for r in rows])
    return [_as_open311(r, agencies.get(r.id)) for r in rows]


def one_request(scope: Scope, request_id: str) -> dict[str, Any]:
    """One request in the key's communities."""
    number = as_id(request_id)
    req = db.session.get(HelpRequest, number) if number is not None else None
    if req is None or not scope.allows(req.community_id):
        raise Open311Error(404, f"no request {request_id}")
    return _as_open311(req, _agencies([req.id]).get(req.id))


def token_lookup(scope: Scope, token: str) -> dict[str, Any]:
    """The request id a POST's token became."""
    try:
        client_id = uuid.UUID(token)
    except ValueError as exc:
        raise Open311Error(404, f"no token {token}") from exc
    req = db.session.execute(
        sa.select(HelpRequest).where(HelpRequest.client_id == client_id)
    ).scalar_one_or_none()
    if req is None or not scope.allows(req.community_id):
        raise Open311Error(404, f"no token {token}")
    return {"service_request_id": str(req.id), "token": token}


def create_request(
    scope: Scope,
    service_code: str,
    address_id: str,
    description: str | None,
    jurisdiction_id: str | None,
    phone: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    choice: str | None = None,
    preferred_time: str | None = None,
) -> dict[str, Any]:
    """File a request for a room (`building-unit-room`) of the key's communities, by `open311`.

    `choice` and `preferred_time` come as the service attributes `attribute[choice]` and
    `attribute[preferred_time]` (a sub-choice's code, and one of PREFERRED_TIMES).
    """
    # The phone and the reporter's name are kept for staff; Open311 output never shows them.
    category = _category(service_code) if service_code else None
    if category is None:
        raise Open311Error(400, "service_code is required")
    if description is not None and len(description) > 2000:
        raise Open311Error(400, "description may have at most 2000 characters")
    if description is not None and "\x00" in description:
        raise Open311Error(400, "description may not contain a NUL character")
    community = _community(scope, jurisdiction_id)
    room = db.session.execute(
        sa.select(Room).where(Room.community_id == community.id, Room.code == address_id.strip())
    ).scalar_one_or_none()
    if room is None:
        raise Open311Error(
            400, "address_id must be a room code (building-unit-room) of the community"
        )
    name = " ".join(part.strip() for part in (first_name, last_name) if part and part.strip())
    req = create_by_staff(
        Intake(
            community_id=community.id,
            room=room.code,
            category=category.code,
            channel="open311",
            details=description,
            phone=phone,
            reporter_name=name or None,
            choice=choice,
            preferred_time=preferred_time,
        ),
        Actor.api(scope.token_name),
    )
    return {
        "service_request_id": str(req.id),
        "token": str(req.client_id),
        "service_notice": None,
        "account_id": None,
    }


def _community(scope: Scope, slug: str | None) -> Community:
    if slug:
        community = db.session.execute(
            sa.select(Community).where(Community.slug == slug)
        ).scalar_one_or_none()
        if community is None or not scope.allows(community.id):
            raise Open311Error(404, f"no jurisdiction {slug!r}")
        return community
    if scope.community_ids is not None and len(scope.community_ids) == 1:
        (only,) = scope.community_ids
        return db.session.get_one(Community, only)
    if scope.community_ids is None:
        communities = db.session.execute(sa.select(Community).limit(2)).scalars().all()
        if len(communities) == 1:  # a one-community server needs no jurisdiction_id
            return communities[0]
    raise Open311Error(400, "jurisdiction_id (the community's slug) is required for this key")
