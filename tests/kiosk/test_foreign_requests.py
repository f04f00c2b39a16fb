"""Requests of the kiosk's rooms made elsewhere (by phone, at another kiosk) and who is coming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from kiosk.app import create_kiosk_app
from kiosk.speech import spoken
from kiosk.store import InputError, Store
from kiosk.voice import Voice
from sync.messages import PullResponse, RequestChange
from tests.ui.kiosk_data import Clock, seed_store, server_update

ROOM = "3-2-301"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A seeded kiosk store."""
    opened = seed_store(tmp_path / "kiosk.sqlite3", clock=Clock())
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def client(store: Store, tmp_path: Path) -> FlaskClient:
    """The kiosk's touch UI, silent."""
    return create_kiosk_app(store, voice=Voice(tmp_path / "v", espeak="")).test_client()


def pulled(store: Store, key: str, **data: Any) -> None:
    """Apply one request change as the server sends it."""
    body = {"status": "received", "updated_at": "2026-11-30T08:00:00+00:00", **data}
    store.apply_pull(
        PullResponse(
            changes=[RequestChange(key=key, data=body)], cursor=f"c-{key}-{data}", more=False
        )
    )


def phone_request(store: Store, key: str = "srv-41", **data: Any) -> None:
    """A request made by phone for ROOM, as the server publishes it."""
    pulled(store, key, **{"ticket": "P-0041", "category": "plumbing", "room": ROOM, **data})


def test_a_request_made_elsewhere_is_stored_and_listed_for_its_room(store: Store) -> None:
    own = store.create_request("electrical", ROOM)
    phone_request(store)
    rows = store.requests_for_room(ROOM)
    assert [(r["id"], r["origin"]) for r in rows] == [("srv-41", "server"), (own.id, "kiosk")]
    foreign = rows[0]
    assert (foreign["ticket"], foreign["category"], foreign["status"]) == (
        "P-0041",
        "plumbing",
        "received",
    )
    assert (foreign["phone"], foreign["details"]) == (None, None)
    assert store.requests_for_room("3-2-302") == []
    phone_request(store, status="accepted", team="小蜜蜂维修队")
    again = store.requests_for_room(ROOM)
    assert len(again) == 2, "an update of a known request inserts nothing"
    assert (again[0]["status"], again[0]["team"]) == ("accepted", "小蜜蜂维修队")
    store.apply_pull(
        PullResponse(changes=[RequestChange(key="srv-41")], cursor="c-gone", more=False)
    )
    assert [r["id"] for r in store.requests_for_room(ROOM)] == [own.id]


def test_own_requests_match_by_id_and_learn_who_is_coming(store: Store) -> None:
    own = store.create_request("electrical", ROOM, phone="13912345678", details="灯不亮")
    pulled(
        store,
        own.id,
        status="accepted",
        ticket=own.ticket,
        category="electrical",
        room=ROOM,
        team="小蜜蜂维修队",
    )
    row = store.get_request(own.id)
    assert row is not None
    assert (row["origin"], row["status"], row["team"]) == ("kiosk", "accepted", "小蜜蜂维修队")
    assert (row["phone"], row["details"]) == ("13912345678", "灯不亮"), "kept as saved"
    assert len(store.requests_for_room(ROOM)) == 1


def test_an_older_servers_change_of_an_unknown_request_is_ignored(store: Store) -> None:
    """A change without ticket, category and room names one of another kiosk's requests."""
    pulled(store, "0190f0c2-0000-7000-8000-000000000001", status="dispatched")
    assert store.requests_for_room(ROOM) == []


def test_a_request_made_elsewhere_is_never_cancelled_or_resent_from_here(store: Store) -> None:
    phone_request(store)
    with pytest.raises(InputError) as refused:
        store.cancel_request("srv-41", ask=True)
    assert refused.value.code == "unknown_request"
    assert store.pending_ops(10) == []
    assert all(c["id"] != "srv-41" for c in store.lost_candidates())


def _mine(client: FlaskClient) -> str:
    return client.get(f"/mine/{ROOM}").get_data(as_text=True)


