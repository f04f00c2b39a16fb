"""Applying a kiosk's pushed batch exactly once: each operation applied, a duplicate, or
rejected; the new requests and cancellations written in bulk and published to the change log.

Services flush but never commit: the request handler commits once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.audit.actor import Actor
from server.carewatch.services import Sign, record_sign, watched_rooms
from server.communities.models import Room
from server.dbutil import insert_for
from server.errors import Conflict, InvalidInput
from server.extensions import db
from server.kiosks.models import Kiosk
from server.notify import services as notify
from server.requests.changes import new_request_change, request_change
from server.requests.models import Category, HelpRequest, RequestEvent, SubChoice
from server.synclog.changes import ChangeRow, record_changes
from server.synclog.models import AppliedOp, SyncConflict
from server.timeutil import utcnow
from sync.messages import (
    OTHER_CHOICE,
    AnyOp,
    CancelRequestOp,
    CheckinOp,
    CreateRequestOp,
    OpResult,
    PushRequest,
    PushResponse,
    UnknownOp,
    op_digest,
    seq_bound_digest,
)
from sync.statuses import CANCELLABLE, FINAL

Op = AnyOp

CHECKIN_SOURCE = "kiosk:"
"""A kiosk 报平安's sign of life is recorded under this prefix and its operation id."""

INSTANCES_KEPT = 8
"""Kiosk processes remembered per kiosk (the most recently seen)."""


class ClonedDevice(Conflict):
    """This process holds a copy of another kiosk's card: it must re-enrol as a new device."""

    code = "cloned_device"


@dataclass
class _Outcome:
    status: str
    reason: str | None = None
    detail: str | None = None
    result: dict[str, Any] | None = None


def push(kiosk: Kiosk, batch: PushRequest) -> PushResponse:
    """Apply a batch in seq order; each operation is applied, a duplicate, or rejected."""
    now = utcnow()
    seqs = [op.seq for op in batch.ops]
    if len(set(seqs)) != len(seqs):
        raise InvalidInput("a batch may not hold two operations with the same seq", "bad_batch")
    # The first statement is a write: SQLite takes its write lock before anything is read,
    # and PostgreSQL serialises this device's pushes on its row.
    last_seq, clone_instance, instances = db.session.execute(
        sa.update(Kiosk)
        .where(Kiosk.id == kiosk.id)
        .values(last_seen_at=now, last_device_time=batch.device_time)
        .returning(Kiosk.last_seq, Kiosk.clone_instance, Kiosk.instances)
    ).one()
    if batch.instance is not None and batch.instance == clone_instance:
        raise ClonedDevice(
            "this kiosk's data is a copy of another kiosk's that is still in use; "
            "call the community centre and enrol it again as a new kiosk"
        )
    seen = _seen_instances(instances, batch.instance, now)

    accepted: list[Op] = []
    resend_from: int | None = None
    expected = last_seq + 1
    for op in sorted(batch.ops, key=lambda o: o.seq):
        if op.seq <= last_seq:
            accepted.append(op)
        elif op.seq == expected:
            accepted.append(op)
            expected += 1
        else:
            resend_from = expected
            break

    digests = {op.op_id: op_digest(op) for op in accepted}
    known = _applied_by_id(list(digests))
    results: dict[int, OpResult] = {}
    changes: list[ChangeRow] = []
    fresh: list[Op] = []
    clone: str | None = None
    for op in accepted:
        original = known.get(op.op_id)
        if original is not None:
            results[op.seq] = _replay_answer(kiosk, op, digests[op.op_id], original)
        elif op.seq <= last_seq:
            # Every seq up to last_seq was answered once; a new id there is never applied.
            # The kiosk moves it to a fresh seq; the record shows staff it happened.
            _record_conflict(kiosk, op, digests[op.op_id], "seq_taken")
            results[op.seq] = OpResult(seq=op.seq, status="rejected", reason="seq_taken")
            if seen is not None and not clone:
                clone = _clone_of(kiosk, op.seq, batch.instance, seen)
        else:
            fresh.append(op)

    if fresh:
        applier = _Applier(kiosk, now)
        outcomes = applier.apply(fresh)
        inserted = _insert_applied(kiosk, fresh, outcomes, digests, now)
        for op in fresh:
            if op.op_id in inserted:
                out = outcomes[op.op_id]
                results[op.seq] = OpResult(
                    seq=op.seq, status=out.status, reason=out.reason, result=out.result
                )
            else:
                results[op.seq] = _lost_race_answer(kiosk, op, digests[op.op_id])
        changes = applier.finish(inserted)

    new_last = max([last_seq, *(op.seq for op in accepted)])
    duplicates = sum(1 for r in results.values() if r.status == "duplicate")
    values: dict[str, Any] = {}
    if new_last != last_seq or duplicates:
        values.update(last_seq=new_last, duplicates=Kiosk.duplicates + duplicates)
    if seen is not None:
        values["instances"] = seen
    if clone is not None:
        values.update(clone_instance=clone, cloned_at=now)
    if values:
        db.session.execute(sa.update(Kiosk).where(Kiosk.id == kiosk.id).values(**values))
    # Last: the change counter's row lock is held until commit, so take it as late as possible.
    record_changes(changes)
    db.session.flush()
    return PushResponse(
        results=[results[s] for s in sorted(results)],
        last_seq=new_last,
        last_ticket=last_ticket(kiosk),
        resend_from=resend_from,
        server_time=now,
    )


