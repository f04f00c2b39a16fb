"""The kiosk is a public place: anyone can stand at it.

Only the visit that saved a request cancels it directly, within 10 minutes; anyone else, or
later, asks the community (and the server leaves the decision to staff). "My requests" and the
local JSON API show a request's ticket, category and state, never the resident's words or phone;
a request made elsewhere (by phone, at another kiosk) shows no note either, and is never
cancelled from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk.app import create_kiosk_app
from kiosk.store import Store
from kiosk.voice import Voice
from sync.messages import PullResponse
from tests.server.syncapi import test_hear_back as hear_back
from tests.server.syncapi.test_hear_back import phone_request
from tests.server.syncapi.test_sync_api import pull_all, push
from tests.ui.kiosk_data import Clock, seed_store

PHONE = "13912345678"
DETAILS = "高血压，独居，钥匙在门垫下"
ROOM = "3-2-301"


@pytest.fixture
def clock() -> Clock:
    """The kiosk store's clock."""
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    """A seeded kiosk store."""
    opened = seed_store(tmp_path / "kiosk.sqlite3", clock=clock)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def kiosk_app(store: Store, tmp_path: Path) -> Flask:
    """The kiosk app, silent."""
    return create_kiosk_app(store, voice=Voice(tmp_path / "v", espeak="/nonexistent"))


def _save(client: FlaskClient, token: str) -> str:
    """Save a plumbing request for ROOM through the touch UI; its id."""
    form = {
        "category": "plumbing",
        "room": ROOM,
        "phone": PHONE,
        "on_behalf": "0",
        "consent_version": "",
        "form_token": token,
    }
    answer = client.post("/save", data=form)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return str(answer.headers["Location"]).rsplit("/", 1)[-1]


def _cancel_ops(store: Store) -> list[dict[str, Any]]:
    rows = store._conn().execute(
        "SELECT body FROM outbox WHERE type = 'request.cancel' ORDER BY seq"
    )
    return [json.loads(body) for (body,) in rows]


def test_a_passer_by_cannot_cancel_someone_elses_request(kiosk_app: Flask, store: Store) -> None:
    """Resident A saves; the next person (a new visit, or after the idle reset) only asks."""
    resident = kiosk_app.test_client()
    saved = _save(resident, "visit-a-0123456789abcdef")
    stranger = kiosk_app.test_client()
    mine = stranger.get(f"/mine/{ROOM}").get_data(as_text=True)
    assert "请社区取消" in mine
    assert "取消这条求助" not in mine
    page = stranger.get(f"/cancel/{saved}").get_data(as_text=True)
    assert "只有刚才提交这条求助的人可以直接取消" in page
    answer = stranger.post(f"/cancel/{saved}")
    assert answer.headers["Location"].endswith("done=cancel_requested")
    [op] = _cancel_ops(store)
    assert op["payload"]["ask"] is True


def test_the_idle_reset_ends_the_visit(kiosk_app: Flask, store: Store) -> None:
    """The same browser after the idle timer started over is the next person."""
    client = kiosk_app.test_client()
    saved = _save(client, "visit-b-0123456789abcdef")
    assert "取消这条求助" in client.get(f"/mine/{ROOM}").get_data(as_text=True)
    client.get("/reset")
    assert "取消这条求助" not in client.get(f"/mine/{ROOM}").get_data(as_text=True)
    assert client.post(f"/cancel/{saved}").headers["Location"].endswith("done=cancel_requested")
    assert _cancel_ops(store)[0]["payload"]["ask"] is True


def test_the_visit_that_saved_cancels_within_ten_minutes_only(
    kiosk_app: Flask, store: Store, clock: Clock
) -> None:
    client = kiosk_app.test_client()
    first = _save(client, "visit-c-0123456789abcdef")
    second = _save(client, "visit-d-0123456789abcdef")
    clock.advance(minutes=9)
    assert client.post(f"/cancel/{first}").headers["Location"].endswith("done=cancelled")
    clock.advance(minutes=2)
    assert "已经过了10分钟" in client.get(f"/cancel/{second}").get_data(as_text=True)
    assert client.post(f"/cancel/{second}").headers["Location"].endswith("done=cancel_requested")
    direct, asked = _cancel_ops(store)
    assert "ask" not in direct["payload"]  # the same body (and digest) an older kiosk sends
    assert asked["payload"]["ask"] is True


def test_local_api_cancels_only_with_the_savers_proof(
    kiosk_app: Flask, store: Store, clock: Clock
) -> None:
    client = kiosk_app.test_client()
    made = client.post("/api/requests", json={"category": "plumbing", "room": ROOM}).get_json()
    other = client.post("/api/requests", json={"category": "meals", "room": ROOM}).get_json()
    url = f"/api/requests/{made['id']}/cancel"
    for body in ({}, {"cancel_token": "0" * 64}, {"cancel_token": other["cancel_token"]}):
        refused = client.post(url, json=body)
        assert refused.status_code == 403, body
        assert refused.get_json()["error"] == "cancel_not_yours"
    assert _cancel_ops(store) == []
    later_url = f"/api/requests/{other['id']}/cancel"
    clock.advance(minutes=11)
    late = client.post(later_url, json={"cancel_token": other["cancel_token"]})
    assert (late.status_code, late.get_json()["error"]) == (409, "cancel_window_over")
    asked = client.post(later_url, json={"ask": True, "reason": "修好了"})
    assert (asked.status_code, asked.get_json()["status"]) == (202, "cancel_request_queued")
    assert [op["payload"]["ask"] for op in _cancel_ops(store)] == [True]


