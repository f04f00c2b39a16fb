"""Writing and reading the audit trail; there is deliberately no update or delete here."""

from __future__ import annotations

import sqlalchemy as sa

from server.audit.models import AuditEntry
from server.extensions import db

ACTIONS = ("view", "export", "change", "create", "delete", "link")


def record(
    actor: str,
    user_id: int | None,
    community_id: int,
    action: str,
    what: str,
    why: str,
    resident_id: int | None = None,
    request_id: int | None = None,
) -> None:
    """Append one audit row: who (actor), when (now), what, why."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    db.session.add(
        AuditEntry(
            actor=actor,
            user_id=user_id,
            community_id=community_id,
            action=action,
            resident_id=resident_id,
            request_id=request_id,
            what=what[:300],
            why=why[:300],
        )
    )
    db.session.flush()


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