def last_ticket(kiosk: Kiosk) -> int:
    """The highest ticket number the server holds from `kiosk` (0 when none)."""
    ticket = db.session.execute(
        sa.select(sa.func.max(HelpRequest.ticket)).where(HelpRequest.kiosk_id == kiosk.id)
    ).scalar_one_or_none()
    digits = (ticket or "").rpartition("-")[2]
    return int(digits) if digits.isdigit() else 0


def _applied_by_id(op_ids: list[uuid.UUID]) -> dict[uuid.UUID, AppliedOp]:
    if not op_ids:
        return {}
    rows = db.session.execute(sa.select(AppliedOp).where(AppliedOp.op_id.in_(op_ids))).scalars()
    return {row.op_id: row for row in rows}


def _seen_instances(
    instances: dict[str, Any] | None, instance: str | None, now: datetime
) -> dict[str, Any] | None:
    """The kiosk's recent processes with `instance` seen now (None: it sent no id)."""
    if instance is None:
        return None
    seen = dict(instances or {})
    first = seen.get(instance, {}).get("first", now.isoformat())
    seen[instance] = {"first": first, "last": now.isoformat()}
    recent = sorted(seen.items(), key=lambda item: str(item[1]["last"]), reverse=True)
    return dict(recent[:INSTANCES_KEPT])


def _clone_of(kiosk: Kiosk, seq: int, instance: str | None, seen: dict[str, Any]) -> str | None:
    """Which process to send away when `instance` finds `seq` taken by a live other one.

    A kiosk restored from a backup also finds its seqs taken, but by operations stored
    before it first pushed (its old self is gone). An operation stored at that seq after
    this process first pushed came from another process with the same identity and another
    history: a cloned card. The process seen first stays; the newer one is the clone.
    """
    if instance is None:
        return None
    first = datetime.fromisoformat(seen[instance]["first"])
    held_at = db.session.execute(
        sa.select(AppliedOp.applied_at).where(AppliedOp.kiosk_id == kiosk.id, AppliedOp.seq == seq)
    ).scalar_one_or_none()
    if held_at is None or held_at < first:
        return None
    live = [i for i, t in seen.items() if datetime.fromisoformat(t["last"]) >= first]
    if len(live) < 2:
        return None
    return max(live, key=lambda i: (str(seen[i]["first"]), i))


