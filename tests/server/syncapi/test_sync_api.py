"""The sync API in process, on SQLite and PostgreSQL: push, duplicates, conflicts, gaps, pull."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from sync.ids import uuid7

H = {"Linli-Protocol": "1"}


def op(seq: int, room: str = "3-2-301", category: str = "electrical", **extra: Any) -> dict:
    """A request.create operation."""
    payload = {"category": category, "room": room, "ticket": f"A-{seq:04d}", **extra}
    return {
        "op_id": str(uuid7()),
        "seq": seq,
        "type": "request.create",
        "at": datetime.now(UTC).isoformat(),
        "payload": payload,
    }


def push(client: FlaskClient, token: str, ops: list[dict], gz: bool = True) -> Any:
    """POST a batch, gzipped like the kiosk does."""
    body = json.dumps({"device_time": datetime.now(UTC).isoformat(), "ops": ops}).encode()
    headers = {**H, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if gz:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return client.post("/api/sync/v1/push", data=body, headers=headers)


def staff_requests(client: FlaskClient, api_token: str) -> list[dict]:
    """Every request through the staff API."""
    items: list[dict] = []
    cursor = None
    while True:
        url = "/api/v1/requests?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        answer = client.get(url, headers={"Authorization": f"Bearer {api_token}"})
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items


def test_push_applies_and_replay_is_duplicate_with_original_result(
    client: FlaskClient, enrolled: dict, api_token: str
) -> None:
    ops = [op(1), op(2)]
    first = push(client, enrolled["token"], ops)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    assert body["last_seq"] == 2
    again = push(client, enrolled["token"], ops).get_json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert [r["original"] for r in again["results"]] == ["applied", "applied"]
    assert again["results"][0]["result"] == body["results"][0]["result"]
    assert len(staff_requests(client, api_token)) == 2


def test_same_id_different_content_is_a_recorded_conflict(
    app: Any, client: FlaskClient, enrolled: dict, api_token: str
) -> None:
    original = op(1)
    push(client, enrolled["token"], [original])
    tampered = {**original, "payload": {**original["payload"], "room": "3-2-302"}}
    answer = push(client, enrolled["token"], [tampered]).get_json()
    assert answer["results"][0]["status"] == "rejected"
    assert answer["results"][0]["reason"] == "conflict"
    items = staff_requests(client, api_token)
    assert [i["room"] for i in items] == ["3-2-301"]
    from server.extensions import db
    from server.synclog.models import SyncConflict

    with app.app_context():
        conflicts = db.session.execute(db.select(SyncConflict)).scalars().all()
        assert [c.body["payload"]["room"] for c in conflicts] == ["3-2-302"]


def test_gap_answers_where_to_resend_from(client: FlaskClient, enrolled: dict) -> None:
    push(client, enrolled["token"], [op(1)])
    answer = push(client, enrolled["token"], [op(3), op(4)]).get_json()
    assert answer["results"] == []
    assert answer["resend_from"] == 2
    assert answer["last_seq"] == 1
    answer = push(client, enrolled["token"], [op(2), op(3), op(5)]).get_json()
    assert [r["seq"] for r in answer["results"]] == [2, 3]
    assert answer["resend_from"] == 4


def test_one_bad_operation_is_rejected_and_the_rest_applied(
    client: FlaskClient, enrolled: dict, api_token: str
) -> None:
    ops = [op(1), op(2, room="9-9-999"), op(3, category="unknown_kind"), op(4)]
    answer = push(client, enrolled["token"], ops).get_json()
    assert [(r["status"], r.get("reason")) for r in answer["results"]] == [
        ("applied", None),
        ("rejected", "unknown_room"),
        ("rejected", "unknown_category"),
        ("applied", None),
    ]
    rejections = client.get(
        "/api/v1/rejections", headers={"Authorization": f"Bearer {api_token}"}
    ).get_json()["items"]
    assert sorted(r["reason"] for r in rejections) == ["unknown_category", "unknown_room"]
    assert rejections[0]["room"] == "9-9-999"
    assert answer["last_seq"] == 4
    later = push(client, enrolled["token"], [op(5)]).get_json()
    assert later["results"][0]["status"] == "applied"
    assert len(staff_requests(client, api_token)) == 3


def test_cancel_before_dispatch_cancels(
    client: FlaskClient, enrolled: dict, api_token: str
) -> None:
    create = op(1)
    cancel = {
        "op_id": str(uuid7()),
        "seq": 2,
        "type": "request.cancel",
        "at": datetime.now(UTC).isoformat(),
        "payload": {"request_id": create["op_id"], "reason": "fixed it myself"},
    }
    answer = push(client, enrolled["token"], [create, cancel]).get_json()
    assert [r["result"]["status"] for r in answer["results"]] == ["received", "cancelled"]
    assert staff_requests(client, api_token)[0]["status"] == "cancelled"
    unknown = {
        **cancel,
        "op_id": str(uuid7()),
        "seq": 3,
        "payload": {"request_id": str(uuid.uuid4())},
    }
    answer = push(client, enrolled["token"], [unknown]).get_json()
    assert answer["results"][0]["reason"] == "unknown_request"


def pull_all(client: FlaskClient, token: str, cursor: str | None = None) -> tuple[list, str, bool]:
    """Every page of changes; returns (changes, cursor, reset seen)."""
    changes: list = []
    reset = False
    while True:
        url = "/api/sync/v1/pull" + (f"?cursor={cursor}" if cursor else "")
        body = client.get(url, headers={**H, "Authorization": f"Bearer {token}"}).get_json()
        changes.extend(body["changes"])
        reset = reset or body["reset"]
        cursor = body["cursor"]
        if not body["more"]:
            return changes, cursor, reset


def test_pull_pages_reference_data_and_request_status(client: FlaskClient, enrolled: dict) -> None:
    changes, cursor, reset = pull_all(client, enrolled["token"])
    kinds = {c["entity"] for c in changes}
    assert kinds == {"category", "room", "community"}
    assert len([c for c in changes if c["entity"] == "category"]) == 9
    assert not reset
    create = op(1)
    push(client, enrolled["token"], [create])
    quiet, cursor, _ = pull_all(client, enrolled["token"], cursor)
    assert quiet == [], "the push answer already said 'received'; no echo is pulled"
    cancel = {
        "op_id": str(uuid7()),
        "seq": 2,
        "type": "request.cancel",
        "at": datetime.now(UTC).isoformat(),
        "payload": {"request_id": create["op_id"]},
    }
    push(client, enrolled["token"], [cancel])
    later, cursor2, _ = pull_all(client, enrolled["token"], cursor)
    assert [(c["entity"], c["key"], c["data"]["status"]) for c in later] == [
        ("request", create["op_id"], "cancelled")
    ]
    nothing, cursor3, _ = pull_all(client, enrolled["token"], cursor2)
    assert nothing == []
    assert cursor3 == cursor2


def test_pull_pages_are_small_when_asked(client: FlaskClient, enrolled: dict) -> None:
    headers = {**H, "Authorization": f"Bearer {enrolled['token']}"}
    first = client.get("/api/sync/v1/pull?limit=4", headers=headers).get_json()
    assert len(first["changes"]) == 4
    assert first["more"]


def test_unknown_cursor_means_reset_to_full_state(client: FlaskClient, enrolled: dict) -> None:
    from sync.cursor import Cursor

    bogus = Cursor(epoch="someotherdatabase", seq=3).encode()
    changes, _, reset = pull_all(client, enrolled["token"], bogus)
    assert reset
    assert len([c for c in changes if c["entity"] == "category"]) == 9
    ahead = Cursor(epoch="x", seq=10**9).encode()
    assert pull_all(client, enrolled["token"], ahead)[2]
    assert pull_all(client, enrolled["token"], "not-a-cursor")[2]


def test_kiosk_sees_only_its_own_requests_and_community(
    app: Any, client: FlaskClient, enrolled: dict
) -> None:
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        other = create_community("feicui", "翡翠社区")
        import_rooms(other, parse_rooms_csv("5,1,501\n", "r.csv"))
        _, code = new_enrollment_code("feicui", "feicui-hall", 24)
        db.session.commit()
    token2 = client.post("/api/sync/v1/enroll", json={"code": code}, headers=H).get_json()["token"]
    push(client, enrolled["token"], [op(1)])
    changes, _, _ = pull_all(client, token2)
    assert not [c for c in changes if c["entity"] == "request"]
    assert [c["data"]["code"] for c in changes if c["entity"] == "room"] == ["5-1-501"]
    assert push(client, token2, [op(1, room="3-2-301")]).get_json()["results"][0]["reason"] == (
        "unknown_room"
    )


def test_enrolment_code_is_single_use(app: Any, client: FlaskClient, community: dict) -> None:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", "k2", 24)
        db.session.commit()
    assert (
        client.post("/api/sync/v1/enroll", json={"code": code.lower()}, headers=H).status_code
        == 200
    )
    again = client.post("/api/sync/v1/enroll", json={"code": code}, headers=H)
    assert again.status_code == 401
    assert again.get_json()["error"] == "invalid_code"


def test_expired_code_is_refused(app: Any, client: FlaskClient, community: dict) -> None:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", "k3", 0)
        db.session.commit()
    assert client.post("/api/sync/v1/enroll", json={"code": code}, headers=H).status_code == 401


def test_revoked_token_is_401_and_reenrolment_keeps_the_sequence(
    app: Any, client: FlaskClient, enrolled: dict
) -> None:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code, revoke

    push(client, enrolled["token"], [op(1)])
    with app.app_context():
        revoke("hall")
        db.session.commit()
    answer = push(client, enrolled["token"], [op(2)])
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "revoked_token"
    with app.app_context():
        _, code = new_enrollment_code("lanqiao", "hall", 24)
        db.session.commit()
    token = client.post("/api/sync/v1/enroll", json={"code": code}, headers=H).get_json()["token"]
    answer = push(client, token, [op(2)]).get_json()
    assert answer["results"][0]["status"] == "applied"


def test_reconcile_reports_ranges_the_server_lacks(client: FlaskClient, enrolled: dict) -> None:
    from sync.messages import CreateRequestOp, op_digest, range_digest

    ops = [op(1), op(2), op(3)]
    push(client, enrolled["token"], ops[:2])
    entries = [(o["seq"], o["op_id"], op_digest(CreateRequestOp.model_validate(o))) for o in ops]
    ranges = [
        {"first": 1, "last": 2, "count": 2, "digest": range_digest(entries[:2])},
        {"first": 3, "last": 3, "count": 1, "digest": range_digest(entries[2:])},
    ]
    answer = client.post(
        "/api/sync/v1/reconcile",
        json={"ranges": ranges},
        headers={**H, "Authorization": f"Bearer {enrolled['token']}"},
    ).get_json()
    assert answer["missing"] == [{"first": 3, "last": 3}]
    assert answer["last_seq"] == 2


def test_healthz(client: FlaskClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "ok"


def moved_back(change: Any, at: datetime) -> Any:
    """`settled_at` for a change row whose time a test moves back to `at`: the row's settled
    time moves with it (it is its changed_at when it settled), an unsettled row keeps None."""
    return sa.case((change.settled_at.is_(None), None), else_=at)
