"""报平安 in Chromium: the tile, the room picker that saves, the greeting; taps counted, every
new screen measured for accessibility in both languages and saved to docs/kiosk/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ui.checks import audit, gesture_listeners, screenshot
from tests.ui.kiosk_data import LocalKiosk, set_online
from tests.ui.test_flows import Taps


def _checkins(kiosk: LocalKiosk) -> list[dict[str, Any]]:
    rows = kiosk.store._conn().execute("SELECT * FROM checkins ORDER BY rowid").fetchall()
    return [dict(r) for r in rows]


def test_checkin_from_home_then_one_tap_with_the_room_remembered(
    kiosk: LocalKiosk, page: Any
) -> None:
    """Tile, then the room (its building and unit first when there are several): saved and
    greeted; with the room known in the visit the tile alone saves."""
    page.goto(kiosk.url + "/")
    start_history = page.evaluate("history.length")
    taps = Taps(page)
    assert taps.tap("#checkin") == "who"
    assert page.locator("h1").inner_text() == "请选择您的房间，报个平安。"
    taps.tap("a.choice:has-text('3号楼')")
    taps.tap("a.choice:has-text('2单元')")
    # Two buildings and two units here: one tap each; the room's button saves at once.
    assert taps.tap("button.choice:has-text('301')") == "checkin"
    assert taps.count == 4
    assert taps.screens == ["home", "who", "checkin"]
    assert page.locator("#greeting").inner_text() == "收到您的平安，祝您今天开心。"
    assert page.locator("#saved").inner_text() == "已保存，联网后自动发送"
    speak = str(page.locator("body").get_attribute("data-speak")).split()
    assert speak[:2] == ["p:checkin_done", "p:saved_offline"]
    [first] = _checkins(kiosk)
    assert (first["room"], first["status"]) == ("3-2-301", "queued")
    assert page.evaluate("history.length") == start_history

    # The greeting remembers the room for this visit: home, then one tap saves again.
    assert taps.tap("#help-room") == "home"
    assert "3号楼" in page.locator("h1").inner_text()
    before = taps.count
    assert taps.tap("#checkin") == "checkin"
    assert taps.count - before == 1
    assert [c["room"] for c in _checkins(kiosk)] == ["3-2-301", "3-2-301"]

    # Never a request: 我的求助 of the room is empty.
    page.goto(kiosk.url + "/mine/3-2-301")
    assert "这个房间最近没有求助" in page.locator("main").inner_text()
    assert kiosk.store._conn().execute("SELECT count(*) FROM requests").fetchone()[0] == 0


def test_double_tap_on_the_tile_saves_one_checkin(kiosk: LocalKiosk, page: Any) -> None:
    page.goto(kiosk.url + "/?room=1-1-101")
    with page.expect_navigation():
        page.dblclick("#checkin")
    assert page.locator("body").get_attribute("data-screen") == "checkin"
    assert len(_checkins(kiosk)) == 1


def test_greeting_online_says_saved(kiosk: LocalKiosk, page: Any) -> None:
    set_online(kiosk.store, True)
    page.goto(kiosk.url + "/?room=1-1-102")
    with page.expect_navigation():
        page.click("#checkin")
    assert page.locator("#saved").inner_text() == "已保存"
    speak = str(page.locator("body").get_attribute("data-speak")).split()
    assert speak[:2] == ["p:checkin_done", "p:saved"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_checkin_screens_meet_the_accessibility_limits(
    kiosk: LocalKiosk, page: Any, lang: str
) -> None:
    """Targets, gaps, text, contrast and gestures on the tile's screens, in both languages."""
    page.context.add_cookies([{"name": "lang", "value": lang, "url": kiosk.url}])
    saved = kiosk.store.check_in("3-2-301")
    screens = [
        ("checkin-home", "/"),
        ("checkin-home-known-room", "/?room=3-2-301"),
        ("checkin-who-building", "/who?mode=checkin"),
        ("checkin-who-unit", "/who?mode=checkin&building=3"),
        ("checkin-who-room", "/who?mode=checkin&building=3&unit=2"),
        ("checkin-done-offline", f"/checkin/{saved.id}"),
    ]
    problems: dict[str, list[str]] = {}
    for name, path in screens:
        page.goto(kiosk.url + path)
        found = audit(page) + gesture_listeners(page)
        screenshot(page, f"{name}-{lang}")
        if found:
            problems[name] = found
    set_online(kiosk.store, True)
    page.goto(kiosk.url + f"/checkin/{saved.id}")
    found = audit(page) + gesture_listeners(page)
    screenshot(page, f"checkin-done-{lang}")
    if found:
        problems["checkin-done"] = found
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
