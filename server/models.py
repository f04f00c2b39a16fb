"""Imports every feature's models, so Alembic and `create_app` see the whole schema."""

from server.audit.models import AuditEntry
from server.auth.models import SignInFailure, User
from server.carewatch.models import SignOfLife
from server.communities.models import Building, Community, Room
from server.dispatch.models import Agency, Escalation, Team
from server.field.models import (
    FieldAction,
    JobAssignee,
    VolunteerDay,
    VolunteerDevice,
    VolunteerLink,
    VolunteerPin,
    VolunteerUser,
)
from server.kiosks.models import Kiosk
from server.minsheng.models import MeetingDecision, MinshengItem, MinshengLink
from server.ops.models import DailyStat
from server.outbox.models import OutboxMessage
from server.passbook.models import LedgerEntry, Merchant, PassbookAccount, RedemptionCode
from server.people.models import ConsentRecord, Resident
from server.replies.models import AgencyReply, ReplyLink
from server.requests.models import Category, HelpRequest, RequestEvent
from server.staffapi.models import ApiToken, IdempotencyKey
from server.synclog.models import AppliedOp, Change, SyncConflict, SyncState
from server.volunteers.models import (
    ServiceRecord,
    TeamFocus,
    TeamMember,
    Volunteer,
    VolunteerNote,
)

__all__ = [
    "Agency",
    "AgencyReply",
    "ApiToken",
    "AppliedOp",
    "AuditEntry",
    "Building",
    "Category",
    "Change",
    "Community",
    "ConsentRecord",
    "DailyStat",
    "Escalation",
    "FieldAction",
    "HelpRequest",
    "IdempotencyKey",
    "JobAssignee",
    "Kiosk",
    "LedgerEntry",
    "MeetingDecision",
    "Merchant",
    "MinshengItem",
    "MinshengLink",
    "OutboxMessage",
    "PassbookAccount",
    "RedemptionCode",
    "ReplyLink",
    "RequestEvent",
    "Resident",
    "Room",
    "ServiceRecord",
    "SignInFailure",
    "SignOfLife",
    "SyncConflict",
    "SyncState",
    "Team",
    "TeamFocus",
    "TeamMember",
    "User",
    "Volunteer",
    "VolunteerDay",
    "VolunteerDevice",
    "VolunteerLink",
    "VolunteerNote",
    "VolunteerPin",
    "VolunteerUser",
]
