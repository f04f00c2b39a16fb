"""What the residents' pages read."""

from __future__ import annotations

from flask_babel import gettext

from server.auth import access
from server.errors import NotFound
from server.extensions import db
from server.people.models import Resident


def load_resident(resident_id: int) -> Resident:
    """A living profile in the user's communities, or 404."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or resident.deleted_at is not None:
        raise NotFound(gettext("没有这位居民"))
    access.require_community(resident.community_id)
    return resident
