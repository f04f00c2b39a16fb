"""Every screen, in both languages, measured for accessibility and saved to docs/kiosk/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kiosk.admin import hash_pin
from tests.ui.checks import audit, gesture_listeners, screenshot
from tests.ui.kiosk_data import (
    COMMUNITY_PHONE,
    LocalKiosk,
    refuse_cancellation,
    server_update,
    set_online,
)

PIN = "2468"


def _visit(page: Any, kiosk: LocalKiosk, path: str, name: str, lang: str) -> list[str]:
    page.goto(kiosk.url + path)
    problems = audit(page) + gesture_listeners(page)
    screenshot(page, f"{name}-{lang}")
    return problems


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_screen_meets_the_accessibility_limits(
    kiosk: LocalKiosk, page: Any, lang: str
) -> None:
    """Targets, gaps, text, contrast, gestures and pop-ups on every screen; screenshots."""
    store = kiosk.store
    page.context.add_cookies([{"name": "lang", "value": lang, "url": kiosk.url}])
    saved = store.create_request("plumbing", "3-2-301", phone="13912345678")
    on_way = store.create_request("electrical", "3-2-301")
    refuse_cancellation(store, on_way.id)
    done = store.create_request("meals", "3-2-301")
    server_update(store, done.id, "closed_fixed")
    # 3-2-302: a phone request with the team on site, and this kiosk's request merged into it.
    elsewhere = {"ticket": "P-0009", "category": "electrical", "room": "3-2-302"}
    server_update(store, "srv-9", "on_site", team="小蜜蜂维修队", **elsewhere)
    merged = store.create_request("electrical", "3-2-302")
    server_update(store, merged.id, "duplicate", merged_into="P-0009", note="已合并到 P-0009")
    meal = store.create_request("meals", "3-2-302")
    server_update(store, meal.id, "accepted", team="助餐队", note="中午11点半送到")
    store.set_admin_pin_hash(hash_pin(PIN))
    screens = [
        ("home", "/"),
        ("home-known-room", "/?room=3-2-301"),
        ("who-building", "/who?category=plumbing"),
        ("who-unit", "/who?category=plumbing&building=3"),
        ("who-room", "/who?category=plumbing&building=3&unit=2"),
        ("consent", "/consent?category=health&room=3-2-301"),
        ("emergency", "/emergency"),
        ("receipt-offline", f"/receipt/{saved.id}"),
        ("mine-who", "/who?mode=mine&building=3&unit=2"),
        ("mine", "/mine/3-2-301"),
        ("mine-cancelled", "/mine/3-2-301?done=cancelled"),
        ("mine-heard-back", "/mine/3-2-302"),
        ("cancel", f"/cancel/{saved.id}"),
        ("problem", "/problem/invalid_phone"),
        ("problem-storage-full", "/problem/storage_full"),
        ("admin-pin", "/admin"),
    ]
    problems: dict[str, list[str]] = {}
    for name, path in screens:
        found = _visit(page, kiosk, path, name, lang)
        if found:
            problems[name] = found
    # The keypad keeps the digits in the page; "done" posts them and confirm shows them.
    page.goto(kiosk.url + "/phone?category=plumbing&room=3-2-301&on_behalf=1")
    for digit in "1391234":
        page.click(f"[data-key='{digit}']")
    found = audit(page) + gesture_listeners(page)
    screenshot(page, f"phone-{lang}")
    with page.expect_navigation():
        page.click("#done")
    assert "1391234" not in page.url
    found += audit(page) + gesture_listeners(page)
    screenshot(page, f"confirm-{lang}")
    if found:
        problems["phone"] = found

    set_online(store, True)
    for name, path in [("home-online", "/"), ("receipt", f"/receipt/{saved.id}")]:
        found = _visit(page, kiosk, path, name, lang)
        if found:
            problems[name] = found
    set_online(store, False, "revoked")
    found = _visit(page, kiosk, "/", "home-revoked", lang)
    if found:
        problems["home-revoked"] = found
    # Not a banner: the whole screen is the message, with the centre's number in large type.
    assert page.locator("#call-centre").is_visible()
    assert page.locator("[data-category]").count() == 0
    assert page.locator("#centre-number").inner_text() == COMMUNITY_PHONE
    number_px = page.eval_on_selector("#centre-number", "e => getComputedStyle(e).fontSize")
    assert float(number_px.removesuffix("px")) >= 96

    page.goto(kiosk.url + "/admin")
    for digit in PIN:
        page.click(f"[data-pin-key='{digit}']")
    with page.expect_navigation():
        page.click("#pin-ok")
    assert page.locator("body").get_attribute("data-screen") == "admin"
    found = audit(page) + gesture_listeners(page)
    screenshot(page, f"admin-{lang}")
    if found:
        problems["admin"] = found
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
