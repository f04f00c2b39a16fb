"""Removing a person's data from every place it was copied to.

A request's phone and words are copied into its events' notes, its public note (and the kiosk's
change row carrying it), escalation payloads (and their outbox messages), and, for operations
the server did not apply, the rejected operation's body and sync conflicts. A PIPL erasure and
the retention purge both go through here. Services flush, never commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.dispatch.models import ESCALATION_KIND, Escalation
from server.extensions import db
from server.hooks import Hook
from server.kiosks.models import Kiosk
from server.outbox import services as outbox
from server.people.models import Resident
from server.people.services import Erased
from server.privacy import Needles, national_digits
from server.requests.changes import request_change
from server.requests.models import HelpRequest, RequestEvent
from server.synclog.changes import record_changes
from server.synclog.models import AppliedOp, Change, SyncConflict

SYSTEM_NOTES = ("delivery", "link")
"""Event kinds whose note the server writes itself (kept unless it names the person)."""
KEPT_BODY_FIELDS = ("op_id", "seq", "type", "at")
"""What is left of a conflicting operation's body once its content is erased."""


def stripped_body(body: dict[str, Any]) -> dict[str, Any]:
    """A sync conflict's body without its content (ids, type and device time stay)."""
    return {**{k: body[k] for k in KEPT_BODY_FIELDS if k in body}, "erased": True}


class RequestRecords:
    """The requests' side of a resident's export and erasure (people's `ResidentRecords`)."""

    def export(self, resident: Resident) -> list[dict[str, Any]]:
        """The resident's linked requests, as exported."""
        requests = db.session.execute(
            sa.select(HelpRequest)
            .where(HelpRequest.resident_id == resident.id)
            .order_by(HelpRequest.id)
        ).scalars()
        return [
            {
                "id": r.id,
                "ticket": r.ticket,
                "category": r.category.code,
                "status": r.status,
                "details": r.details,
                "phone": r.phone,
                "received_at": r.received_at.isoformat(),
            }
            for r in requests
        ]

    def erase(self, resident: Resident) -> Erased:
        """Unlink the resident's requests; strip them and those carrying their phone number;
        redact the community's other text naming them. Called before the profile is cleared:
        its phones and names are what finds the copies."""
        linked = list(
            db.session.execute(
                sa.select(HelpRequest).where(HelpRequest.resident_id == resident.id)
            ).scalars()
        )
        needles = Needles.of(
            [
                resident.phone,
                resident.emergency_contact_phone,
                *(req.phone for req in linked),
            ],
            [resident.name, resident.emergency_contact_name],
        )
        same_phone = [
            req
            for req in db.session.execute(
                sa.select(HelpRequest).where(
                    HelpRequest.community_id == resident.community_id,
                    HelpRequest.phone.is_not(None),
                    HelpRequest.resident_id.is_(None),
                )
            ).scalars()
            if national_digits(req.phone or "") in needles.phones
        ]
        requests = list({req.id: req for req in [*linked, *same_phone]}.values())
        for req in linked:
            req.resident_id = None
        strip_requests(requests, needles, "(deleted at the resident's request)")
        elsewhere = scrub_community(resident.community_id, needles)
        return Erased(requests=len(requests), elsewhere=elsewhere)


ReplyErasure = Callable[[list[int]], None]
"""Erases what agencies replied to these escalations (their notes and photos)."""
REPLY_ERASURE: Hook[ReplyErasure] = Hook("reply_erasure")


def strip_requests(requests: list[HelpRequest], needles: Needles, note: str) -> None:
    """Erase these requests' phone, words and public note, and their copies: every event note
    a person typed (staff's notes and reasons, the resident's words from the kiosk; the
    transitions, actors and times stay), escalation payloads, and the change rows kiosks pull."""
    if not requests:
        return
    ids = [req.id for req in requests]
    for req in requests:
        req.phone = None
        req.details = None
        req.public_note = None
    events = db.session.execute(
        sa.select(RequestEvent).where(
            RequestEvent.request_id.in_(ids), RequestEvent.note.is_not(None)
        )
    ).scalars()
    for event in events:
        if event.kind not in SYSTEM_NOTES or needles.found_in(event.note):
            event.note = note
    escalations = db.session.execute(
        sa.select(Escalation).where(Escalation.request_id.in_(ids))
    ).scalars()
    erased = []
    for escalation in escalations:
        escalation.payload = {**escalation.payload, "description": None, "note": None}
        outbox.replace_body(ESCALATION_KIND, escalation.id, escalation.payload)
        erased.append(escalation.id)
    REPLY_ERASURE.get()(erased)
    db.session.flush()
    record_changes([request_change(req) for req in requests])


