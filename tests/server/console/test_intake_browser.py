"""新建求助 in a real browser (Playwright, Debian's Chromium): a social worker enters a phone
request for a known resident from the queue, with the room found by the resident's name in the
type-ahead, counting every key press and click; the request is in the queue as a phone one."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.server.seed import Seed, Served, add_request, browser_login


class Counted:
    """The page's keyboard and mouse, counting what a person would press and click."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.keys = 0
        self.clicks = 0

    def click(self, selector: str) -> None:
        """One click."""
        self.page.click(selector)
        self.clicks += 1

    def type(self, text: str) -> None:
        """One key press per character (Chinese words: one per character, before an IME)."""
        self.page.keyboard.type(text, delay=20)
        self.keys += len(text)

    def press(self, key: str) -> None:
        """One key press (Tab, ArrowDown, Enter...)."""
        self.page.keyboard.press(key)
        self.keys += 1


def test_a_phone_request_for_a_known_resident_in_few_keystrokes(
    page: Any, served: Served, seed: Seed
) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.people.services import ProfileInput, create_resident
    from server.requests.models import HelpRequest

    with served.app.app_context():
        profile = ProfileInput("3-2-301", "王秀英", "13800000001", 1940, True, "walking_aid",
                               None, None)  # fmt: skip
        create_resident(seed.community["lanqiao"], profile, Actor("setup"), "setup")
        db.session.commit()
    browser_login(page, served.url, "social_worker_lanqiao")
    page.goto(f"{served.url}/console/queue")
    you = Counted(page)

    you.click("#new-request")  # one click from the queue
    expect(page.locator("h1")).to_contain_text("新建求助")
    expect(page.locator("#intake-room")).to_be_focused()
    you.type("王秀英")  # the caller's name; the type-ahead offers her room
    expect(page.locator("#intake-rooms option[value='3-2-301']")).to_have_count(1)
    label = page.locator("#intake-rooms option[value='3-2-301']").get_attribute("label")
    assert label is not None
    assert "王秀英" in label
    assert "13800000001" not in label  # the last four digits only
    you.press("Tab")  # her name names one room: the field takes its code; on to category
    expect(page.locator("#intake-room")).to_have_value("3-2-301")
    expect(page.locator("#intake-picked")).to_contain_text("王秀英")
    # Category: 照明/电路 is first.
    expect(page.locator("select[name=category]")).to_have_value("electrical")
    you.press("Tab")  # the caller's words
    you.type("客厅灯不亮")
    you.press("Tab")  # phone
    you.type("13800000001")
    # Channel (phone) and on-behalf (no) are the defaults; reporter left empty: the resident.
    you.click("#intake button[type=submit]")
    expect(page.locator("#channel")).to_have_text("电话")

    with served.app.app_context():
        req = db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.channel == "phone")
        ).scalar_one()
        assert (req.ticket, req.details, req.phone) == ("O-0001", "客厅灯不亮", "13800000001")
        assert req.resident_id is not None  # linked by room and phone
    page.goto(f"{served.url}/console/queue")
    expect(page.locator(f"tr[data-id='{req.id}'] [data-channel=phone]")).to_be_visible()
    print(f"\nphone request for a known resident: {you.keys} key presses, {you.clicks} clicks")
    assert you.clicks == 2
    assert you.keys == 22  # 王秀英 Tab Tab 客厅灯不亮 Tab 13800000001


def test_the_intake_form_lists_possible_duplicates_before_saving(
    page: Any, served: Served, seed: Seed
) -> None:
    from datetime import UTC, datetime

    from server.extensions import db

    with served.app.app_context():
        earlier = add_request(
            seed.community["lanqiao"], "3-2-301", "electrical", datetime.now(UTC), "received"
        )
        db.session.commit()
    browser_login(page, served.url, "social_worker_lanqiao")
    page.goto(f"{served.url}/console/requests/new")
    box = page.locator("#intake-duplicates")
    expect(box).to_be_hidden()
    page.fill("#intake-room", "3-2-301")
    page.keyboard.press("Tab")  # the room is chosen; the category (照明/电路) is the first
    expect(box).to_be_visible()
    expect(box.locator(f"a[href$='/console/requests/{earlier}']")).to_contain_text("3-2-301")
    page.select_option("#intake-category", "plumbing")  # another kind of need: none listed
    expect(box).to_be_hidden()
