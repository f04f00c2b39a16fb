"""Pull changes typed per entity: the data must fit its entity, and the wire stays as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from sync import codec
from sync.messages import CHANGE, PullResponse, RequestChange, RequestData, RoomChange, RoomData

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
