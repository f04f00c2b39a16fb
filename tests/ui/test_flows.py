"""Residents' journeys through the touch UI, tapped in Chromium, checked in the store."""

from __future__ import annotations

import json
import time
from typing import Any

from kiosk.admin import EXIT_FALLBACK_SECONDS
from tests.procs import wait_until
from tests.ui.kiosk_data import Clock, LocalKiosk, server_update, set_online


class Taps:
    """Taps a page like a resident and counts taps and distinct screens."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0
        self.screens: list[str] = []

    def screen(self) -> str:
        """The screen shown now (each page names itself in data-screen)."""
        name = str(self.page.locator("body").get_attribute("data-screen"))
        if not self.screens or self.screens[-1] != name:
            self.screens.append(name)
        return name

    def tap(self, selector: str) -> str:
        """Tap once and wait for the next screen; return its name."""
        self.screen()
        self.count += 1
        with self.page.expect_navigation():
            self.page.locator(selector).first.click()
        return self.screen()


def _requests(kiosk: LocalKiosk) -> list[dict[str, Any]]:
    rows = kiosk.store._conn().execute("SELECT * FROM requests ORDER BY created_at").fetchall()
    return [dict(r) for r in rows]


def test_home_to_saved_in_three_screens_and_five_taps(kiosk: LocalKiosk, page: Any) -> None:
    """Category, building, unit, room, confirm: the receipt shows the ticket after the commit."""
    page.goto(kiosk.url + "/")
    start_history = page.evaluate("history.length")
    taps = Taps(page)
    assert taps.tap("[data-category=plumbing]") == "who"
    taps.tap("a.choice:has-text('3号楼')")
    taps.tap("a.choice:has-text('2单元')")
    assert taps.tap("a.choice:has-text('301')") == "confirm"
    assert taps.tap("#confirm") == "receipt"
    assert taps.count <= 5
    assert taps.screens[:-1] == ["home", "who", "confirm"]
    saved = _requests(kiosk)
    assert len(saved) == 1
    assert (saved[0]["category"], saved[0]["room"], saved[0]["on_behalf"]) == (
        "plumbing",
        "3-2-301",
        0,
    )
    assert page.locator("#ticket").inner_text() == saved[0]["ticket"] == "A-0001"
    assert page.locator("#saved").inner_text() == "已保存，联网后自动发送"
    # Screens replace each other: nothing of this resident is reachable with "back".
    assert page.evaluate("history.length") == start_history


def test_receipt_online_says_saved(kiosk: LocalKiosk, page: Any) -> None:
    """Online, the receipt says only 已保存."""
    set_online(kiosk.store, True)
    page.goto(kiosk.url + "/confirm?category=meals&room=1-1-101")
    with page.expect_navigation():
        page.click("#confirm")
    assert page.locator("#saved").inner_text() == "已保存"


def test_double_tap_on_confirm_saves_one_request(kiosk: LocalKiosk, page: Any) -> None:
    """A double tap, and even two posts of the same form bypassing the script, save once."""
    page.goto(kiosk.url + "/confirm?category=errands&room=3-1-101")
    with page.expect_navigation():
        page.dblclick("#confirm")
    assert len(_requests(kiosk)) == 1
    page.goto(kiosk.url + "/confirm?category=errands&room=3-1-101")
    statuses = page.evaluate(
        """async () => {
            const body = new URLSearchParams(new FormData(document.getElementById('save-form')));
            const one = fetch('/save', {method: 'POST', body});
            const two = fetch('/save', {method: 'POST', body});
            const answers = await Promise.all([one, two]);
            return answers.map((a) => a.url);
        }"""
    )
    assert statuses[0] == statuses[1]
    assert len(_requests(kiosk)) == 2


def test_phone_keypad_and_on_behalf(kiosk: LocalKiosk, page: Any) -> None:
    """The phone number is typed on big keys, in the page: it is posted, never put in an
    address; "for a neighbour" is one tap."""
    page.goto(kiosk.url + "/confirm?category=company&room=1-1-102")
    taps = Taps(page)
    assert taps.tap("#phone") == "phone"
    addresses = [page.url]
    page.on("request", lambda sent: addresses.append(sent.url))
    assert page.locator("#done").is_disabled()
    for digit in "13800138000":
        page.click(f"[data-key='{digit}']")
    page.click("#delete")
    page.click("[data-key='1']")
    assert page.locator("#phone-display").inner_text() == "13800138001"
    assert taps.tap("#done") == "confirm"
    assert page.locator("#summary-phone").inner_text() == "13800138001"
    taps.tap("#behalf")
    assert page.locator("#behalf").get_attribute("aria-pressed") == "true"
    taps.tap("#confirm")
    saved = _requests(kiosk)[0]
    assert (saved["phone"], saved["on_behalf"]) == ("13800138001", 1)
    assert not [url for url in addresses if "13800138" in url], addresses


def test_health_asks_consent_once_per_room(kiosk: LocalKiosk, page: Any) -> None:
    """The first health request of a room shows the consent; its version is stored."""
    page.goto(kiosk.url + "/")
    taps = Taps(page)
    taps.tap("[data-category=health]")
    taps.tap("a.choice:has-text('3号楼')")
    taps.tap("a.choice:has-text('2单元')")
    assert taps.tap("a.choice:has-text('302')") == "consent"
    assert "p:consent" in str(page.locator("body").get_attribute("data-speak"))
    assert taps.tap("#agree") == "confirm"
    taps.tap("#confirm")
    assert _requests(kiosk)[0]["consent_version"] == "health-consent-v1"
    page.goto(kiosk.url + "/who?category=health&building=3&unit=2")
    assert Taps(page).tap("a.choice:has-text('302')") == "confirm"
    page.goto(kiosk.url + "/who?category=health&building=3&unit=2")
    assert Taps(page).tap("a.choice:has-text('301')") == "consent"


def test_emergency_tells_to_call_then_saves_urgent(kiosk: LocalKiosk, page: Any) -> None:
    """The emergency screen shows 120 and 110 large, then saves an urgent request."""
    page.goto(kiosk.url + "/")
    taps = Taps(page)
    assert taps.tap("[data-category=emergency]") == "emergency"
    sizes = page.eval_on_selector_all(
        ".big-number",
        "els => els.map(e => [e.textContent, parseFloat(getComputedStyle(e).fontSize)])",
    )
    assert [s[0] for s in sizes] == ["120", "110"]
    assert all(s[1] >= 120 for s in sizes)
    assert _requests(kiosk) == []
    taps.tap("#notify")
    taps.tap("a.choice:has-text('1号楼')")
    taps.tap("a.choice:has-text('101')")
    assert taps.tap("#confirm") == "receipt"
    assert _requests(kiosk)[0]["category"] == "emergency"


def test_my_requests_states_and_cancel(kiosk: LocalKiosk, page: Any, clock: Clock) -> None:
    """Plain-word states; the visit that saved a request cancels it within 10 minutes; a request
    saved by someone else, or an older one, gets a kind cancellation request instead."""
    old = kiosk.store.create_request("appliance", "3-2-301")
    server_update(kiosk.store, old.id, "dispatched")
    clock.advance(minutes=11)
    other = kiosk.store.create_request("meals", "3-2-301")  # a neighbour's, a minute ago
    page.goto(kiosk.url + "/confirm?category=plumbing&room=3-2-301")
    taps = Taps(page)
    assert taps.tap("#confirm") == "receipt"
    new = _requests(kiosk)[-1]["id"]
    taps.tap("#again")
    assert taps.tap("[data-category=mine]") == "mine"
    states = page.locator(".request .state").all_inner_texts()
    assert states == ["已保存待发送", "已保存待发送", "已安排"]
    assert page.locator(f"a[href='/cancel/{new}']").inner_text() == "取消这条求助"
    assert page.locator(f"a[href='/cancel/{other.id}']").inner_text() == "请社区取消"
    taps.tap(f"a[href='/cancel/{new}']")
    assert taps.tap("#cancel-yes") == "mine"
    assert page.locator("#done").inner_text() == "已取消。"
    taps.tap(f"a[href='/cancel/{other.id}']")
    assert "只有刚才提交这条求助的人可以直接取消" in page.locator(".card").inner_text()
    taps.tap("#cancel-yes")
    assert page.locator("#done").inner_text() == "已请社区取消，社区会和您联系。"
    taps.tap(f"a[href='/cancel/{old.id}']")
    assert page.locator("#cancel-yes").is_visible()
    taps.tap("#cancel-yes")
    assert page.locator("#done").inner_text() == "已请社区取消，社区会和您联系。"
    ops = kiosk.store._conn().execute(
        "SELECT body FROM outbox WHERE type = 'request.cancel' ORDER BY seq"
    )
    asks = [json.loads(body)["payload"].get("ask", False) for (body,) in ops]
    assert asks == [False, True, True]
    server_update(kiosk.store, new, "cancelled")
    server_update(kiosk.store, other.id, "received", cancel_requested=True)
    server_update(kiosk.store, old.id, "on_site", cancel_requested=True)
    page.goto(kiosk.url + "/mine/3-2-301")
    assert page.locator(".request .state").all_inner_texts() == ["已取消", "已收到", "已上门"]
    assert (
        page.locator(".request .pending").all_inner_texts() == ["已请求取消，社区会和您联系。"] * 2
    )


def test_language_and_speaker_are_one_tap(kiosk: LocalKiosk, page: Any) -> None:
    """English is one tap away and back; the speaker toggle turns prompts off."""
    page.goto(kiosk.url + "/who?category=plumbing&building=3")
    taps = Taps(page)
    taps.tap("#language")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Please choose your building, unit and room."
    assert page.url.endswith("/who?category=plumbing&building=3")
    taps.tap("#language")
    assert page.locator("h1").inner_text() == "请选择您住的楼、单元和房间。"
    # The prompt, then every button: the units as numbers, then the footer.
    assert page.locator("body").get_attribute("data-speak") == (
        "p:who unit:1 unit:2 p:btn_back p:btn_home"
    )
    page.goto(kiosk.url + "/")
    spoken = str(page.locator("body").get_attribute("data-speak")).split()
    assert spoken[:2] == ["p:home", "p:cat_electrical"]
    assert "p:cat_health" in spoken
    assert spoken[-1] == "p:btn_mine"
    taps.tap("#speaker")
    assert page.locator("#speaker").get_attribute("aria-pressed") == "false"
    assert page.locator("body").get_attribute("data-speak") == ""


def test_admin_door_pin_and_exit(kiosk: LocalKiosk, page: Any) -> None:
    """Five taps on the logo, the PIN, the panel with the queue; exit calls the window's exit."""
    from kiosk.admin import hash_pin

    kiosk.store.set_admin_pin_hash(hash_pin("97531"))
    kiosk.store.create_request("other", "1-1-101")
    page.goto(kiosk.url + "/emergency")
    for _ in range(4):
        page.click("#logo")
    with page.expect_navigation():
        page.click("#logo")
    assert page.locator("body").get_attribute("data-screen") == "admin_pin"
    for digit in "1111":
        page.click(f"[data-pin-key='{digit}']")
    with page.expect_navigation():
        page.click("#pin-ok")
    assert page.locator(".notice").is_visible()
    for digit in "97531":
        page.click(f"[data-pin-key='{digit}']")
    with page.expect_navigation():
        page.click("#pin-ok")
    assert page.locator("#fact-queued").inner_text() == "1"
    assert page.locator("#fact-device").inner_text() == "lobby"
    with page.expect_navigation():
        page.click("#admin-exit")
    assert page.locator("#bye").is_visible()
    # The exit runs once the answer has been sent (or after the fallback timer), and only once.
    wait_until(lambda: kiosk.exits == [1], timeout=10, what="the exit callback")
    time.sleep(EXIT_FALLBACK_SECONDS + 0.5)
    assert kiosk.exits == [1]


