"""Pull cursors: opaque to the kiosk, exact for the server, refused whole when malformed."""

from __future__ import annotations

import base64
import json

import pytest

from sync.cursor import BadCursor, Cursor


def _raw(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_cursor_comes_back_as_it_went() -> None:
    plain = Cursor("epoch-1", 17)
    assert Cursor.decode(plain.encode()) == plain
    bounded = Cursor("epoch-1", 17, until=40, since="2026-10-01T00:00:00+00:00")
    assert Cursor.decode(bounded.encode()) == bounded
    # A plain cursor's text is what kiosks stored before downloads carried their bound.
    assert json.loads(base64.urlsafe_b64decode(plain.encode() + "==")) == {"e": "epoch-1", "s": 17}


@pytest.mark.parametrize(
    "data",
    [
        {"e": "x", "s": -1},
        {"e": "x", "s": 1, "u": "40", "b": "2026-10-01T00:00:00+00:00"},
        {"e": "x", "s": 1, "u": 40},
        {"e": "x", "s": 1, "b": 7, "u": 40},
        ["e", "s"],
    ],
)
def test_a_malformed_cursor_is_refused(data: object) -> None:
    with pytest.raises(BadCursor):
        Cursor.decode(_raw(data))
