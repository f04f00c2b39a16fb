"""Sync rules besides push: paging changes, reconcile, and the kiosks' health reports.

Services flush but never commit: the request handler commits once.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa

from server.communities.models import Community
from server.errors import InvalidInput
from server.extensions import db
from server.kiosks import services as kiosks
from server.kiosks.models import Kiosk
from server.requests.models import HelpRequest
from server.syncapi.push import last_ticket
from server.synclog.models import AppliedOp, Change, SyncState
from server.timeutil import utcnow
from sync.cursor import BadCursor, Cursor
from sync.messages import CHANGE as WIRE_CHANGE
from sync.messages import (
    EnrollResponse,
    HealthAck,
    HealthReport,
    MissingRange,
    PullResponse,
    ReconcileRequest,
    ReconcileResponse,
    range_digest,
)


def enroll(code: str) -> EnrollResponse:
    """Spend a one-time enrolment code: the device's new token and what it starts from."""
    token = secrets.token_urlsafe(32)
    kiosk = kiosks.enroll(code, token)
    community = db.session.get_one(Community, kiosk.community_id)
    return EnrollResponse(
        device_id=kiosk.id,
        name=kiosk.name,
        token=token,
        community=community.slug,
        ticket_prefix=kiosk.ticket_prefix,
        last_seq=kiosk.last_seq,
        last_ticket=last_ticket(kiosk),
    )


# --- pull ---------------------------------------------------------------------------------


def pull(
    kiosk: Kiosk, cursor_text: str | None, limit: int, settled_since: datetime | None = None
) -> PullResponse:
    """A page of changes visible to `kiosk` after `cursor_text` (None: from the start).

    A download from nothing (no cursor, or a reset) with `settled_since` leaves out requests
    settled before that instant: the kiosk shows them settled already, and a kiosk's whole
    history is not what it needs to display. Every page of that download keeps the same bound
    (its cursor carries it); afterwards every change is pulled as usual.
    """
    epoch, last = db.session.execute(
        sa.select(SyncState.epoch, SyncState.last_change_seq).where(SyncState.id == 1)
    ).one()
    start, reset = 0, False
    until: int | None = None
    since = settled_since
    if cursor_text:
        try:
            cursor = Cursor.decode(cursor_text)
        except BadCursor:
            reset = True
        else:
            if cursor.epoch != epoch or cursor.seq > last:
                reset = True
            else:
                start = cursor.seq
                until = cursor.until
                since = _parse_bound(cursor.since)
    if start == 0 and since is not None:
        until = last
    conditions = [
        Change.seq > start,
        Change.seq <= last,
        sa.or_(Change.kiosk_id.is_(None), Change.kiosk_id == kiosk.id),
    ]
    if start > 0 and (until is None or start >= until):
        # Caught up: what this kiosk's own push was answered is not sent back. A download from
        # nothing brings it (the kiosk may have been restored without it).
        conditions.append(sa.not_(_own_echo(kiosk)))
    community = Change.community_id == kiosk.community_id
    wheres: list[list[sa.ColumnElement[bool]]] = [[Change.community_id.is_(None)], [community]]
    if until is not None and since is not None and start < until:
        # A download from nothing: its community's unsettled rows (ix_change_unsettled, in seq
        # order), its requests settled since the bound (ix_change_settled, a month's worth),
        # and whatever settled after the download began; never the requests settled long ago.
        conditions.append(
            sa.or_(Change.seq > until, Change.settled_at.is_(None), Change.settled_at >= since)
        )
        wheres[1:] = [
            [community, Change.settled_at.is_(None)],
            [community, Change.settled_at >= since],
            [community, Change.seq > until, Change.settled_at < since],
        ]
    # One keyset per part the kiosk sees (every kiosk's rows, its community's rows), each read
    # in seq order from an index led by community_id and merged: the page reads its
    # community's rows after the cursor, not every community's. Each part is ordered by the
    # index's whole key (community_id is one value there): ordered by seq alone, the planner
    # walks uq_change_seq through every community's rows hoping to fill the page early.
    parts = [
        sa.select(Change.seq, Change.entity, Change.key, Change.data)
        .where(*where, *conditions)
        .order_by(Change.community_id, Change.seq)
        .limit(limit + 1)
        .subquery()
        for where in wheres
    ]
    merged = sa.union_all(*(sa.select(part) for part in parts)).subquery()
    rows = db.session.execute(sa.select(merged).order_by(merged.c.seq).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    position = rows[-1].seq if more else last
    return PullResponse(
        changes=[
            WIRE_CHANGE.validate_python({"entity": r.entity, "key": r.key, "data": r.data})
            for r in rows
        ],
        cursor=_next_cursor(epoch, position, until, since),
        more=more,
        reset=reset,
    )


def _own_echo(kiosk: Kiosk) -> sa.ColumnElement[bool]:
    """A request this kiosk pushed, unchanged since (no `updated_at`: see new_request_change):
    the push answer already told it all of it."""
    data = Change.data
    return sa.and_(
        Change.entity == "request",
        data["updated_at"].as_string().is_(None),
        sa.exists().where(
            HelpRequest.kiosk_id == kiosk.id, HelpRequest.ticket == data["ticket"].as_string()
        ),
    )


# --- reconcile ----------------------------------------------------------------------------


def _parse_bound(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _next_cursor(epoch: str, position: int, until: int | None, since: datetime | None) -> str:
    """The cursor after `position`; it keeps a download's bound until the download ends."""
    if until is not None and since is not None and position < until:
        return Cursor(epoch, position, until, since.isoformat()).encode()
    return Cursor(epoch, position).encode()


def reconcile(kiosk: Kiosk, req: ReconcileRequest) -> ReconcileResponse:
    """Compare the kiosk's digests of acknowledged ranges with what this server holds."""
    for r in req.ranges:
        if r.last < r.first:
            raise InvalidInput(f"range {r.first}..{r.last} is backwards", "bad_range")
    missing: list[MissingRange] = []
    if req.ranges:
        low = min(r.first for r in req.ranges)
        high = max(r.last for r in req.ranges)
        held = db.session.execute(
            sa.select(AppliedOp.seq, AppliedOp.op_id, AppliedOp.digest).where(
                AppliedOp.kiosk_id == kiosk.id, AppliedOp.seq.between(low, high)
            )
        ).all()
        for r in req.ranges:
            entries = [(s, str(o), d) for s, o, d in held if r.first <= s <= r.last]
            if len(entries) != r.count or range_digest(entries) != r.digest:
                missing.append(MissingRange(first=r.first, last=r.last))
    last_seq = db.session.execute(
        sa.select(Kiosk.last_seq).where(Kiosk.id == kiosk.id)
    ).scalar_one()
    return ReconcileResponse(missing=missing, last_seq=last_seq)


def record_health(kiosk: Kiosk, report: HealthReport) -> HealthAck:
    """Keep the latest health report of a kiosk.

    Of the requests the kiosk names as possibly lost, only those this server does not hold
    are kept (as `lost`): staff re-enter them from their tickets.
    """
    now = utcnow()
    health = report.model_dump(mode="json")
    named = {lost.id: lost for lost in report.lost}
    held = (
        set(
            db.session.execute(
                sa.select(HelpRequest.client_id).where(HelpRequest.client_id.in_(list(named)))
            ).scalars()
        )
        if named
        else set()
    )
    health["lost"] = [lost.model_dump(mode="json") for i, lost in named.items() if i not in held]
    db.session.execute(
        sa.update(Kiosk).where(Kiosk.id == kiosk.id).values(health=health, health_at=now)
    )
    return HealthAck(received_at=now)
