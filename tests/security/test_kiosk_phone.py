"""The kiosk's phone keypad keeps the digits out of every address: they are typed in the page
and posted, kept in the signed session for one category and room, and gone at the home screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from kiosk.app import create_kiosk_app
from kiosk.voice import Voice
from tests.ui.kiosk_data import seed_store

PHONE = "13912345678"
WHERE = {"category": "plumbing", "room": "3-2-301"}
ADDRESS = re.compile(r'(?:href|action)="([^"]*)"')


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[FlaskClient]:
    """A test client of a seeded kiosk's UI."""
    store = seed_store(tmp_path / "kiosk.sqlite3")
    try:
        app = create_kiosk_app(store, voice=Voice(tmp_path / "v", espeak="/nonexistent"))
        yield app.test_client()
    finally:
        store.close()


def _addresses(html: str) -> list[str]:
    return ADDRESS.findall(html)


def test_no_address_on_the_keypad_or_confirm_carries_digits(kiosk: FlaskClient) -> None:
    keypad = kiosk.get("/phone?category=plumbing&room=3-2-301").get_data(as_text=True)
    assert 'data-key="1"' in keypad
    assert not [a for a in _addresses(keypad) if "phone=" in a], _addresses(keypad)

    posted = kiosk.post("/phone", data={**WHERE, "phone": PHONE})
    assert posted.status_code == 303
    assert "phone" not in posted.headers["Location"]
    assert PHONE not in posted.headers["Location"]
    confirm = kiosk.get(posted.headers["Location"]).get_data(as_text=True)
    assert f'<span id="summary-phone">{PHONE}</span>' in confirm
    assert not [a for a in _addresses(confirm) if PHONE in a or "phone=" in a]
    again = kiosk.get("/phone?category=plumbing&room=3-2-301").get_data(as_text=True)
    assert f'value="{PHONE}"' in again, "the keypad shows the number to correct it"
    assert not [a for a in _addresses(again) if PHONE in a]


def test_the_number_belongs_to_one_draft_and_an_address_cannot_set_it(
    kiosk: FlaskClient,
) -> None:
    kiosk.post("/phone", data={**WHERE, "phone": PHONE})
    elsewhere = kiosk.get("/confirm?category=plumbing&room=3-2-302").get_data(as_text=True)
    assert PHONE not in elsewhere, "another room's request does not get this number"
    kiosk.get("/")
    after_home = kiosk.get("/confirm?category=plumbing&room=3-2-301").get_data(as_text=True)
    assert PHONE not in after_home, "the next person starting at home does not see it"
    typed = kiosk.get("/confirm?category=plumbing&room=3-2-301&phone=13800000000")
    assert '<span id="summary-phone">13800000000' not in typed.get_data(as_text=True)
    skipped = kiosk.post("/phone", data={**WHERE, "phone": ""})
    assert skipped.status_code == 303
    assert kiosk.post("/phone", data={**WHERE, "phone": "12ab"}).status_code == 400
