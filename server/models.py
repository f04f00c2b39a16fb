"""Imports every feature's models, so Alembic and `create_app` see the whole schema."""

from server.communities.models import Building, Community, Room
from server.kiosks.models import Kiosk
from server.requests.models import Category, HelpRequest, RequestEvent
from server.staffapi.models import ApiToken
from server.syncapi.models import AppliedOp, Change, SyncConflict, SyncState

__all__ = [
    "ApiToken",
    "AppliedOp",
    "Building",
    "Category",
    "Change",
    "Community",
    "HelpRequest",
    "Kiosk",
    "RequestEvent",
    "Room",
    "SyncConflict",
    "SyncState",
]