def test_my_requests_and_the_api_never_show_words_or_phone(kiosk_app: Flask, store: Store) -> None:
    client = kiosk_app.test_client()
    made = client.post(
        "/api/requests",
        json={"category": "health", "room": ROOM, "phone": PHONE, "details": DETAILS},
    ).get_json()
    _save(client, "visit-e-0123456789abcdef")
    for path in (f"/mine/{ROOM}", f"/cancel/{made['id']}", f"/api/requests/{made['id']}"):
        text = client.get(path).get_data(as_text=True)
        assert PHONE not in text, path
        assert DETAILS not in text, path
    shown = client.get(f"/api/requests/{made['id']}").get_json()
    assert set(shown) == {
        "id",
        "ticket",
        "category",
        "status",
        "cancel_requested",
        "created_at",
        "synced",
    }
    assert (shown["ticket"], shown["category"], shown["status"]) == (
        made["ticket"],
        "health",
        "queued",
    )


def test_the_server_leaves_an_asked_cancellation_to_staff(
    kiosk_app: Flask, store: Store, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """The kiosk's own outbox bodies, pushed to the server: a direct cancellation cancels, an
    asked one leaves the request open and flagged for staff, though nobody is on the way yet."""
    kiosk = kiosk_app.test_client()
    asked = _save(kiosk, "visit-f-0123456789abcdef")
    direct = _save(kiosk, "visit-g-0123456789abcdef")
    rows = store._conn().execute("SELECT body FROM outbox ORDER BY seq").fetchall()
    assert push(client, enrolled["token"], [json.loads(b) for (b,) in rows]).status_code == 200
    kiosk.post(f"/cancel/{direct}")
    kiosk.get("/reset")
    kiosk.post(f"/cancel/{asked}")
    answer = push(client, enrolled["token"], _cancel_ops(store))
    assert answer.status_code == 200, answer.get_json()
    results = [r["result"] for r in answer.get_json()["results"]]
    assert results == [{"status": "cancelled"}, {"status": "received", "cancel_requested": True}]
    changes, _, _ = pull_all(client, enrolled["token"])
    seen = {c["key"]: c["data"] for c in changes if c["entity"] == "request"}
    assert (seen[direct]["status"], seen[direct]["cancel_requested"]) == ("cancelled", False)
    assert (seen[asked]["status"], seen[asked]["cancel_requested"]) == ("received", True)


def test_two_taps_on_cancel_queue_one_cancellation(kiosk_app: Flask, store: Store) -> None:
    """Checked inside the write: a second cancel (a double tap, a second caller) adds nothing."""
    client = kiosk_app.test_client()
    made = client.post("/api/requests", json={"category": "plumbing", "room": ROOM}).get_json()
    url = f"/api/requests/{made['id']}/cancel"
    for _ in range(2):
        assert client.post(url, json={"cancel_token": made["cancel_token"]}).status_code == 202
    store.cancel_request(made["id"], ask=True)
    assert len(_cancel_ops(store)) == 1


def test_a_request_made_elsewhere_shows_only_ticket_category_step_and_who(
    app: Flask, kiosk_app: Flask, store: Store, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """A phone request for a room, pulled from the real server: anyone looking the room up reads
    its ticket, category, step and team, never the caller's words, phone or the note; and
    nobody at this kiosk can cancel it."""
    from server.audit.actor import Actor
    from server.extensions import db
    from server.requests import services
    from server.requests.models import HelpRequest

    rid = phone_request(app, enrolled["community"]["id"], room=ROOM)
    with app.app_context():
        req = db.session.get_one(HelpRequest, rid)
        services.set_public_note(req, Actor("social worker"), f"张师傅会打 {hear_back.PHONE}")
        db.session.commit()
    changes, cursor, _ = pull_all(client, enrolled["token"])
    store.apply_pull(
        PullResponse.model_validate({"changes": changes, "cursor": cursor, "more": False})
    )
    key = f"srv-{rid}"
    kiosk = kiosk_app.test_client()
    mine = kiosk.get(f"/mine/{ROOM}").get_data(as_text=True)
    assert "P-0022" in mine
    assert '<p class="state lead">已收到</p>' in mine
    shown = kiosk.get(f"/api/requests/{key}").get_json()
    assert set(shown) == {
        "id",
        "ticket",
        "category",
        "status",
        "cancel_requested",
        "created_at",
        "synced",
    }
    for text in (mine, json.dumps(shown, ensure_ascii=False), json.dumps(changes)):
        assert hear_back.PHONE not in text
        assert "钥匙" not in text
    assert "张师傅会打" not in json.dumps(changes, ensure_ascii=False), "its note stays home"
    assert kiosk.get(f"/cancel/{key}").status_code == 404
    assert kiosk.post(f"/cancel/{key}").status_code == 404
    asked = kiosk.post(f"/api/requests/{key}/cancel", json={"ask": True})
    assert asked.status_code == 400
    assert asked.get_json()["error"] == "unknown_request"
    assert _cancel_ops(store) == []