def test_my_requests_shows_a_phone_request_with_its_step_and_team(
    store: Store, client: FlaskClient
) -> None:
    phone_request(store, note="张师傅明天上午来，电话13912345678")
    html = _mine(client)
    assert "P-0041" in html
    assert '<p class="state lead">已收到</p>' in html
    assert "13912345678" not in html, "a request made elsewhere never shows its note"
    assert "请社区取消" not in html
    assert "/cancel/srv-41" not in html
    assert client.get("/cancel/srv-41").status_code == 404
    assert client.post("/cancel/srv-41").status_code == 404
    phone_request(store, status="dispatched", team="小蜜蜂维修队")
    assert '<p class="state lead">已安排 小蜜蜂维修队</p>' in _mine(client)
    phone_request(store, status="on_site", team="小蜜蜂维修队")
    html = _mine(client)
    assert '<p class="state lead">已上门</p>' in html
    assert '<p class="who lead">来帮您的是 小蜜蜂维修队</p>' in html
    assert "p:st_on_site" in html


@pytest.mark.parametrize(
    ("data", "words", "voice"),
    [
        ({"status": "accepted", "team": "小蜜蜂维修队"}, "已安排 小蜜蜂维修队", "p:st_arranged"),
        ({"status": "dispatched"}, "已安排", "p:st_arranged"),
        ({"status": "escalated", "agency": "区供电所"}, "已转交 区供电所", "p:st_escalated"),
        ({"status": "external_feedback", "agency": "区供电所"}, "已转交 区供电所", None),
        ({"status": "closed_fixed"}, "已完成", "p:st_done"),
        ({"status": "closed_not_fixed"}, "未解决，社区会联系您", "p:st_not_fixed"),
        ({"status": "duplicate", "merged_into": "P-0022"}, "已合并到 P-0022", "code:P-0022"),
    ],
)
def test_status_words_fit_the_step(
    store: Store, client: FlaskClient, data: dict[str, Any], words: str, voice: str | None
) -> None:
    own = store.create_request("electrical", ROOM)
    server_update(store, own.id, **data)
    html = _mine(client)
    assert f'<p class="state lead">{words}</p>' in html
    if voice:
        assert voice in html


def test_a_meal_reads_as_a_meal(store: Store, client: FlaskClient) -> None:
    own = store.create_request("meals", ROOM)
    server_update(store, own.id, "accepted", team="助餐队", note="中午11点半送到")
    html = _mine(client)
    assert '<p class="state lead">送餐已安排</p>' in html
    assert '<p class="who lead">来帮您的是 助餐队</p>' in html
    assert '<p class="note lead">中午11点半送到</p>' in html, "this kiosk's own request's note"
    assert "p:st_meal" in html


def test_a_merged_request_is_followed_by_the_surviving_ones_step(
    store: Store, client: FlaskClient
) -> None:
    own = store.create_request("electrical", ROOM)
    phone_request(store, key="srv-22", ticket="P-0022", status="accepted", team="小蜜蜂维修队")
    server_update(store, own.id, "duplicate", merged_into="P-0022", note="已合并到 P-0022")
    html = _mine(client)
    assert '<p class="state lead">已合并到 P-0022</p>' in html
    assert '<p class="then lead">P-0022：已安排 小蜜蜂维修队</p>' in html
    assert '<p class="note lead">' not in html, "the merge's own note is not said twice"
    client.get("/lang/en")
    english = _mine(client)
    assert "Merged into P-0022" in english
    assert "P-0022: Arranged: 小蜜蜂维修队" in english


def test_the_merged_tickets_voice_spells_it(client: FlaskClient) -> None:
    assert client.get("/voice/zh/code:P-0022").status_code == 404, "silent without espeak-ng"
    assert client.get("/voice/zh/code:P-00<2").status_code == 404
    with client.application.test_request_context():
        assert spoken("code:P-0022", "zh") == ("P ling2 ling2 er4 er4.", "cmn-latn-pinyin")
        assert spoken("code:P-0022", "en") == ("P 0 0 2 2", "en")
