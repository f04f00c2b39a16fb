"""What every kiosk of a request's community learns of it, as a row of the change log."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from server.dispatch.models import Agency, Escalation
from server.extensions import db
from server.requests.models import HelpRequest
from server.synclog.changes import ChangeRow
from sync.messages import RequestData

SERVER_KEY_PREFIX = "srv-"
"""Change key of a request not made at a kiosk: never a kiosk-made id (those are UUIDs)."""


def request_key(client_id: uuid.UUID, request_id: int, kiosk_id: int | None) -> str:
    """The change key: the kiosk-made id for a kiosk's request, else `srv-<server id>`."""
    return str(client_id) if kiosk_id is not None else f"{SERVER_KEY_PREFIX}{request_id}"


def request_change(request: HelpRequest) -> ChangeRow:
    """What every kiosk of the community shows of a request: ticket, category, room, status,
    the team that is coming, the agency or surviving ticket, and the public note of a request
    made at a kiosk; never the resident's words, phone or name."""
    agency = merged_into = None
    if request.status in ("escalated", "external_feedback"):
        agency = db.session.execute(
            sa.select(Agency.name)
            .join(Escalation, Escalation.agency_id == Agency.id)
            .where(Escalation.request_id == request.id)
            .order_by(Escalation.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    if request.status == "duplicate" and request.duplicate_of_id is not None:
        merged_into = db.session.execute(
            sa.select(HelpRequest.ticket).where(HelpRequest.id == request.duplicate_of_id)
        ).scalar_one_or_none()
    return ChangeRow(
        entity="request",
        key=request_key(request.client_id, request.id, request.kiosk_id),
        community_id=request.community_id,
        data=RequestData(
            status=request.status,
            # Only the kiosk that made a request shows its note; a request made elsewhere is
            # shown by ticket, category, step and team, so its note never leaves the server.
            note=request.public_note if request.kiosk_id is not None else None,
            cancel_requested=request.is_cancel_requested,
            updated_at=request.updated_at,
            ticket=request.ticket,
            category=request.category.code,
            room=request.room.code,
            team=request.team.name if request.team is not None else None,
            agency=agency,
            merged_into=merged_into,
        ),
    )


def new_request_change(
    key: str, community_id: int, ticket: str, category: str, room: str
) -> ChangeRow:
    """A request a kiosk just pushed, for the community's other kiosks.

    Its `updated_at` is left null: nothing happened to it since it was received, which the
    push answer told the kiosk that made it (its pull leaves this row out; see syncapi pull).
    """
    return ChangeRow(
        entity="request",
        key=key,
        community_id=community_id,
        data=RequestData(status="received", ticket=ticket, category=category, room=room),
    )
