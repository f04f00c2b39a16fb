"""报平安 on the kiosk: saved durably with its own outbox op, never a request, one per tap, and
its screens (the home tile, the room picker that saves, the greeting) in both languages."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk.app import create_kiosk_app
from kiosk.store import InputError, NotEnrolledError, Store
from kiosk.voice import Voice
from sync.messages import CheckinOp, OpResult, PushResponse
from tests.ui.kiosk_data import Clock, seed_store

TOKEN = "checkin-token-0123456789ab"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A seeded kiosk store (enrolled, rooms pulled, offline)."""
    opened = seed_store(tmp_path / "kiosk.sqlite3", clock=Clock())
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def app(store: Store, tmp_path: Path) -> Flask:
    """The kiosk app (silent: speech is tested in test_voice.py)."""
    return create_kiosk_app(
        store, voice=Voice(tmp_path / "v", espeak="/nonexistent"), on_exit=lambda: None
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the kiosk app."""
    return app.test_client()


def _counts(path: Path) -> tuple[int, int, int]:
    """(check-ins, requests, outbox ops) as another connection sees them: committed rows."""
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT count(*) FROM checkins").fetchone()[0],
            conn.execute("SELECT count(*) FROM requests").fetchone()[0],
            conn.execute("SELECT count(*) FROM outbox").fetchone()[0],
        )
    finally:
        conn.close()


# --- the store ------------------------------------------------------------------------------


def test_a_checkin_is_committed_with_its_own_op_and_is_no_request(store: Store) -> None:
    before = store.create_request("plumbing", "3-2-302")
    saved = store.check_in("3-2-301")
    assert _counts(store.path) == (1, 1, 2)
    row = store.get_checkin(saved.id)
    assert row is not None
    assert (row["room"], row["status"]) == ("3-2-301", "queued")
    [_, pending] = store.pending_ops(10)
    op = CheckinOp.model_validate_json(pending.body)
    assert (str(op.op_id), op.type, op.payload.room) == (saved.id, "checkin.create", "3-2-301")
    assert op.seq == 2, "the check-in takes the next seq after the request, gap-free"
    assert json.loads(pending.body)["payload"] == {"room": "3-2-301"}, "no words, no phone"
    assert store.requests_for_room("3-2-301") == []
    assert store.get_request(saved.id) is None
    assert store.get_request(before.id) is not None
    assert store.status()["queued"] == 2


def test_the_same_form_token_saves_one_checkin(store: Store) -> None:
    first = store.check_in("3-2-301", form_token=TOKEN)
    again = store.check_in("3-2-301", form_token=TOKEN)
    other = store.check_in("3-2-301", form_token=TOKEN + "x")
    assert again == first
    assert other.id != first.id
    assert _counts(store.path) == (2, 0, 2)


def test_a_room_not_in_the_list_or_an_unenrolled_kiosk_saves_nothing(
    store: Store, tmp_path: Path
) -> None:
    with pytest.raises(InputError) as wrong:
        store.check_in("9-9-999")
    assert wrong.value.code == "unknown_room"
    assert _counts(store.path) == (0, 0, 0)
    fresh = Store(tmp_path / "fresh.sqlite3")
    try:
        with pytest.raises(NotEnrolledError):
            fresh.check_in("3-2-301")
    finally:
        fresh.close()


@pytest.mark.parametrize(
    ("result", "state"),
    [
        (OpResult(seq=1, status="applied", result={"status": "recorded"}), ("recorded", None)),
        (OpResult(seq=1, status="duplicate", original="applied"), ("recorded", None)),
        (OpResult(seq=1, status="rejected", reason="unknown_room"), ("rejected", "unknown_room")),
        (
            OpResult(seq=1, status="rejected", reason="unknown_op_type"),
            ("rejected", "unknown_op_type"),
        ),
    ],
)
def test_the_servers_answer_settles_the_checkin(
    store: Store, result: OpResult, state: tuple[str, str | None]
) -> None:
    saved = store.check_in("3-2-301")
    store.apply_push(
        PushResponse(results=[result], last_seq=1, server_time=store.clock())  # type: ignore[arg-type]
    )
    row = store.get_checkin(saved.id)
    assert row is not None
    assert (row["status"], row["reject_reason"]) == state
    assert store.pending_ops(10) == []


def test_the_checkins_table_is_a_named_migration(store: Store) -> None:
    names = [r[0] for r in store._conn().execute("SELECT name FROM schema_migrations")]
    assert names[-1] == "0007_checkins"


# --- the screens ----------------------------------------------------------------------------


def test_home_has_the_checkin_tile_leading_to_the_room_picker(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<a class="btn checkin" id="checkin" href="/who\?mode=checkin"', page)
    assert "报平安" in page


def test_with_the_room_known_the_tile_itself_saves(client: FlaskClient, store: Store) -> None:
    page = client.get("/?room=3-2-301").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/checkin">(.*?)</form>', page, re.S)
    assert form is not None
    assert 'name="room" value="3-2-301"' in form.group(1)
    token = re.search(r'name="form_token" value="([^"]+)"', form.group(1))
    assert token is not None
    answer = client.post("/checkin", data={"room": "3-2-301", "form_token": token.group(1)})
    assert answer.status_code == 303
    [saved] = store._conn().execute("SELECT id FROM checkins").fetchall()
    assert answer.headers["Location"] == f"/checkin/{saved[0]}"


def test_the_room_picker_in_checkin_mode_posts_each_room(client: FlaskClient) -> None:
    page = client.get("/who?mode=checkin&building=3&unit=2").get_data(as_text=True)
    assert "请选择您的房间，报个平安。" in page
    rooms = re.findall(r'name="room" value="([^"]+)"', page)
    assert rooms == ["3-2-301", "3-2-302"]
    assert page.count('action="/checkin"') == 2
    steps = client.get("/who?mode=checkin").get_data(as_text=True)
    assert 'href="/who?building=1&amp;mode=checkin"' in steps


def test_saving_greets_the_resident_and_never_lists_it_as_a_request(
    client: FlaskClient, store: Store
) -> None:
    answer = client.post(
        "/checkin", data={"room": "3-2-301", "form_token": TOKEN}, follow_redirects=True
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "收到您的平安，祝您今天开心。" in page
    assert "已保存，联网后自动发送" in page, "the kiosk is offline: saved, sent later"
    assert 'data-screen="checkin"' in page
    assert "p:checkin_done" in page
    assert 'href="/?room=3-2-301"' in page
    client.post("/checkin", data={"room": "3-2-301", "form_token": TOKEN})
    assert _counts(store.path) == (1, 0, 1), "a second tap of the same form saves nothing"
    mine = client.get("/mine/3-2-301").get_data(as_text=True)
    assert "这个房间最近没有求助" in mine or "p:no_requests" in mine


def test_the_greeting_in_english(client: FlaskClient) -> None:
    client.get("/lang/en")
    answer = client.post(
        "/checkin", data={"room": "3-2-301", "form_token": TOKEN}, follow_redirects=True
    )
    page = answer.get_data(as_text=True)
    assert "Thank you for letting us know you're well. Have a happy day!" in page
    home = client.get("/").get_data(as_text=True)
    assert "I'm well" in home


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"room": "9-9-999", "form_token": TOKEN}, "unknown_room"),
        ({"room": "", "form_token": TOKEN}, "unknown_room"),
        ({"room": "3-2-301", "form_token": "short"}, "invalid_form"),
        ({"room": "3-2-301"}, "invalid_form"),
    ],
)
def test_bad_checkin_forms_save_nothing(
    client: FlaskClient, store: Store, form: dict[str, str], code: str
) -> None:
    answer = client.post("/checkin", data=form)
    assert answer.status_code == 400
    assert answer.headers["X-Linli-Problem"] == code
    assert _counts(store.path) == (0, 0, 0)


def test_an_unknown_checkin_is_not_found(client: FlaskClient) -> None:
    assert client.get("/checkin/nothing-here").status_code == 404
