"""Catching up is bounded by what changed, not by how many times: the change log keeps one row
per record at its latest sequence (record_changes upserts it), so a kiosk offline for a month
pulls each changed record once, and a kiosk paging while records change (a row moving from
behind its cursor to ahead of it, or further ahead) still ends with every record's latest
state and loses nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.server.syncapi.test_sync_api import H, op, pull_all, push

STEPS = ("triaged", "dispatched", "accepted", "on_site")


def _change(app: Any, key: str, status: str) -> None:
    """Staff move a request to `status`: its change row moves to a new, latest sequence."""
    from server.extensions import db
    from server.requests.changes import request_change
    from server.requests.models import HelpRequest
    from server.synclog.changes import record_changes

    with app.app_context():
        req = db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.client_id == uuid.UUID(key))
        ).scalar_one()
        req.status = status
        req.updated_at = datetime.now(UTC) + timedelta(microseconds=1)
        record_changes([request_change(req)])
        db.session.commit()


def _statuses(changes: list[dict]) -> dict[str, str]:
    """Each request's state after applying `changes` in order, as the kiosk does."""
    shown: dict[str, str] = {}
    for change in changes:
        if change["entity"] == "request":
            shown[change["key"]] = change["data"]["status"]
    return shown


def test_a_month_offline_pulls_each_changed_record_once(
    app: Any, client: FlaskClient, enrolled: dict
) -> None:
    from server.extensions import db
    from server.synclog.models import Change

    token = enrolled["token"]
    ops = [op(n) for n in (1, 2, 3)]
    push(client, token, ops)
    _, cursor, _ = pull_all(client, token)
    busy, once, untouched = (o["op_id"] for o in ops)
    for n in range(40):  # a month of one request going back and forth
        _change(app, busy, STEPS[n % len(STEPS)])
    _change(app, once, "triaged")
    changes, _, reset = pull_all(client, token, cursor)
    assert not reset
    assert [c["key"] for c in changes] == [busy, once]
    assert _statuses(changes) == {busy: STEPS[39 % len(STEPS)], once: "triaged"}
    with app.app_context():
        rows = db.session.execute(
            sa.select(sa.func.count()).select_from(Change).where(Change.entity == "request")
        ).scalar_one()
    assert rows == 3, "one change row per request, however often it changed"
    assert untouched not in _statuses(changes)


def test_a_kiosk_paging_while_records_change_converges_and_loses_nothing(
    app: Any, client: FlaskClient, enrolled: dict
) -> None:
    token = enrolled["token"]
    headers = {**H, "Authorization": f"Bearer {token}"}
    ops = [op(n) for n in range(1, 11)]
    push(client, token, ops)
    _, cursor, _ = pull_all(client, token)
    keys = [o["op_id"] for o in ops]
    for key in keys:
        _change(app, key, "triaged")
    seen: list[dict] = []
    pages = 0
    while True:
        body = client.get(f"/api/sync/v1/pull?limit=3&cursor={cursor}", headers=headers).get_json()
        seen += body["changes"]
        cursor = body["cursor"]
        pages += 1
        if pages == 1:
            # A record already pulled moves ahead of the cursor, one not yet pulled moves
            # further ahead, while the kiosk is between pages.
            _change(app, seen[0]["key"], "dispatched")
            _change(app, keys[-1], "accepted")
        if not body["more"]:
            break
    server_now, _, _ = pull_all(client, token, None)
    assert _statuses(seen) == _statuses(server_now)
    assert set(_statuses(seen)) == set(keys)
    assert len(seen) == len(keys) + 1, "only the record pulled before it changed comes twice"
