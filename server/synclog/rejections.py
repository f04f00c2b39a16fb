"""What staff see of operations the server did not apply: rejected ones and sync conflicts.

Two views: a summary without personal data (stable reason code, codes, times and what to do;
the staff API and the kiosks page), and the full bodies (the console's audited page).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from server.extensions import db
from server.synclog.models import AppliedOp, SyncConflict

ADVICE: dict[str, LazyString] = {
    "unknown_category": _l(
        "终端提交了服务器上已没有的求助类别：这条求助没有保存。请回电居民，在控制台上录入；"
        "然后让终端同步，使它的类别列表保持最新。"
    ),
    "unknown_room": _l(
        "终端提交了本社区没有的房间：这条求助没有保存。请添加这个房间（或更正终端的房间列表），"
        "回电居民，在控制台上录入这条求助。"
    ),
    "unknown_request": _l("取消了一条这台终端从未提交的求助：没有任何改动，也不需要处理。"),
    "not_cancellable": _l("求助已完成后才收到取消：没有任何改动；居民问起时告诉他们。"),
    "conflict": _l(
        "终端再次发送了内容不同的同一操作（终端被恢复或复制）：保留了第一份。"
        "请在控制台上比较两份，如果第二份是真实的求助，请手工录入。"
    ),
    "seq_taken": _l(
        "终端的序号落后于服务器（终端被恢复、重装或复制）：这条求助没有保存。"
        "请根据发送内容在控制台上录入，并在终端管理页检查这台终端。"
    ),
}
"""What to do about each reason, in plain words."""

REASON_WORDS: dict[str, LazyString] = {
    "unknown_category": _l("未知类别"),
    "unknown_room": _l("未知房间"),
    "unknown_request": _l("未知求助"),
    "not_cancellable": _l("不能取消"),
    "conflict": _l("内容冲突"),
    "seq_taken": _l("序号已被占用"),
}
"""Each reason in a few words, for the kiosks' pages."""

UNKNOWN_ADVICE = _l("意外的原因：请打开这台终端的未入库页面并联系技术支持。")


def reason_words(reason: str | None) -> str:
    """A refusal's reason in a few words (an unknown one as it is)."""
    return str(REASON_WORDS.get(reason or "", reason or ""))


def advice(reason: str | None) -> str:
    """What staff should do about an operation refused for `reason`."""
    return str(ADVICE.get(reason or "", UNKNOWN_ADVICE))


@dataclass(frozen=True)
class Refusal:
    """One operation the server did not apply, from either table."""

    kind: str
    """`rejected` (an applied-op row) or `conflict` (a sync-conflict row)."""
    row_id: int
    op_id: uuid.UUID
    kiosk_id: int
    seq: int
    type: str
    reason: str
    device_at: datetime | None
    at: datetime
    body: dict[str, Any] | None

    @property
    def category(self) -> str | None:
        """The category code the operation named, if any."""
        return _payload(self.body).get("category")

    @property
    def room(self) -> str | None:
        """The room code the operation named, if any."""
        return _payload(self.body).get("room")

    @property
    def advice(self) -> str:
        """What to do, in plain words."""
        return advice(self.reason)

    def summary(self) -> dict[str, Any]:
        """The fields without personal data: ids, codes, times and what to do."""
        return {
            "kind": self.kind,
            "op_id": str(self.op_id),
            "seq": self.seq,
            "type": self.type,
            "reason": self.reason,
            "category": self.category,
            "room": self.room,
            "device_at": self.device_at.isoformat() if self.device_at else None,
            "at": self.at.isoformat(),
            "what_to_do": self.advice,
        }


def _payload(body: dict[str, Any] | None) -> dict[str, Any]:
    payload = (body or {}).get("payload")
    return payload if isinstance(payload, dict) else {}


def _device_at(body: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(body.get("at")))
    except ValueError:
        return None


