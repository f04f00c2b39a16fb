"""Kiosk enrolment codes and revocation (the sync API spends the codes)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa

from server.communities.services import community_by_slug
from server.dbutil import hash_secret
from server.errors import Conflict, InvalidInput
from server.extensions import db
from server.kiosks.models import Kiosk
from server.syncapi.services import kiosk_by_name, normalize_code
from server.timeutil import utcnow
from sync.ids import ticket_prefix

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I: the code is read aloud and typed on a touchscreen."""


def new_enrollment_code(community_slug: str, name: str, hours: int) -> tuple[Kiosk, str]:
    """Create the kiosk if new, and give it a one-time code valid for `hours`.

    Re-enrolling an existing kiosk keeps its identity and sequence numbers, so a revoked
    kiosk's queue drains after it enrols again.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("a kiosk name must have 1 to 100 characters", "bad_name")
    community = community_by_slug(community_slug)
    kiosk = db.session.execute(sa.select(Kiosk).where(Kiosk.name == name)).scalar_one_or_none()
    if kiosk is None:
        count = db.session.execute(sa.select(sa.func.count()).select_from(Kiosk)).scalar_one()
        kiosk = Kiosk(
            community_id=community.id, name=name, ticket_prefix=ticket_prefix(count), last_seq=0
        )
        db.session.add(kiosk)
    elif kiosk.community_id != community.id:
        raise Conflict(f"kiosk {name!r} belongs to another community", "kiosk_elsewhere")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    kiosk.enroll_code_hash = hash_secret(normalize_code(code))
    kiosk.enroll_expires_at = utcnow() + timedelta(hours=hours)
    db.session.flush()
    return kiosk, f"{code[:4]}-{code[4:]}"


def revoke(name: str) -> Kiosk:
    """Revoke a kiosk's token and any unused code; its data on the server is kept."""
    kiosk = kiosk_by_name(name)
    kiosk.revoked_at = utcnow()
    kiosk.enroll_code_hash = None
    kiosk.enroll_expires_at = None
    db.session.flush()
    return kiosk
