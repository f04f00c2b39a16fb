"""Typed wire messages of sync protocol v1, validated with pydantic on both sides.

Requests (kiosk to server) forbid unknown fields: a typo is an error, not silently dropped.
Responses (server to kiosk) ignore unknown fields, so a newer server can add information
without breaking an older kiosk of the same protocol version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    StringConstraints,
    Tag,
    TypeAdapter,
    field_serializer,
)

from sync import codec
from sync.statuses import RequestStatus

PROTOCOL_HEADER = "Linli-Protocol"
PROTOCOL_VERSION = 1
SUPPORTED_PROTOCOLS = (1, 1)
"""Lowest and highest protocol versions this code speaks."""

MAX_BATCH_OPS = 500

CATEGORY_CODES = (
    "electrical",
    "plumbing",
    "appliance",
    "health",
    "meals",
    "company",
    "errands",
    "emergency",
    "other",
)


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range once converted to UTC") from exc


UtcTime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""An aware time, normalised to UTC (so equal instants have equal digests)."""


_NO_NUL = r"^[^\x00]*$"
"""Free text may not hold NUL characters (no database stores them faithfully)."""
Text32 = Annotated[str, StringConstraints(max_length=32, pattern=_NO_NUL)]
Text64 = Annotated[str, StringConstraints(max_length=64, pattern=_NO_NUL)]
Text200 = Annotated[str, StringConstraints(max_length=200, pattern=_NO_NUL)]
Text500 = Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL)]
Text2000 = Annotated[str, StringConstraints(max_length=2000, pattern=_NO_NUL)]

RoomCode = Annotated[
    str, StringConstraints(pattern=r"^[^-\s]{1,16}-[^-\s]{1,16}-[^-\s]{1,16}$", max_length=50)
]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{5,15}$")]
Ticket = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,2}-[0-9]{4}$")]
CategoryCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,31}$")]
ChoiceCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
"""A sub-choice of a category (`light_out`), unique within the category and community."""
OTHER_CHOICE = "other"
"""The sub-choice every category offers after the community's own: none of those (其他)."""
PreferredTime = Literal["today_am", "today_pm", "tomorrow", "any"]
"""When the resident would like the help: 今天上午, 今天下午, 明天, 都可以."""
PREFERRED_TIMES: tuple[PreferredTime, ...] = ("today_am", "today_pm", "tomorrow", "any")


class Request(BaseModel):
    """A message the kiosk sends: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Response(BaseModel):
    """A message the server sends: unknown fields are ignored by older readers."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- operations -------------------------------------------------------------------------


class CreateRequestPayload(Request):
    """A resident's new help request; its id is the id of the operation that creates it."""

    category: CategoryCode
    room: RoomCode
    ticket: Ticket
    phone: Phone | None = None
    details: Text2000 | None = None
    on_behalf: bool = False
    consent_version: Text32 | None = None
    choice: ChoiceCode | None = Field(default=None, exclude_if=lambda v: v is None)
    """What is wrong, as one of the category's sub-choices (or `other`). Left out when unset,
    so older kiosks' messages and digests are unchanged; a kiosk sends it only to a server
    whose community data carries `choices` (an older server refuses unknown fields)."""
    preferred_time: PreferredTime | None = Field(default=None, exclude_if=lambda v: v is None)
    """When the resident would like the help (left out when unset, as `choice`)."""


class CancelRequestPayload(Request):
    """The resident asks to cancel one of this kiosk's requests."""

    request_id: uuid.UUID
    reason: Text500 | None = None
    ask: bool = Field(default=False, exclude_if=lambda ask: not ask)
    """True: staff decide (a cancellation request), even while the request could be cancelled
    at once. Left out of the message when false, so the digests and bodies of older kiosks'
    cancellations are unchanged."""


class _Op(Request):
    op_id: uuid.UUID
    seq: int = Field(ge=1, le=2**62)
    at: UtcTime
    """The device clock when the operation was made: recorded, never trusted for ordering."""


