"""Imports every feature's models, so Alembic and `create_app` see the whole schema."""

from server.audit.models import AuditEntry
from server.auth.models import SignInFailure, User
from server.carewatch.models import CarePlan, CareStep, SignOfLife
from server.communities.models import (
    Building,
    Community,
    CommunitySettings,
    Room,
    RoomRetirement,
)
from server.dispatch.models import Agency, Escalation, Team
from server.field.models import (
    BuildingCaptain,
    FieldAction,
    JobAssignee,
    SkillWord,
    VolunteerDay,
    VolunteerDevice,
    VolunteerLink,
    VolunteerPin,
    VolunteerUser,
)
from server.health.models import MetricCount
from server.kiosks.models import Kiosk
from server.minsheng.models import MeetingDecision, MinshengItem, MinshengLink
from server.notify.models import Notification, NotifyChannel
from server.ops.models import DailyStat
from server.outbox.models import OutboxMessage
from server.passbook.models import LedgerEntry, Merchant, PassbookAccount, RedemptionCode
from server.people.models import ConsentRecord, Resident
from server.replies.models import AgencyReply, ReplyLink
from server.requests.models import Category, HelpRequest, RequestEvent, SubChoice
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
    "BuildingCaptain",
    "CarePlan",
    "CareStep",
    "Category",
    "Change",
    "Community",
    "CommunitySettings",
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
    "MetricCount",
    "MinshengItem",
    "MinshengLink",
    "Notification",
    "NotifyChannel",
    "OutboxMessage",
    "PassbookAccount",
    "RedemptionCode",
    "ReplyLink",
    "RequestEvent",
    "Resident",
    "Room",
    "RoomRetirement",
    "ServiceRecord",
    "SignInFailure",
    "SignOfLife",
    "SkillWord",
    "SubChoice",
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
