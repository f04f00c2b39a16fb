"""A pull from nothing brings what a kiosk shows: open requests and recently settled ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from sync.cursor import Cursor
from sync.ids import uuid7
from tests.server.syncapi.test_sync_api import op, pull_all, push


def _cancel(seq: int, request_id: str) -> dict:
    return {
        "op_id": str(uuid7()),
        "seq": seq,
        "type": "request.cancel",
        "at": datetime.now(UTC).isoformat(),
        "payload": {"request_id": request_id},
    }


def test_a_pull_from_nothing_leaves_out_requests_settled_long_ago(
    app: Any, client: FlaskClient, enrolled: dict
) -> None:
    from server.extensions import db
    from server.requests.changes import request_change
    from server.requests.models import HelpRequest
    from server.synclog.changes import record_changes
    from server.synclog.models import Change

    token = enrolled["token"]
    _, before, _ = pull_all(client, token)
    old, recent, kept_open = op(1), op(2), op(3)
    push(client, token, [old, recent, kept_open])
    push(client, token, [_cancel(4, old["op_id"]), _cancel(5, recent["op_id"])])
    with app.app_context():
        # Staff touched the third request (still open) two months ago, as long ago as the
        # first one was cancelled (beyond LINLI_PULL_SETTLED_DAYS): the open one still comes.
        req = db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.client_id == uuid.UUID(kept_open["op_id"]))
        ).scalar_one()
        record_changes([request_change(req)])
        long_ago = datetime.now(UTC) - timedelta(days=60)
        for key in (old["op_id"], kept_open["op_id"]):
            db.session.execute(
                sa.update(Change)
                .where(Change.entity == "request", Change.key == key)
                .values(changed_at=long_ago)
            )
        db.session.commit()

    def requests(changes: list[dict]) -> set[str]:
        return {c["key"] for c in changes if c["entity"] == "request"}

    fresh, _, _ = pull_all(client, token)
    assert requests(fresh) == {recent["op_id"], kept_open["op_id"]}
    assert {c["entity"] for c in fresh} >= {"category", "room", "community"}
    reset, _, was_reset = pull_all(client, token, Cursor(epoch="gone", seq=1).encode())
    assert was_reset
    assert requests(reset) == {recent["op_id"], kept_open["op_id"]}
    # A kiosk catching up from its cursor still learns of every change since then.
    since, _, _ = pull_all(client, token, before)
    assert requests(since) == {old["op_id"], recent["op_id"], kept_open["op_id"]}
