"""Through the real sync API: a kiosk request reaches the console, the kiosk's cancellation
request is refused with a reason, and the kiosk pulls the status and the public note."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from sync.ids import uuid7
from tests.server.conftest import World, login, post
from tests.server.syncapi.test_sync_api import op, pull_all, push


def _kiosk_view(client: FlaskClient, token: str, client_id: str) -> dict[str, Any]:
    changes, _, _ = pull_all(client, token)
    [latest] = [c["data"] for c in changes if c["entity"] == "request" and c["key"] == client_id]
    return dict(latest)


def test_cancellation_request_refused_and_the_kiosk_learns_why(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], world: World
) -> None:
    create = op(1, room="3-2-302", details="水龙头漏水", category="plumbing")
    assert push(client, enrolled["token"], [create]).status_code == 200
    staff = app.test_client()
    login(staff, "social_worker_lanqiao")
    queue = staff.get("/console/queue").get_data(as_text=True)
    assert "水龙头漏水" in queue
    [rid] = [int(row.split('"')[0]) for row in queue.split('data-id="')[1:] if "水龙头漏水" in row]
    for action, data in [
        ("triage", {"category": "plumbing", "priority": "normal"}),
        ("dispatch", {"team": str(world.teams["lanqiao"])}),
    ]:
        assert post(staff, f"/console/requests/{rid}/{action}", data).status_code == 303
    assert _kiosk_view(client, enrolled["token"], create["op_id"])["status"] == "dispatched"

    cancel = {
        "op_id": str(uuid7()),
        "seq": 2,
        "type": "request.cancel",
        "at": datetime.now(UTC).isoformat(),
        "payload": {"request_id": create["op_id"], "reason": "邻居修好了"},
    }
    push(client, enrolled["token"], [cancel])
    assert '<span class="flag cancel">申请取消</span>' in staff.get("/console/queue").get_data(
        as_text=True
    )
    refused = post(
        staff,
        f"/console/requests/{rid}/answer_cancel",
        {"accept": "no", "reason": "师傅已经在路上"},
    )
    assert refused.status_code == 303
    seen = _kiosk_view(client, enrolled["token"], create["op_id"])
    assert seen["status"] == "dispatched"
    assert seen["cancel_requested"] is False
    assert seen["note"] == "未取消 — 师傅已经在路上"
    internal = post(staff, f"/console/requests/{rid}/note", {"text": "INTERNAL ONLY"})
    assert internal.status_code == 303
    assert "INTERNAL ONLY" not in str(_kiosk_view(client, enrolled["token"], create["op_id"]))