def _replay_answer(kiosk: Kiosk, op: Op, digest: str, original: AppliedOp) -> OpResult:
    """A replayed id: the original answer if the content matches, else a recorded conflict.

    The content is compared without the seq, so an operation the kiosk moved to a fresh seq
    is still a duplicate (and so is one a re-enrolled device sends again under its new
    identity); rows stored before digests left out the seq match at their own seq.
    """
    if original.digest in (digest, seq_bound_digest(op)):
        return OpResult(
            seq=op.seq,
            status="duplicate",
            original="rejected" if original.status == "rejected" else "applied",
            reason=original.reason,
            result=original.result,
        )
    _record_conflict(kiosk, op, digest, "conflict")
    return OpResult(seq=op.seq, status="rejected", reason="conflict")


def _lost_race_answer(kiosk: Kiosk, op: Op, digest: str) -> OpResult:
    """The unique constraint refused our row: the id (or seq) was stored meanwhile."""
    original = _applied_by_id([op.op_id]).get(op.op_id)
    if original is not None:
        return _replay_answer(kiosk, op, digest, original)
    _record_conflict(kiosk, op, digest, "seq_taken")
    return OpResult(seq=op.seq, status="rejected", reason="seq_taken")


def _record_conflict(kiosk: Kiosk, op: Op, digest: str, reason: str) -> None:
    db.session.add(
        SyncConflict(
            op_id=op.op_id,
            kiosk_id=kiosk.id,
            seq=op.seq,
            digest=digest,
            body=op.model_dump(mode="json"),
            reason=reason,
        )
    )


def _insert_applied(
    kiosk: Kiosk,
    ops: list[Op],
    outcomes: dict[uuid.UUID, _Outcome],
    digests: dict[uuid.UUID, str],
    now: datetime,
) -> set[uuid.UUID]:
    """Insert the applied-op rows; the unique constraint decides which are first copies."""
    rows = []
    for op in ops:
        out = outcomes[op.op_id]
        rows.append(
            {
                "op_id": op.op_id,
                "kiosk_id": kiosk.id,
                "seq": op.seq,
                "type": op.type,
                "digest": digests[op.op_id],
                "status": out.status,
                "reason": out.reason,
                "detail": out.detail,
                "result": out.result,
                "body": op.model_dump(mode="json") if out.status == "rejected" else None,
                "device_at": op.at,
                "applied_at": now,
            }
        )
    table = AppliedOp.__table__
    stmt = insert_for(table).on_conflict_do_nothing().returning(table.c.op_id)
    return set(db.session.execute(stmt, rows).scalars())


