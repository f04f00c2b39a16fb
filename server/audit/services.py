"""Writing and reading the audit trail; there is deliberately no update or delete here."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import g

from server.audit.actor import Actor
from server.audit.models import AuditEntry
from server.extensions import db
from server.timeutil import utcnow

ACTIONS = ("view", "export", "change", "create", "delete", "link")


def record(
    actor: Actor,
    community_id: int,
    action: str,
    what: str,
    why: str,
    resident_id: int | None = None,
    request_id: int | None = None,
) -> None:
    """Append one audit row: who (actor), when (now), what, why."""
    record_each(actor, {community_id: what}, action, why, resident_id, request_id)


def record_each(
    actor: Actor,
    whats: dict[int, str],
    action: str,
    why: str,
    resident_id: int | None = None,
    request_id: int | None = None,
) -> None:
    """Append one audit row per community of `whats` (community id: what), flushed together
    (a list spanning a city's communities writes one batch, not a statement per community)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    now = utcnow()
    for community_id, what in whats.items():
        row: dict[str, Any] = {
            "at": now,
            "actor": actor.label,
            "user_id": actor.user_id,
            "community_id": community_id,
            "action": action,
            "resident_id": resident_id,
            "request_id": request_id,
            "what": what[:300],
            "why": why[:300],
        }
        kept = g.get("audit_kept")
        if kept is not None:
            kept.append(row)
        db.session.add(AuditEntry(**row))
    db.session.flush()


def keep_on_failure() -> None:
    """From now on, this request's audit rows outlive the rollback of its failure answer.

    Called after an action failed and was rolled back, before the page (with personal data)
    is shown again: the view happened, so its trail must stay although the answer is a 4xx.
    """
    g.audit_kept = []


def restore_kept() -> bool:
    """Add again the rows kept by `keep_on_failure` (call after the final rollback)."""
    kept = g.pop("audit_kept", None) or []
    for row in kept:
        db.session.add(AuditEntry(**row))
    return bool(kept)


def for_resident(resident_id: int, limit: int = 200) -> list[AuditEntry]:
    """The latest audit rows about one resident, newest first."""
    return list(
        db.session.execute(
            sa.select(AuditEntry)
            .where(AuditEntry.resident_id == resident_id)
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        ).scalars()
    )