class CreateRequestOp(_Op):
    """Operation `request.create`."""

    type: Literal["request.create"]
    payload: CreateRequestPayload


class CancelRequestOp(_Op):
    """Operation `request.cancel`."""

    type: Literal["request.cancel"]
    payload: CancelRequestPayload


class CheckinPayload(Request):
    """A resident's 报平安 ("I am well today") at the kiosk, for one room: no words, no phone.

    It is a sign of life for the care watch, never a request.
    """

    room: RoomCode


class CheckinOp(_Op):
    """Operation `checkin.create`: sent only by kiosks that know it (older ones never do)."""

    type: Literal["checkin.create"]
    payload: CheckinPayload


KNOWN_OP_TYPES = ("request.create", "request.cancel", "checkin.create")
"""The operation types this version of the contract defines."""
UNKNOWN_OP = "unknown"
"""The tag of an operation whose type this reader does not know."""


def _not_known(kind: str) -> str:
    if kind in KNOWN_OP_TYPES:
        raise ValueError(f"{kind!r} is a known operation type and must be read as one")
    return kind


UNKNOWN_PAYLOAD_CHARS = 4000
"""The longest payload of an unknown operation a reader keeps (as JSON text)."""


def _storable(payload: dict[str, Any]) -> dict[str, Any]:
    text = codec.dumps(payload).decode()
    if len(text) > UNKNOWN_PAYLOAD_CHARS:
        raise ValueError(f"payload longer than {UNKNOWN_PAYLOAD_CHARS} characters as JSON")
    if "\\u0000" in text:  # JSON escapes NUL; no database stores it faithfully
        raise ValueError("payload holds a NUL character")
    return payload


class UnknownOp(_Op):
    """An operation of a type this reader does not know (sent by newer software).

    Its envelope is read so that the server answers it alone, `rejected` with the reason
    `unknown_op_type`, and applies the rest of the batch: a newer kiosk talking to an older
    server loses that one operation with a clear answer, never its whole queue.
    """

    type: Annotated[
        str,
        StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=64),
        AfterValidator(_not_known),
    ]
    payload: Annotated[dict[str, Any], AfterValidator(_storable)]


