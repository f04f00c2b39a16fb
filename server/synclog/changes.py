"""The change log kiosks pull: one row per record at its latest change sequence."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from server.dbutil import insert_for
from server.extensions import db
from server.synclog.models import Change, SyncState
from server.timeutil import utcnow
from sync.messages import CHANGE, ChangeData, Entity
from sync.messages import Change as WireChange
from sync.statuses import SETTLED


@dataclass(frozen=True)
class ChangeRow:
    """The new state of one record and who may pull it (None: every kiosk)."""

    entity: Entity
    key: str
    data: ChangeData | None
    community_id: int | None = None
    kiosk_id: int | None = None

    def wire(self) -> WireChange:
        """The change as kiosks receive it; refuses data of another entity's type."""
        return CHANGE.validate_python({"entity": self.entity, "key": self.key, "data": self.data})


def record_changes(rows: list[ChangeRow]) -> None:
    """Give each record a new change sequence number and upsert its state.

    The counter UPDATE holds the sync_state row lock until commit, so sequence numbers
    become visible in commit order and a pull never skips a change committed late.
    """
    latest: dict[tuple[str, str], ChangeRow] = {}
    for row in rows:
        latest[(row.entity, row.key)] = row
    if not latest:
        return
    count = len(latest)
    last = db.session.execute(
        sa.update(SyncState)
        .where(SyncState.id == 1)
        .values(last_change_seq=SyncState.last_change_seq + count)
        .returning(SyncState.last_change_seq)
    ).scalar_one()
    now = utcnow()
    values = []
    for i, row in enumerate(latest.values()):
        data = row.wire().model_dump(mode="json")["data"]
        settled = row.entity == "request" and (data or {}).get("status") in SETTLED
        values.append(
            {
                "seq": last - count + 1 + i,
                "entity": row.entity,
                "key": row.key,
                "community_id": row.community_id,
                "kiosk_id": row.kiosk_id,
                "data": data,
                "changed_at": now,
                "settled_at": now if settled else None,
            }
        )
    stmt = insert_for(Change)
    stmt = stmt.on_conflict_do_update(
        index_elements=["entity", "key"],
        set_={
            "seq": stmt.excluded.seq,
            "data": stmt.excluded.data,
            "community_id": stmt.excluded.community_id,
            "kiosk_id": stmt.excluded.kiosk_id,
            "changed_at": stmt.excluded.changed_at,
            "settled_at": stmt.excluded.settled_at,
        },
    )
    db.session.execute(stmt, values)
