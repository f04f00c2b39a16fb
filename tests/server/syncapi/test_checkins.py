"""报平安 through the push API, on SQLite and PostgreSQL: a sign of life of the op's room, in
the kiosk's community only, never dated after the server received it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from sync.ids import uuid7
from tests.server.syncapi.test_sync_api import push


def checkin(seq: int, room: str, at: datetime | None = None) -> dict[str, Any]:
    """A checkin.create operation."""
    return {
        "op_id": str(uuid7()),
        "seq": seq,
        "type": "checkin.create",
        "at": (at or datetime.now(UTC)).isoformat(),
        "payload": {"room": room},
    }


def _signs(app: Flask) -> list[tuple[str, str, datetime]]:
    from server.carewatch.models import SignOfLife
    from server.communities.models import Room
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            sa.select(SignOfLife.source_key, Room.code, SignOfLife.at).join(
                Room, Room.id == SignOfLife.room_id
            )
        ).all()
        db.session.remove()
    return [(key, code, at) for key, code, at in rows]


def test_a_room_of_another_community_is_rejected_alone(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], api_token: str
) -> None:
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.extensions import db

    with app.app_context():
        other = create_community("feicui", "翡翠社区")
        import_rooms(other, parse_rooms_csv("building,unit,room\n7,1,101\n", "r.csv"))
        db.session.commit()
    ops = [checkin(1, "7-1-101"), checkin(2, "3-2-301")]
    answer = push(client, enrolled["token"], ops)
    assert answer.status_code == 200, answer.get_json()
    results = [(r["seq"], r["status"], r.get("reason")) for r in answer.get_json()["results"]]
    assert results == [(1, "rejected", "unknown_room"), (2, "applied", None)]
    assert [(key, code) for key, code, _ in _signs(app)] == [
        (f"kiosk:{ops[1]['op_id']}", "3-2-301")
    ]
    rejections = client.get(
        "/api/v1/rejections", headers={"Authorization": f"Bearer {api_token}"}
    ).get_json()["items"]
    assert [(r["type"], r["reason"]) for r in rejections] == [("checkin.create", "unknown_room")]


def test_a_device_clock_ahead_never_dates_a_sign_after_its_receipt(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """A kiosk clock a week ahead would make the elder look seen until then: capped at now."""
    before = datetime.now(UTC)
    ahead = checkin(1, "3-2-301", at=before + timedelta(days=7))
    behind = checkin(2, "3-2-302", at=before - timedelta(hours=3))
    assert push(client, enrolled["token"], [ahead, behind]).status_code == 200
    signs = {code: at for _, code, at in _signs(app)}
    assert before <= signs["3-2-301"] <= datetime.now(UTC)
    assert signs["3-2-302"] == before - timedelta(hours=3)