def _op_kind(value: Any) -> str:
    """The tag an operation is read under: its type when known, else `unknown`."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in KNOWN_OP_TYPES else UNKNOWN_OP


AnyOp = CreateRequestOp | CancelRequestOp | CheckinOp | UnknownOp
"""Every operation a reader may hold once a batch is read."""
Operation = Annotated[
    Annotated[CreateRequestOp, Tag("request.create")]
    | Annotated[CancelRequestOp, Tag("request.cancel")]
    | Annotated[CheckinOp, Tag("checkin.create")]
    | Annotated[UnknownOp, Tag(UNKNOWN_OP)],
    Discriminator(_op_kind),
]
"""One operation of a batch, read by its `type`; a type this reader does not know is read as
an `UnknownOp` (answered alone), while a known type with a bad payload fails the batch."""


def op_digest(op: AnyOp) -> str:
    """Content digest of an operation, without its seq: a replay with another is a conflict.

    The seq is left out because a kiosk may move an unsent operation to a fresh seq (its
    counter fell behind the server's); the operation, and so its digest, stays the same.
    """
    return codec.digest(op.model_dump(mode="json", exclude={"seq"}))


def seq_bound_digest(op: AnyOp) -> str:
    """The digest servers stored before `op_digest` left out the seq (rows kept from then)."""
    return codec.digest(op.model_dump(mode="json"))


# --- push -------------------------------------------------------------------------------


class PushRequest(Request):
    """A batch of operations, applied by the server in one transaction, in `seq` order."""

    device_time: UtcTime
    ops: list[Operation] = Field(min_length=1, max_length=MAX_BATCH_OPS)
    instance: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,32}$")] | None = None
    """A random id of the kiosk process, new each run: two at once mean a cloned card."""


OpStatus = Literal["applied", "duplicate", "rejected"]


class OpResult(Response):
    """The server's answer for one operation, identified by its sequence number."""

    seq: int
    status: OpStatus
    reason: str | None = None
    """A stable code when rejected (for example `unknown_room`, `conflict`)."""
    original: Literal["applied", "rejected"] | None = None
    """For a duplicate: how the first copy was answered."""
    result: dict[str, Any] | None = None


class PushResponse(Response):
    """Answers for the operations the server processed, in `seq` order."""

    results: list[OpResult]
    last_seq: int
    """The highest sequence number the server has from this device, after this batch."""
    last_ticket: int | None = None
    """The highest ticket number the server holds from this device (its prefix's counter)."""
    resend_from: int | None = None
    """Set when the batch skipped a sequence number: resend everything from here."""
    server_time: datetime


# --- pull -------------------------------------------------------------------------------

Entity = Literal["category", "room", "community", "request"]


def _iso(value: datetime) -> str:
    return value.isoformat()


IsoTime = Annotated[AwareDatetime, PlainSerializer(_iso, return_type=str)]
"""An aware time written back exactly as `datetime.isoformat` writes it (`+00:00`, not `Z`)."""


class CategoryData(Response):
    """A category of help the kiosk offers."""

    code: str
    name_zh: str
    name_en: str
    sort: int = 0
    urgent: bool = False


class RoomData(Response):
    """A room residents may ask help for (its key is `<community id>:<code>`)."""

    code: str
    building: str
    unit: str
    room: str


def _unset(value: object) -> bool:
    return value is None


class ChoiceData(Response):
    """One sub-choice of a category the community offers (what is wrong: 灯不亮)."""

    category: str
    code: str
    name_zh: str
    name_en: str
    sort: int = 0


class CommunityData(Response):
    """The kiosk's community: its name, the office's phone and its sub-choices.

    `choices` came later: left out when unset (an older server's page reads as it always did),
    and present, even empty, from a server that accepts a request's `choice` and
    `preferred_time` (a kiosk offers them only then).
    """

    slug: str
    name: str
    phone: str | None = None
    choices: list[ChoiceData] | None = Field(default=None, exclude_if=_unset)
    """The active sub-choices of every category, in display order within each."""


class RequestData(Response):
    """What every kiosk of the community shows of a request: status, public note, who is coming.

    Never the resident's words, phone or name. The fields after `updated_at` came later: each is
    left out of the message when unset, so a page without them reads as it always did.
    """

    status: RequestStatus
    note: str | None = None
    cancel_requested: bool = False
    updated_at: IsoTime | None = None
    ticket: str | None = Field(default=None, exclude_if=_unset)
    category: str | None = Field(default=None, exclude_if=_unset)
    """The category's code."""
    room: str | None = Field(default=None, exclude_if=_unset)
    """The room's code (building-unit-room): a kiosk lists the request under it."""
    team: str | None = Field(default=None, exclude_if=_unset)
    """The team that is coming (its name)."""
    agency: str | None = Field(default=None, exclude_if=_unset)
    """The agency an escalated request was handed to (its name)."""
    merged_into: str | None = Field(default=None, exclude_if=_unset)
    """For a duplicate: the ticket of the request it was merged into."""


ChangeData = CategoryData | RoomData | CommunityData | RequestData
"""The state of one record, typed by its entity."""


class _Change(Response):
    entity: Entity
    key: str
    data: ChangeData | None = None

    @field_serializer("data")
    def _keep_nulls(self, data: ChangeData | None) -> dict[str, Any] | None:
        # The record's own null fields stay on the wire (`"note": null`) even when the
        # answer leaves out unset fields: the data is one record, written whole.
        return None if data is None else data.model_dump(mode="json")


class CategoryChange(_Change):
    """A category's current state; `data` is null when the record was removed."""

    entity: Literal["category"] = "category"
    data: CategoryData | None = None
    """Absent or null: the record was removed (a tombstone)."""


class RoomChange(_Change):
    """A room's current state; `data` is null when the record was removed."""

    entity: Literal["room"] = "room"
    data: RoomData | None = None
    """Absent or null: the record was removed (a tombstone)."""


class CommunityChange(_Change):
    """The community's current state; `data` is null when the record was removed."""

    entity: Literal["community"] = "community"
    data: CommunityData | None = None
    """Absent or null: the record was removed (a tombstone)."""


class RequestChange(_Change):
    """A request of the kiosk's community as the server now holds it (null: removed).

    Its key is the id the kiosk made for a request made at a kiosk, else `srv-<server id>`.
    """

    entity: Literal["request"] = "request"
    data: RequestData | None = None
    """Absent or null: the record was removed (a tombstone)."""


Change = Annotated[
    CategoryChange | RoomChange | CommunityChange | RequestChange, Field(discriminator="entity")
]
"""The current state of one record, its data typed by `entity`."""
CHANGE: TypeAdapter[Change] = TypeAdapter(Change)
"""Validates one change from plain JSON data (the server's stored change log)."""


class PullResponse(Response):
    """One page of changes after a cursor."""

    changes: list[Change]
    cursor: str
    """Opaque; store it in the same transaction as the changes and send it back."""
    more: bool
    reset: bool = False
    """The cursor sent was unknown: this page starts a full download of current state."""


# --- enrolment --------------------------------------------------------------------------


class EnrollRequest(Request):
    """Exchange a one-time enrolment code for a device token."""

    code: Annotated[str, StringConstraints(min_length=4, max_length=64)]
    software: Text64 | None = None


class EnrollResponse(Response):
    """The device identity and its token (shown once; the server keeps only a hash)."""

    device_id: int
    name: str
    token: str
    community: str
    ticket_prefix: str
    last_seq: int = 0
    """The highest sequence number the server holds from this device (0 when new)."""
    last_ticket: int = 0
    """The highest ticket number the server holds from this device (0 when none)."""


# --- reconcile --------------------------------------------------------------------------


class SeqRange(Request):
    """An inclusive range of a device's sequence numbers with the digest of its operations."""

    first: int = Field(ge=1, le=2**62)
    last: int = Field(ge=1, le=2**62)
    count: int = Field(ge=0, le=2**62)
    digest: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ReconcileRequest(Request):
    """What the kiosk believes the server holds of its operations."""

    ranges: list[SeqRange] = Field(max_length=10000)


class MissingRange(Response):
    """A range whose operations the server does not hold exactly as the kiosk does."""

    first: int
    last: int


class ReconcileResponse(Response):
    """Ranges to re-push, and the server's view of this device."""

    missing: list[MissingRange]
    last_seq: int


def range_digest(entries: list[tuple[int, str, str]]) -> str:
    """Digest of `(seq, op_id, content digest)` entries of one range, in seq order."""
    lines = "\n".join(f"{seq}:{op_id}:{content}" for seq, op_id, content in sorted(entries))
    return codec.digest(lines)


# --- health -----------------------------------------------------------------------------


class LostRequest(Request):
    """A request the kiosk saved whose envelope it compacted: the server may have lost it."""

    id: uuid.UUID
    ticket: Ticket


class HealthReport(Request):
    """A kiosk's nightly report of its own health (shown on the console, in /metrics)."""

    queued: int = Field(ge=0)
    oldest_queued_at: UtcTime | None = None
    last_sync_at: UtcTime | None = None
    rejected: int = Field(ge=0, default=0)
    db_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)
    last_backup_at: UtcTime | None = None
    integrity: Text200
    software: Text64 | None = None
    parked: int = Field(ge=0, default=0)
    """Operations set aside because the server kept failing on them (staff can release)."""
    lost: list[LostRequest] = Field(default_factory=list, max_length=1000)
    """After the server lost operations the kiosk had compacted: requests it may lack."""


class HealthAck(Response):
    """The server stored the report."""

    received_at: datetime


# --- errors -----------------------------------------------------------------------------


class ErrorBody(Response):
    """Every 4xx or 5xx answer of the sync and staff APIs."""

    error: str
    detail: str