def scrub_community(community_id: int, needles: Needles) -> int:
    """Wherever else in the community free text names or numbers the person, erase it;
    operation bodies that hold them lose their content. Answers how many records changed."""
    if not needles:
        return 0
    changed = 0
    requests = db.session.execute(
        sa.select(HelpRequest).where(
            HelpRequest.community_id == community_id,
            sa.or_(HelpRequest.details.is_not(None), HelpRequest.public_note.is_not(None)),
        )
    ).scalars()
    republish = []
    for req in requests:
        if needles.found_in(req.details) or needles.found_in(req.public_note):
            req.details = needles.redact(req.details)
            req.public_note = needles.redact(req.public_note)
            republish.append(req)
    changed += len(republish)
    events = db.session.execute(
        sa.select(RequestEvent)
        .join(HelpRequest, RequestEvent.request_id == HelpRequest.id)
        .where(HelpRequest.community_id == community_id, RequestEvent.note.is_not(None))
    ).scalars()
    for event in events:
        if needles.found_in(event.note):
            event.note = needles.redact(event.note)
            changed += 1
    escalations = db.session.execute(
        sa.select(Escalation)
        .join(HelpRequest, Escalation.request_id == HelpRequest.id)
        .where(HelpRequest.community_id == community_id)
    ).scalars()
    for escalation in escalations:
        if needles.found_in_json(escalation.payload):
            escalation.payload = _redacted_json(escalation.payload, needles)
            outbox.replace_body(ESCALATION_KIND, escalation.id, escalation.payload)
            changed += 1
    kiosks = sa.select(Kiosk.id).where(Kiosk.community_id == community_id)
    rejected = db.session.execute(
        sa.select(AppliedOp).where(AppliedOp.kiosk_id.in_(kiosks), AppliedOp.status == "rejected")
    ).scalars()
    for op in rejected:
        if needles.found_in_json(op.body) or needles.found_in(op.detail):
            op.body = None
            op.detail = needles.redact(op.detail)
            changed += 1
    conflicts = db.session.execute(
        sa.select(SyncConflict).where(SyncConflict.kiosk_id.in_(kiosks))
    ).scalars()
    for conflict in conflicts:
        if needles.found_in_json(conflict.body):
            conflict.body = stripped_body(conflict.body)
            changed += 1
    db.session.flush()
    record_changes([request_change(req) for req in republish])
    leftovers = db.session.execute(
        sa.select(Change).where(Change.community_id == community_id, Change.data.is_not(None))
    ).scalars()
    for change in leftovers:
        if change.data is not None and needles.found_in_json(change.data):
            change.data = _redacted_json(change.data, needles)
            changed += 1
    db.session.flush()
    return changed


def _redacted_json(value: dict[str, Any], needles: Needles) -> dict[str, Any]:
    redacted: dict[str, Any] = json.loads(
        needles.redact(json.dumps(value, ensure_ascii=False)) or "{}"
    )
    return redacted


def purge_refusals(cutoff: datetime) -> int:
    """Erase the content of rejected and conflicting operations recorded before `cutoff`."""
    erased = 0
    rejected = db.session.execute(
        sa.select(AppliedOp).where(AppliedOp.status == "rejected", AppliedOp.applied_at < cutoff)
    ).scalars()
    for op in rejected:
        if op.body is not None:
            op.body = None
            erased += 1
    conflicts = db.session.execute(
        sa.select(SyncConflict).where(SyncConflict.at < cutoff)
    ).scalars()
    for conflict in conflicts:
        if not conflict.body.get("erased"):
            conflict.body = stripped_body(conflict.body)
            erased += 1
    db.session.flush()
    return erased