def test_links_never_leave_the_kiosk(kiosk: LocalKiosk, page: Any) -> None:
    """Every page forbids remote content and the script refuses links to other sites."""
    response = page.goto(kiosk.url + "/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.evaluate(
        """() => { const a = document.createElement('a'); a.id = 'away';
                   a.href = 'https://example.com/'; a.textContent = 'away';
                   document.querySelector('main').appendChild(a); }"""
    )
    page.click("#away")
    page.wait_for_timeout(300)
    assert page.url.startswith(kiosk.url)
    page.goto(kiosk.url + "/lang/en?next=//example.com/")
    assert page.url == kiosk.url + "/"


def test_a_known_room_saves_in_two_taps(kiosk: LocalKiosk, page: Any) -> None:
    """After a receipt, "another request for this room" skips the room picker."""
    first = kiosk.store.create_request("meals", "3-1-101")
    page.goto(kiosk.url + f"/receipt/{first.id}")
    taps = Taps(page)
    assert taps.tap("#again") == "home"
    assert "3号楼 1单元 101" in page.locator("h1").inner_text()
    taps.count = 0
    assert taps.tap("[data-category=errands]") == "confirm"
    assert taps.tap("#confirm") == "receipt"
    assert taps.count == 2
    saved = _requests(kiosk)[-1]
    assert (saved["category"], saved["room"]) == ("errands", "3-1-101")
    # The idle timer runs on this home screen: the room is forgotten like everything else.
    assert page.locator("body").get_attribute("data-pristine") == "0"
