"""Erasing a resident, and the retention purge, leave no copy of their phone number or name
anywhere in the database: the whole database is dumped (every table, every column) and
searched, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
import uuid
from contextlib import closing
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login, post
from tests.server.syncapi.test_sync_api import op, push

NAME = "龚秀英测"
PHONE = "13955550123"
SPELLINGS = [PHONE, "139-5555-0123", "139 5555 0123", "+86 139.5555.0123", "１３９５５５５０１２３"]


def dump(database_url: str) -> str:
    """Every row of every table as text (SQLite: iterdump; PostgreSQL: each row cast to text)."""
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            return "\n".join(conn.iterdump())
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            ).scalars()
            lines = []
            for table in list(tables):
                quoted = conn.dialect.identifier_preparer.quote(table)
                rows = conn.execute(sa.text(f"SELECT t::text FROM {quoted} AS t")).scalars()  # noqa: S608
                lines.extend(f"{table}: {row}" for row in rows)
            return "\n".join(lines)
    finally:
        engine.dispose()


def assert_gone(text: str, name: bool = True) -> None:
    """Neither the phone (in any spelling, raw or JSON-escaped) nor the name is in `text`."""
    forms = [*SPELLINGS, *([NAME] if name else [])]
    for form in forms:
        for spelled in (form, json.dumps(form)[1:-1]):
            assert spelled not in text, f"{spelled!r} survives: " + _around(text, spelled)
    flat = re.sub(r"[\s.\-()+]", "", unicodedata.normalize("NFKC", text))
    assert PHONE not in flat, "the number survives with separators: " + _around(flat, PHONE)


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 200) : at + 100]


def _setup_kiosk(app: Flask, client: FlaskClient) -> str:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", "hall", 24)
        db.session.commit()
    answer = client.post(
        "/api/sync/v1/enroll", json={"code": code}, headers={"Linli-Protocol": "1"}
    )
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["token"])


def _copy_everywhere(app: Flask, world: World, resident_id: int | None) -> dict[str, Any]:
    """Requests from the kiosk and Open311, worked on in the console, escalated, one rejected,
    one in conflict, one with a taken sequence number, one cancelled from the kiosk."""
    from server.extensions import db
    from server.requests.models import HelpRequest

    client = app.test_client()
    token = _setup_kiosk(app, client)
    words = f"我是{NAME}，电话 139 5555 0123，灯坏了"
    first = op(1, room="3-2-302", phone=PHONE, details=words)
    rejected = op(2, room="9-9-999", phone=PHONE, details=words)
    second = op(3, room="3-2-302", phone=PHONE, details=f"{NAME} 水管漏水")
    cancel = {
        "op_id": str(uuid.uuid4()),
        "seq": 4,
        "type": "request.cancel",
        "at": second["at"],
        "payload": {"request_id": second["op_id"], "reason": f"{NAME}的女儿修好了 {PHONE}"},
    }
    answer = push(client, token, [first, rejected, second, cancel]).get_json()
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected", "applied", "applied"]
    changed = {**first, "payload": {**first["payload"], "details": words + "!"}}
    taken = op(2, room="3-2-302", phone=PHONE, details=f"{NAME} again")
    answer = push(client, token, [changed, taken]).get_json()
    assert [r["reason"] for r in answer["results"]] == ["conflict", "seq_taken"]

    filed = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": world.tokens["lanqiao"],
            "service_code": "electrical",
            "address_id": "3-2-302",
            "description": f"{NAME} 家里停电，请打 +86 139.5555.0123",
        },
    )
    assert filed.status_code == 201, filed.get_json()

    with app.app_context():
        rid = db.session.execute(
            sa.select(HelpRequest.id).where(HelpRequest.client_id == uuid.UUID(first["op_id"]))
        ).scalar_one()
    worker = app.test_client()
    login(worker, "social_worker_lanqiao")
    base = f"/console/requests/{rid}"
    steps: list[tuple[str, dict[str, str]]] = [
        ("triage", {"category": "electrical", "priority": "normal", "note": f"{NAME} 独居"}),
        ("note", {"text": f"打给 {SPELLINGS[3]}"}),
        ("public_note", {"text": f"{NAME}，师傅马上到"}),
        ("escalate", {"agency": str(world.agencies["lanqiao"]), "note": f"{NAME}家 {PHONE}"}),
    ]
    if resident_id is not None:
        steps.insert(0, ("link", {"resident": str(resident_id)}))
    for action, form in steps:
        answer = post(worker, f"{base}/{action}", form)
        assert answer.status_code == 303, (action, answer.get_data(as_text=True)[:2000])
    with app.app_context():
        from server.kiosks.models import Kiosk

        kiosk_id = db.session.execute(sa.select(Kiosk.id)).scalar_one()
    shown = worker.get(f"/console/kiosks/{kiosk_id}/rejections").get_data(as_text=True)
    assert shown.count(PHONE) >= 2, "staff saw the bodies before the erasure"
    return {
        "request_id": rid,
        "filed_id": int(filed.get_json()[0]["service_request_id"]),
        "worker": worker,
        "kiosk_id": kiosk_id,
    }


def test_erasing_a_resident_leaves_no_copy_anywhere(
    app: Flask, world: World, database_url: str
) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.people.services import ProfileInput, create_resident

    with app.app_context():
        profile = ProfileInput(
            room_code="3-2-302",
            name=NAME,
            phone=SPELLINGS[1],
            birth_year=1941,
            is_living_alone=True,
            mobility="wheelchair",
            emergency_contact_name=None,
            emergency_contact_phone=None,
        )
        resident_id = create_resident(world.community["lanqiao"], profile, Actor("t"), "t").id
        db.session.commit()
    made = _copy_everywhere(app, world, resident_id)
    worker = made["worker"]
    found = worker.get("/console/residents", query_string={"q": SPELLINGS[1]})
    assert NAME in found.get_data(as_text=True), "staff looked the caller up by phone"
    assert NAME in dump(database_url)

    answer = post(
        worker,
        f"/console/residents/{resident_id}/delete",
        {"confirm": "DELETE", "reason": "the resident asked"},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)[:2000]

    assert_gone(dump(database_url))
    page = worker.get(f"/console/kiosks/{made['kiosk_id']}/rejections")
    assert page.status_code == 200
    assert "已清除（保存期满或居民要求删除）" in page.get_data(as_text=True)
    assert worker.get(f"/console/requests/{made['request_id']}").status_code == 200


def test_the_retention_purge_leaves_no_copy_anywhere(
    app: Flask, world: World, database_url: str
) -> None:
    from server.extensions import db
    from server.ops.nightly import purge
    from server.requests.models import HelpRequest
    from server.synclog.models import AppliedOp, SyncConflict
    from server.timeutil import utcnow

    made = _copy_everywhere(app, world, None)
    for rid in (made["request_id"], made["filed_id"]):
        cancelled = post(
            made["worker"], f"/console/requests/{rid}/cancel", {"reason": f"{NAME}说不用了"}
        )
        assert cancelled.status_code == 303
    assert PHONE in dump(database_url)

    long_ago = utcnow() - timedelta(days=400)
    with app.app_context():
        db.session.execute(sa.update(HelpRequest).values(updated_at=long_ago))
        db.session.execute(sa.update(AppliedOp).values(applied_at=long_ago))
        db.session.execute(sa.update(SyncConflict).values(at=long_ago))
        db.session.commit()
        report = purge(365, utcnow())
        db.session.remove()
    assert report.startswith("3 finished request(s)"), report
    # No profile was made: the name was only ever written in the requests' words and notes.
    assert_gone(dump(database_url))
