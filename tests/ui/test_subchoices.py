"""Say what is wrong in one more tap at most (issue 13.5), tapped in Chromium.

The sub-choices and the preferred time sit on the confirm screen, so home to saved stays three
screens: a separate screen of sub-choices would make it four (home, who, what, confirm). Each
sub-choice tile saves at once; the time, tapped first, is optional. Counted here: five taps
with a sub-choice, six with a time too.
"""

from __future__ import annotations

import json
from typing import Any

from tests.ui.checks import audit, gesture_listeners, screenshot
from tests.ui.kiosk_data import LocalKiosk, offer_choices
from tests.ui.test_flows import Taps


def _saved(kiosk: LocalKiosk) -> list[dict[str, Any]]:
    rows = kiosk.store._conn().execute("SELECT * FROM requests ORDER BY rowid").fetchall()
    return [dict(r) for r in rows]


def _sent(kiosk: LocalKiosk) -> dict[str, Any]:
    row = kiosk.store._conn().execute("SELECT body FROM outbox ORDER BY seq DESC").fetchone()
    body = row[0]
    payload: dict[str, Any] = json.loads(body)["payload"]
    return payload


def test_home_to_saved_with_what_and_when_in_three_screens_and_six_taps(
    kiosk: LocalKiosk, page: Any
) -> None:
    offer_choices(kiosk.store)
    page.goto(kiosk.url + "/")
    taps = Taps(page)
    assert taps.tap("[data-category=electrical]") == "who"
    taps.tap("a.choice:has-text('3号楼')")
    taps.tap("a.choice:has-text('2单元')")
    assert taps.tap("a.choice:has-text('301')") == "confirm"
    tiles = page.locator(".choice-tile")
    assert tiles.all_inner_texts() == ["灯不亮", "插座/开关", "跳闸停电", "电线老化", "其他"]
    assert taps.tap("[data-when=today_pm]") == "confirm"
    assert page.locator("[data-when=today_pm]").get_attribute("aria-pressed") == "true"
    assert taps.tap("[data-choice=light_out]") == "receipt"
    assert taps.count == 6
    assert taps.screens == ["home", "who", "confirm", "receipt"]
    [row] = _saved(kiosk)
    assert (row["category"], row["choice"], row["preferred_time"]) == (
        "electrical",
        "light_out",
        "today_pm",
    )
    sent = _sent(kiosk)
    assert (sent["choice"], sent["preferred_time"]) == ("light_out", "today_pm")


def test_other_without_a_time_is_five_taps_and_sends_no_time(kiosk: LocalKiosk, page: Any) -> None:
    offer_choices(kiosk.store)
    page.goto(kiosk.url + "/")
    taps = Taps(page)
    taps.tap("[data-category=meals]")
    taps.tap("a.choice:has-text('3号楼')")
    taps.tap("a.choice:has-text('2单元')")
    taps.tap("a.choice:has-text('302')")
    assert taps.tap("[data-choice=other]") == "receipt"
    assert taps.count == 5
    assert len(taps.screens) == 4
    assert _sent(kiosk)["choice"] == "other"
    assert "preferred_time" not in _sent(kiosk)


def test_an_older_server_gets_no_choice_and_the_classic_confirm(
    kiosk: LocalKiosk, page: Any
) -> None:
    """Without the community's list (an older server) nothing new is offered or sent."""
    page.goto(kiosk.url + "/confirm?category=electrical&room=3-2-301&when=today_am")
    assert page.locator(".choice-tile").count() == 0
    assert page.locator("[data-when]").count() == 0
    with page.expect_navigation():
        page.click("#confirm")
    payload = _sent(kiosk)
    assert "choice" not in payload
    assert "preferred_time" not in payload


def test_emergency_asks_nothing_more(kiosk: LocalKiosk, page: Any) -> None:
    offer_choices(kiosk.store)
    page.goto(kiosk.url + "/confirm?category=emergency&room=3-2-301")
    assert page.locator(".choice-tile").count() == 0
    assert page.locator("[data-when]").count() == 0
    assert page.locator("#confirm").count() == 1


def test_the_choice_screen_meets_the_accessibility_limits(kiosk: LocalKiosk, page: Any) -> None:
    """Targets ≥20 mm, gaps, text, contrast ≥7:1, no gestures, in both languages; screenshots.

    Plumbing has the most default sub-choices (five, then 其他)."""
    offer_choices(kiosk.store)
    problems: dict[str, list[str]] = {}
    for lang in ("zh", "en"):
        page.context.add_cookies([{"name": "lang", "value": lang, "url": kiosk.url}])
        page.goto(kiosk.url + "/confirm?category=plumbing&room=3-2-301&when=any&on_behalf=1")
        found = audit(page) + gesture_listeners(page)
        fits = page.evaluate("() => document.documentElement.scrollHeight <= window.innerHeight")
        if not fits:
            found.append("the screen scrolls")
        screenshot(page, f"confirm-choices-{lang}")
        if found:
            problems[lang] = found
    assert not problems, problems
