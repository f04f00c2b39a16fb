"""Sub-choices at the kiosk (issue 13.5): stored from the community record, offered only by a
server that sends them, saved with the request, and every tile of the new screen spoken."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import force_locale

from kiosk.app import create_kiosk_app
from kiosk.config import KioskSettings
from kiosk.speech import spoken
from kiosk.store import InputError, Store
from kiosk.voice import ENGLISH_VOICE, PINYIN_VOICE, PROMPTS, Voice
from sync.choices import DEFAULT_CHOICES, MAX_CHOICES
from sync.messages import CommunityChange, PullResponse
from tests.kiosk.test_voice import _Buttons, _shown
from tests.ui.kiosk_data import COMMUNITY_PHONE, offer_choices, seed_store

CONFIRM = "/confirm?category=electrical&room=3-2-301"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A seeded kiosk store (its community record as an older server sends it)."""
    seeded = seed_store(tmp_path / "kiosk.sqlite3")
    try:
        yield seeded
    finally:
        seeded.close()


@pytest.fixture
def app(tmp_path: Path, store: Store) -> Flask:
    """The kiosk app with the speaker on (no speech is made)."""
    return create_kiosk_app(
        store,
        voice=Voice(tmp_path / "voice", espeak="/nonexistent"),
        settings=KioskSettings(IDLE_WARNING_SECONDS=2),
    )


def _payload(store: Store) -> dict[str, object]:
    row = store._conn().execute("SELECT body FROM outbox ORDER BY seq DESC").fetchone()
    payload: dict[str, object] = json.loads(row[0])["payload"]
    return payload


def test_every_default_is_at_most_six_and_has_checked_pinyin() -> None:
    for category, defaults in DEFAULT_CHOICES.items():
        assert len(defaults) <= MAX_CHOICES, category
        for code, zh, _en in defaults:
            assert PROMPTS[f"ch_{code}"].text == zh, code


def test_an_older_servers_kiosk_offers_and_sends_nothing_new(store: Store) -> None:
    assert not store.offers_choices()
    assert store.choices("electrical") == []
    with pytest.raises(InputError) as refused:
        store.create_request("electrical", "3-2-301", choice="other")
    assert refused.value.code == "choices_not_offered"
    store.create_request("electrical", "3-2-301")
    assert "choice" not in _payload(store)
    assert "preferred_time" not in _payload(store)


def test_the_community_record_brings_the_list_and_an_older_one_takes_it_away(
    store: Store,
) -> None:
    offer_choices(store)
    assert store.offers_choices()
    assert [c["code"] for c in store.choices("meals")] == ["lunch", "dinner", "delivery"]
    saved = store.create_request("meals", "3-2-301", choice="lunch", preferred_time="tomorrow")
    assert (_payload(store)["choice"], _payload(store)["preferred_time"]) == ("lunch", "tomorrow")
    row = store.get_request(saved.id)
    assert row is not None
    assert (row["choice"], row["preferred_time"]) == ("lunch", "tomorrow")
    with pytest.raises(InputError) as unknown:
        store.create_request("meals", "3-2-301", choice="light_out")
    assert unknown.value.code == "unknown_choice"
    # The server was rolled back to a version without sub-choices: the list goes.
    older = {"slug": "lanqiao", "name": "蓝桥社区", "phone": COMMUNITY_PHONE}
    store.apply_pull(
        PullResponse(
            changes=[CommunityChange(key="lanqiao", data=older)], cursor="c-old", more=False
        )
    )
    assert not store.offers_choices()
    assert store.choices("meals") == []
    assert store.community() == older


def test_the_confirm_screen_speaks_every_tile_and_time(app: Flask, store: Store) -> None:
    offer_choices(store)
    client = app.test_client()
    client.get("/lang/zh")
    page = _Buttons()
    page.feed(client.get(CONFIRM).get_data(as_text=True))
    with app.test_request_context():
        said = set().union(*map(_shown, page.speak + page.idle_speak))
        said |= {
            PROMPTS[f"ch_{k.split('.')[-1]}"].text for k in page.speak if k.startswith("choice:")
        }
        pinyin = [spoken(k, "zh") for k in page.speak if k.startswith("choice:")]
    assert [label for label in page.labels if label not in said] == []
    assert "灯不亮" in page.labels
    assert all(p is not None and p[1] == PINYIN_VOICE for p in pinyin)
    client.get("/lang/en")
    page = _Buttons()
    page.feed(client.get(CONFIRM).get_data(as_text=True))
    with app.test_request_context(), force_locale("en"):
        texts = [spoken(key, "en") for key in page.speak + page.idle_speak]
    words = {t[0] for t in texts if t}
    assert "A light is out" in page.labels
    assert [
        label
        for label in page.labels
        if label not in words and label not in {w for t in words for w in t.split()}
    ] == []
    assert all(t is None or t[1] == ENGLISH_VOICE for t in texts)


def test_a_communitys_own_wording_is_shown_not_spoken_in_chinese(app: Flask, store: Store) -> None:
    offer_choices(store)
    store._conn().execute("UPDATE choices SET name_zh = '灯坏了' WHERE code = 'light_out'")
    with app.test_request_context():
        assert spoken("choice:electrical.light_out", "zh") is None
        assert spoken("choice:electrical.socket_switch", "zh") == (
            PROMPTS["ch_socket_switch"].pinyin,
            PINYIN_VOICE,
        )
        assert spoken("choice:electrical.nothing", "zh") is None


def test_save_refuses_a_time_that_is_not_offered(app: Flask, store: Store) -> None:
    offer_choices(store)
    client = app.test_client()
    answer = client.post(
        "/save",
        data={
            "category": "electrical",
            "room": "3-2-301",
            "on_behalf": "0",
            "form_token": "t" * 24,
            "choice": "light_out",
            "when": "yesterday",
        },
    )
    assert answer.headers.get("X-Linli-Problem") == "invalid_form"
    assert store._conn().execute("SELECT count(*) FROM requests").fetchone()[0] == 0