def rejected_ops(where: Any, after_id: int, limit: int) -> list[Refusal]:
    """Rejected operations matching `where` (a clause on AppliedOp), by id after `after_id`."""
    rows = db.session.execute(
        sa.select(AppliedOp)
        .where(AppliedOp.status == "rejected", AppliedOp.id > after_id, where)
        .order_by(AppliedOp.id)
        .limit(limit)
    ).scalars()
    return [
        Refusal(
            kind="rejected",
            row_id=op.id,
            op_id=op.op_id,
            kiosk_id=op.kiosk_id,
            seq=op.seq,
            type=op.type,
            reason=op.reason or "rejected",
            device_at=op.device_at,
            at=op.applied_at,
            body=op.body,
        )
        for op in rows
    ]


def conflicts(where: Any, after_id: int, limit: int) -> list[Refusal]:
    """Sync conflicts matching `where` (a clause on SyncConflict), by id after `after_id`.

    Each carries the reason recorded when it was refused: `conflict` (same id, other content)
    or `seq_taken` (its sequence number held another operation; the kiosk moves it on).
    """
    rows = db.session.execute(
        sa.select(SyncConflict)
        .where(SyncConflict.id > after_id, where)
        .order_by(SyncConflict.id)
        .limit(limit)
    ).scalars()
    return [
        Refusal(
            kind="conflict",
            row_id=row.id,
            op_id=row.op_id,
            kiosk_id=row.kiosk_id,
            seq=row.seq,
            type=str((row.body or {}).get("type", "unknown")),
            reason=row.reason or "conflict",
            device_at=_device_at(row.body or {}),
            at=row.at,
            body=None if (row.body or {}).get("erased") else row.body,
        )
        for row in rows
    ]


def of_kiosk(kiosk_id: int, limit: int) -> list[Refusal]:
    """One kiosk's rejected operations, then its conflicts, at most `limit` of each."""
    return [
        *rejected_ops(AppliedOp.kiosk_id == kiosk_id, 0, limit),
        *conflicts(SyncConflict.kiosk_id == kiosk_id, 0, limit),
    ]


@dataclass(frozen=True)
class KioskRefusals:
    """Counts of one kiosk's refused operations and what to do about them."""

    rejected: int = 0
    conflicts: int = 0
    seq_taken: int = 0
    reasons: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """Every operation of this kiosk the server did not apply."""
        return self.rejected + self.conflicts + self.seq_taken

    @property
    def advice(self) -> list[str]:
        """What to do, once per reason seen."""
        return [advice(reason) for reason in self.reasons]


def counts_by_kiosk(kiosk_ids: list[int]) -> dict[int, KioskRefusals]:
    """Per kiosk: rejected operations, same-id conflicts, taken sequence numbers."""
    if not kiosk_ids:
        return {}
    rejected = db.session.execute(
        sa.select(AppliedOp.kiosk_id, AppliedOp.reason, sa.func.count())
        .where(AppliedOp.status == "rejected", AppliedOp.kiosk_id.in_(kiosk_ids))
        .group_by(AppliedOp.kiosk_id, AppliedOp.reason)
    ).all()
    clashes = db.session.execute(
        sa.select(SyncConflict.kiosk_id, SyncConflict.reason, sa.func.count())
        .where(SyncConflict.kiosk_id.in_(kiosk_ids))
        .group_by(SyncConflict.kiosk_id, SyncConflict.reason)
    ).all()
    tally: dict[int, dict[str, int]] = {}
    for kiosk_id, reason, count in rejected:
        tally.setdefault(kiosk_id, {})[reason or "rejected"] = count
    for kiosk_id, recorded, count in clashes:
        reason = recorded or "conflict"
        bucket = tally.setdefault(kiosk_id, {})
        bucket[reason] = bucket.get(reason, 0) + count
    out = {}
    for kiosk_id, by_reason in tally.items():
        out[kiosk_id] = KioskRefusals(
            rejected=sum(n for r, n in by_reason.items() if r not in ("conflict", "seq_taken")),
            conflicts=by_reason.get("conflict", 0),
            seq_taken=by_reason.get("seq_taken", 0),
            reasons=tuple(sorted(by_reason)),
        )
    return out
