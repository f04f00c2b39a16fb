"""Pull changes typed per entity: the data must fit its entity, and the wire stays as it was."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from sync import codec
from sync.messages import (
    CHANGE,
    CommunityChange,
    CommunityData,
    CreateRequestOp,
    PullResponse,
    Request,
    RequestChange,
    RequestData,
    Response,
    RoomChange,
    RoomData,
)

GOLDEN = Path(__file__).resolve().parent.parent / "contract"


def test_a_change_decodes_to_the_data_of_its_entity() -> None:
    room = CHANGE.validate_python(
        {"entity": "room", "key": "1:3-2-301", "data": {"code": "3-2-301", "building": "3",
         "unit": "2", "room": "301"}}
    )  # fmt: skip
    assert isinstance(room, RoomChange)
    assert room.data == RoomData(code="3-2-301", building="3", unit="2", room="301")
    with pytest.raises(ValidationError):
        CHANGE.validate_python({"entity": "category", "key": "x", "data": room.data})
    with pytest.raises(ValidationError):
        CHANGE.validate_python({"entity": "team", "key": "x", "data": None})


def test_a_request_change_carries_only_known_statuses() -> None:
    with pytest.raises(ValidationError, match="status"):
        RequestData.model_validate({"status": "lost", "updated_at": "2025-03-01T00:00:00+00:00"})
    data = RequestData.model_validate({"status": "on_site"})
    assert (data.note, data.cancel_requested, data.updated_at) == (None, False, None)


def test_the_server_answer_is_byte_for_byte_the_golden_page() -> None:
    """As the server writes it (unset fields left out), null fields of a record stay."""
    raw = (GOLDEN / "pull_response.json").read_text(encoding="utf-8")
    golden = json.loads(raw)
    page = PullResponse.model_validate(golden)
    for change in golden["changes"]:
        if change["data"] is None:
            del change["data"]  # a tombstone: the server leaves the null out
    assert codec.dumps(page.model_dump(mode="json", exclude_none=True)) == codec.dumps(golden)
    request = next(c for c in page.changes if isinstance(c, RequestChange))
    assert request.data is not None
    assert request.data.status == "cancelled"
    assert request.data.updated_at is not None
    assert request.data.updated_at.isoformat() == "2025-03-01T00:18:07.020000+00:00"


def test_the_server_refuses_to_publish_data_of_another_entity() -> None:
    from server.synclog.changes import ChangeRow

    with pytest.raises(ValidationError):
        ChangeRow("category", "3-2-301", RoomData(code="3-2-301", building="3", unit="2",
                  room="301")).wire()  # fmt: skip
    assert ChangeRow("room", "1:3-1-101", None).wire() == RoomChange(key="1:3-1-101")


class RequestDataBefore(Response):
    """RequestData as kiosks read it before who-is-coming (issue 13): the older reader."""

    status: str
    note: str | None = None
    cancel_requested: bool = False
    updated_at: datetime | None = None


def test_older_and_newer_readers_understand_each_others_pages(tmp_path: Path) -> None:
    """New fields are optional and left out when unset: an older kiosk reads a new page (and
    ignores the fields it does not know), a newer kiosk reads an older server's page, whose
    request data it writes back byte for byte."""
    new = json.loads((GOLDEN / "pull_response_elsewhere.json").read_text(encoding="utf-8"))
    for change in new["changes"]:
        old = RequestDataBefore.model_validate(change["data"])
        assert (old.status, old.note) == (change["data"]["status"], change["data"]["note"])
    before = {"status": "accepted", "note": None, "cancel_requested": False,
              "updated_at": "2025-03-01T00:18:07.020000+00:00"}  # fmt: skip
    data = RequestData.model_validate(before)
    assert (data.ticket, data.category, data.room, data.team) == (None, None, None, None)
    written = RequestChange(key="k", data=data).model_dump(mode="json", exclude_none=True)
    assert codec.dumps(written["data"]) == codec.dumps(before)


def test_the_kiosk_lists_requests_made_elsewhere_from_the_golden_page(tmp_path: Path) -> None:
    from kiosk.screens import progress
    from tests.ui.kiosk_data import seed_store

    store = seed_store(tmp_path / "kiosk.sqlite3")
    try:
        page = PullResponse.model_validate(
            json.loads((GOLDEN / "pull_response_elsewhere.json").read_text(encoding="utf-8"))
        )
        store.apply_pull(page)
        rows = {r["ticket"]: r for room in ("3-2-301", "3-2-302") for r in
                store.requests_for_room(room)}  # fmt: skip
        assert {t: (r["origin"], r["room"]) for t, r in rows.items()} == {
            "P-0041": ("server", "3-2-302"),
            "O-3FA2": ("server", "3-2-301"),
            "A-0002": ("server", "3-2-302"),
        }
        assert (rows["P-0041"]["team"], rows["O-3FA2"]["agency"]) == ("小蜜蜂维修队", "区供电所")
        assert rows["A-0002"]["merged_into"] == "P-0041"
        assert all(r["phone"] is None and r["details"] is None for r in rows.values())
        from kiosk.app import create_kiosk_app
        from kiosk.voice import Voice

        app = create_kiosk_app(store, voice=Voice(tmp_path / "v", espeak=""))
        with app.test_request_context():
            step = progress(rows["A-0002"], rows["P-0041"])
        assert (step.state, step.then) == ("已合并到 P-0041", "P-0041：已安排 小蜜蜂维修队")
    finally:
        store.close()


class CommunityDataBefore(Response):
    """CommunityData as kiosks read it before sub-choices (issue 13.5): the older reader."""

    slug: str
    name: str
    phone: str | None = None


class CreateRequestPayloadBefore(Request):
    """CreateRequestPayload as servers read it before sub-choices: unknown fields refused."""

    category: str
    room: str
    ticket: str
    phone: str | None = None
    details: str | None = None
    on_behalf: bool = False
    consent_version: str | None = None


def test_older_and_newer_readers_of_sub_choices() -> None:
    """The community record's `choices` and the request's `choice` and `preferred_time` are
    optional and left out when unset: an older kiosk reads a newer server's community record
    (ignoring the list), a newer kiosk reads an older one's (no list: it offers nothing new),
    and what a newer kiosk sends without a choice is what an older server accepts, digest and
    all. With a choice an older server would refuse the message, which is why a kiosk offers
    sub-choices only after a server sent their list."""
    reset = json.loads((GOLDEN / "pull_response_reset.json").read_text(encoding="utf-8"))
    newer = next(c["data"] for c in reset["changes"] if c["entity"] == "community")
    assert newer["choices"]
    assert CommunityDataBefore.model_validate(newer).name == "蓝桥社区"
    older = json.loads((GOLDEN / "pull_response.json").read_text(encoding="utf-8"))
    before = next(c["data"] for c in older["changes"] if c["entity"] == "community")
    data = CommunityData.model_validate(before)
    assert data.choices is None
    written = CommunityChange(key="lanqiao", data=data).model_dump(mode="json", exclude_none=True)
    assert codec.dumps(written["data"]) == codec.dumps(before)

    push = json.loads((GOLDEN / "push_request.json").read_text(encoding="utf-8"))
    create = CreateRequestOp.model_validate(push["ops"][0])
    assert (create.payload.choice, create.payload.preferred_time) == (None, None)
    sent = create.payload.model_dump(mode="json")
    assert "choice" not in sent
    assert "preferred_time" not in sent
    assert CreateRequestPayloadBefore.model_validate(sent).category == "plumbing"
    # The digest is made from this dump: the same fields as before, so the same digest.
    assert set(create.model_dump(mode="json", exclude={"seq"})["payload"]) == set(
        push["ops"][0]["payload"]
    )
    chosen = json.loads((GOLDEN / "push_request_choice.json").read_text(encoding="utf-8"))
    payload = chosen["ops"][0]["payload"]
    with pytest.raises(ValidationError, match="choice"):
        CreateRequestPayloadBefore.model_validate(payload)
    assert CreateRequestOp.model_validate(chosen["ops"][0]).payload.preferred_time == "today_pm"
