"""Operations the server did not apply are visible to staff without personal data: the staff
API gives codes and what to do; bodies appear only on an audited, scoped console page."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login
from tests.server.syncapi.test_sync_api import op, push

PHONE = "13912345678"
WORDS = "SECRETWORDS 心脏不舒服"


def _refuse_four(token: str, client: FlaskClient) -> dict[str, str]:
    """Push one applied, one rejected, one same-id conflict and one taken seq; their op ids."""
    first = op(1, phone=PHONE, details=WORDS)
    bad_room = op(2, room="9-9-999", phone=PHONE, details=WORDS)
    answer = push(client, token, [first, bad_room]).get_json()
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected"]
    changed = {**first, "payload": {**first["payload"], "details": WORDS + " again"}}
    taken = op(2, phone=PHONE, details=WORDS + " restored kiosk")
    answer = push(client, token, [changed, taken]).get_json()
    assert [r["reason"] for r in answer["results"]] == ["conflict", "seq_taken"]
    return {"rejected": bad_room["op_id"], "conflict": first["op_id"], "seq_taken": taken["op_id"]}


def _rejections(client: FlaskClient, api_token: str, limit: int = 1000) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/api/v1/rejections?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        answer = client.get(url, headers={"Authorization": f"Bearer {api_token}"})
        assert answer.status_code == 200, answer.get_json()
        text = answer.get_data(as_text=True)
        assert PHONE not in text, text
        assert "SECRETWORDS" not in text, text
        body = answer.get_json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items


def test_the_staff_api_lists_every_refusal_with_codes_and_no_personal_data(
    client: FlaskClient, enrolled: dict, api_token: str
) -> None:
    ids = _refuse_four(enrolled["token"], client)
    items = _rejections(client, api_token)
    by_reason = {item["reason"]: item for item in items}
    assert sorted(by_reason) == ["conflict", "seq_taken", "unknown_room"]
    assert len(items) == 3
    assert by_reason["unknown_room"]["op_id"] == ids["rejected"]
    assert by_reason["unknown_room"]["room"] == "9-9-999"
    assert by_reason["conflict"]["op_id"] == ids["conflict"]
    assert by_reason["seq_taken"]["op_id"] == ids["seq_taken"]
    assert by_reason["seq_taken"]["seq"] == 2
    for item in items:
        assert item["kiosk"] == "hall"
        assert item["community"] == "lanqiao"
        assert item["type"] == "request.create"
        assert item["what_to_do"]
        assert not {"body", "detail", "details", "phone", "note"} & set(item), item
    assert "这条求助没有保存" in by_reason["seq_taken"]["what_to_do"]


def test_the_staff_api_pages_through_both_kinds_once_each(
    client: FlaskClient, enrolled: dict, api_token: str
) -> None:
    ids = _refuse_four(enrolled["token"], client)
    later = op(3, category="no_such_kind", phone=PHONE)
    push(client, enrolled["token"], [later])
    items = _rejections(client, api_token, limit=1)
    assert sorted(i["op_id"] for i in items) == sorted([*ids.values(), later["op_id"]])


def _kiosk_id(app: Flask) -> int:
    from server.extensions import db
    from server.kiosks.models import Kiosk

    with app.app_context():
        return int(db.session.execute(sa.select(Kiosk.id).where(Kiosk.name == "hall")).scalar_one())


def _audit_rows(app: Flask) -> list[tuple[str, str]]:
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.actor, AuditEntry.what).where(AuditEntry.what.like("kiosk %"))
        ).all()
        return [(a, w) for a, w in rows]


def test_bodies_only_on_an_audited_console_page_of_the_kiosks_community(
    app: Flask, client: FlaskClient, enrolled: dict, world: World
) -> None:
    _refuse_four(enrolled["token"], client)
    kiosk_id = _kiosk_id(app)
    page = f"/console/kiosks/{kiosk_id}/rejections"

    viewer = app.test_client()
    login(viewer, "viewer_lanqiao")
    listing = viewer.get("/console/kiosks").get_data(as_text=True)
    for shown in ("被拒 1", "冲突 1", "序号重复 1", "这条求助没有保存"):
        assert shown in listing
    assert PHONE not in listing
    assert page not in listing
    assert viewer.get(page).status_code == 403, "viewers see no personal data"

    other = app.test_client()
    login(other, "social_worker_feicui")
    assert other.get(page).status_code == 404, "another community's kiosk does not exist"
    assert _audit_rows(app) == []

    worker = app.test_client()
    login(worker, "social_worker_lanqiao")
    assert page in worker.get("/console/kiosks").get_data(as_text=True)
    shown = worker.get(page)
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert html.count(PHONE) == 3
    assert "restored kiosk" in html
    rows = _audit_rows(app)
    assert len(rows) == 3, rows
    assert {actor for actor, _ in rows} == {"social_worker lanqiao"}
    assert all(PHONE not in what for _, what in rows)
    assert json.dumps(rows, ensure_ascii=False).count("seq 2") == 2