class _Applier:
    """Works out each fresh operation's outcome, then writes the effects in bulk."""

    def __init__(self, kiosk: Kiosk, now: datetime) -> None:
        self.kiosk = kiosk
        self.now = now
        self.new_requests: dict[uuid.UUID, dict[str, Any]] = {}
        self.codes: dict[uuid.UUID, tuple[str, str]] = {}
        """A new request's category and room codes, by its id."""
        self.cancels: list[tuple[uuid.UUID, CancelRequestOp]] = []
        self.checkins: dict[uuid.UUID, tuple[CheckinOp, int]] = {}
        """A 报平安's operation and room id, by its operation id."""
        self.choices: set[tuple[int, str]] | None = None
        """The community's sub-choices as (category id, code), read at the first one sent."""
        self.urgent: dict[uuid.UUID, str] = {}
        """The category name of each new request in an urgent category (told at once)."""

    def apply(self, ops: list[Op]) -> dict[uuid.UUID, _Outcome]:
        categories = {
            c.code: c for c in db.session.execute(sa.select(Category)).scalars() if c.is_active
        }
        room_codes = {op.payload.room for op in ops if isinstance(op, CreateRequestOp | CheckinOp)}
        rooms = _rooms_by_code(self.kiosk.community_id, room_codes)
        outcomes: dict[uuid.UUID, _Outcome] = {}
        for op in ops:
            if isinstance(op, CreateRequestOp):
                outcomes[op.op_id] = self._create(op, categories, rooms)
            elif isinstance(op, CancelRequestOp):
                outcomes[op.op_id] = self._cancel(op)
            elif isinstance(op, CheckinOp):
                outcomes[op.op_id] = self._checkin(op, rooms)
            else:
                outcomes[op.op_id] = _unknown(op)
        return outcomes

    def _checkin(self, op: CheckinOp, rooms: dict[str, int]) -> _Outcome:
        room_id = rooms.get(op.payload.room)
        if room_id is None:
            return _Outcome(
                "rejected", "unknown_room", f"no room {op.payload.room!r} in this community"
            )
        self.checkins[op.op_id] = (op, room_id)
        return _Outcome("applied", result={"status": "recorded"})

    def _create(
        self, op: CreateRequestOp, categories: dict[str, Category], rooms: dict[str, int]
    ) -> _Outcome:
        p = op.payload
        category = categories.get(p.category)
        if category is None:
            return _Outcome("rejected", "unknown_category", f"no category {p.category!r}")
        room_id = rooms.get(p.room)
        if room_id is None:
            return _Outcome("rejected", "unknown_room", f"no room {p.room!r} in this community")
        self.new_requests[op.op_id] = {
            "client_id": op.op_id,
            "community_id": self.kiosk.community_id,
            "kiosk_id": self.kiosk.id,
            "category_id": category.id,
            "room_id": room_id,
            "ticket": p.ticket,
            "phone": p.phone,
            "details": p.details,
            "is_on_behalf": p.on_behalf,
            "consent_version": p.consent_version,
            "choice_code": self._choice(category, p.choice),
            "preferred_time": p.preferred_time,
            "status": "received",
            "is_urgent": category.is_urgent,
            "is_cancel_requested": False,
            "device_created_at": op.at,
            "received_at": self.now,
            "updated_at": self.now,
        }
        self.codes[op.op_id] = (p.category, p.room)
        if category.is_urgent:
            self.urgent[op.op_id] = category.name_zh
        return _Outcome("applied", result={"status": "received"})

    def _choice(self, category: Category, code: str | None) -> str | None:
        """The sub-choice as sent when the community's category has it (retired ones too: the
        kiosk offered it before its last pull); an unknown one is dropped, the request kept."""
        if code is None or code == OTHER_CHOICE:
            return code
        if self.choices is None:
            self.choices = {
                (c.category_id, c.code)
                for c in db.session.execute(
                    sa.select(SubChoice).where(SubChoice.community_id == self.kiosk.community_id)
                ).scalars()
            }
        return code if (category.id, code) in self.choices else None

    def _cancel(self, op: CancelRequestOp) -> _Outcome:
        target = op.payload.request_id
        if target in self.new_requests:
            self.cancels.append((target, op))
            if op.payload.ask:
                return _Outcome("applied", result={"status": "received", "cancel_requested": True})
            return _Outcome("applied", result={"status": "cancelled"})
        request = db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.client_id == target)
        ).scalar_one_or_none()
        if request is None or request.kiosk_id != self.kiosk.id:
            return _Outcome("rejected", "unknown_request", "no such request from this kiosk")
        if request.status in FINAL:
            return _Outcome(
                "rejected", "not_cancellable", f"the request is already {request.status}"
            )
        self.cancels.append((target, op))
        if request.status in CANCELLABLE and not op.payload.ask:
            return _Outcome("applied", result={"status": "cancelled"})
        return _Outcome("applied", result={"status": request.status, "cancel_requested": True})

    def finish(self, inserted: set[uuid.UUID]) -> list[ChangeRow]:
        """Write requests and events for the first copies; return the changes to publish."""
        actor = Actor.kiosk(self.kiosk.name).label
        rows = [row for op_id, row in self.new_requests.items() if op_id in inserted]
        events: list[dict[str, Any]] = []
        if rows:
            # Core inserts on the tables: one executemany each, no ORM unit-of-work per row.
            created = db.session.execute(
                HelpRequest.__table__.insert().returning(
                    HelpRequest.__table__.c.id, HelpRequest.__table__.c.client_id
                ),
                rows,
            ).all()
            self._announce_emergencies(created)
            events = [
                {
                    "request_id": rid,
                    "at": self.now,
                    "actor": actor,
                    "from_status": None,
                    "to_status": "received",
                    "note": None,
                }
                for rid, _client_id in created
            ]
        # A request for a room where someone is watched is a sign of life (care watch).
        watched = watched_rooms([row["room_id"] for row in rows])
        for row in rows:
            if row["room_id"] in watched:
                key = f"request:{row['client_id']}"
                community = self.kiosk.community_id
                sign = Sign(community, "request", self.now, key, actor, room_id=row["room_id"])
                record_sign(sign)
        # The push answer tells this kiosk; the change row tells the community's other kiosks.
        changes = [
            new_request_change(
                str(row["client_id"]),
                self.kiosk.community_id,
                row["ticket"],
                self.codes[row["client_id"]][0],
                self.codes[row["client_id"]][1],
            )
            for row in rows
        ]
        for target, op in self.cancels:
            if op.op_id not in inserted:
                continue
            change = self._apply_cancel(target, op, actor, events)
            if change is not None:
                changes.append(change)
        if events:
            db.session.execute(RequestEvent.__table__.insert(), events)
        for op_id, (checkin, room_id) in self.checkins.items():
            if op_id in inserted:
                self._record_checkin(checkin, room_id, actor)
        return changes

    def _record_checkin(self, op: CheckinOp, room_id: int, actor: str) -> None:
        """The 报平安 as a sign of life of its room, once per operation id."""
        # The device's clock says when the elder tapped; one running ahead would make the
        # elder look seen in the future and hold back the care watch, so never after now.
        record_sign(
            Sign(
                community_id=self.kiosk.community_id,
                channel="kiosk",
                at=min(op.at, self.now),
                source_key=f"{CHECKIN_SOURCE}{op.op_id}",
                recorded_by=actor,
                room_id=room_id,
            )
        )

    def _announce_emergencies(self, created: Iterable[Any]) -> None:
        """An urgent request that arrived is told to the community's groups at once."""
        for rid, client_id in created:
            if client_id not in self.urgent:
                continue
            row = self.new_requests[client_id]
            notify.announce(
                notify.Occasion(
                    event="emergency",
                    request_id=rid,
                    community_id=self.kiosk.community_id,
                    ticket=row["ticket"],
                    room_id=row["room_id"],
                    category_name=self.urgent[client_id],
                    key="arrival",
                )
            )

    def _apply_cancel(
        self, target: uuid.UUID, op: CancelRequestOp, actor: str, events: list[dict[str, Any]]
    ) -> ChangeRow | None:
        request = db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.client_id == target)
        ).scalar_one_or_none()
        if request is None or request.status in FINAL:
            return None
        note = op.payload.reason
        before = request.status
        # A kiosk sends `ask` when the resident may not cancel directly: staff decide.
        if before in CANCELLABLE and not op.payload.ask:
            request.status = "cancelled"
            events.append(
                {
                    "request_id": request.id,
                    "at": self.now,
                    "actor": actor,
                    "from_status": before,
                    "to_status": "cancelled",
                    "note": note,
                }
            )
        else:
            request.is_cancel_requested = True
            events.append(
                {
                    "request_id": request.id,
                    "at": self.now,
                    "actor": actor,
                    "from_status": before,
                    "to_status": None,
                    "note": "cancellation requested" + (f": {note}" if note else ""),
                }
            )
        request.updated_at = self.now
        db.session.flush()
        return request_change(request)


def _unknown(op: UnknownOp) -> _Outcome:
    """An operation newer software made: answered alone, so the rest of the batch applies."""
    return _Outcome(
        "rejected",
        "unknown_op_type",
        f"this server does not know operations of type {op.type!r}; update the server",
    )


def _rooms_by_code(community_id: int, codes: Iterable[str]) -> dict[str, int]:
    codes = list(codes)
    if not codes:
        return {}
    rows = db.session.execute(
        sa.select(Room.code, Room.id).where(Room.community_id == community_id, Room.code.in_(codes))
    )
    return {code: rid for code, rid in rows}
