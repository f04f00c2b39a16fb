"""The console in a real browser (Playwright with Debian's Chromium) against real server and
kiosk processes: a kiosk request appears live, is triaged, dispatched, accepted and completed
by the team lead on a phone-sized page, followed up and closed; an escalation whose delivery
fails is flagged; a duplicate is merged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.procs import KioskProc, ServerProc, free_port, wait_until
from tests.server.conftest import PASSWORD

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


class Console:
    """A running server with community lanqiao, a social worker `sw`, a team lead `lead`
    of team 小蜜蜂, an agency whose endpoint refuses connections, and an Open311 key."""

    def __init__(self, server: ServerProc, api_key: str) -> None:
        self.server = server
        self.url = server.url
        self.api_key = api_key

    def open311(self, service_code: str, room: str, description: str) -> int:
        """File a request the way a department's system would."""
        answer = requests.post(
            f"{self.url}/open311/v2/requests.json",
            data={"api_key": self.api_key, "service_code": service_code, "address_id": room,
                  "description": description},
            timeout=10,
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        return int(answer.json()[0]["service_request_id"])


@pytest.fixture
def console(
    app: Flask, community: dict[str, Any], database_url: str, tmp_path: Path
) -> Iterator[Console]:
    """The server process on a database set up through the services (in process: fast)."""
    from server.auth.services import create_user
    from server.communities.models import Community
    from server.dispatch.services import create_agency, create_team, set_team_lead
    from server.extensions import db
    from server.staffapi.services import create_api_token
    from server.volunteers.imports import ImportRow
    from server.volunteers.services import add_member, create_volunteer

    with app.app_context():
        community_row = db.session.get_one(Community, community["id"])
        create_user("sw", PASSWORD, "social_worker", ["lanqiao"], "社工 王")
        create_user("lead", PASSWORD, "team_lead", ["lanqiao"], "张师傅")
        team = create_team("lanqiao", "小蜜蜂", ["electrical"])
        set_team_lead(team, "lead")
        volunteer = create_volunteer(
            community_row, ImportRow(line=0, name="张师傅", phone="13900000001")
        )
        add_member(team, volunteer)
        create_agency("lanqiao", "供电所", "department", f"http://127.0.0.1:{free_port()}/in")
        _, key = create_api_token("open311", ["lanqiao"])
        db.session.commit()
    server = ServerProc(tmp_path, database_url)
    server.start()
    try:
        yield Console(server, key)
    finally:
        server.stop()


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def act(page: Page, action: str, fields: dict[str, str] | None = None) -> None:
    """Fill and submit one action form on a request page."""
    form = page.locator(f"form[data-action={action}]")
    for name, value in (fields or {}).items():
        field = form.locator(f"[name={name}]")
        tag = field.first.evaluate("e => e.tagName + ':' + (e.type || '')")
        if tag.startswith("SELECT"):
            field.select_option(value)
        elif tag.endswith(":radio"):
            form.locator(f"[name={name}][value={value}]").check()
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_live_queue_to_closed_fixed(
    console: Console, browser: Browser, make_kiosk: Callable[..., KioskProc]
) -> None:
    kiosk = make_kiosk("hall")
    kiosk.enroll(console.url, console.server.secret("kiosk", "enroll", "--community", "lanqiao",
                                                    "--name", "hall"))  # fmt: skip
    kiosk.start()
    desk = browser.new_context()
    phone = browser.new_context(**PHONE)
    try:
        page = desk.new_page()
        sign_in(page, console.url, "sw")
        expect(page.locator("h1")).to_contain_text("待处理")
        expect(page.locator("#queue-rows")).to_contain_text("没有记录。")
        page.wait_for_timeout(300)  # let the event stream open before the request is made
        made = kiosk.create(category="electrical", room="3-2-301", phone="13800000001",
                            details="客厅的灯不亮了 <b>help</b>")  # fmt: skip
        assert made.status_code == 201, made.text
        row = page.locator("#queue-rows tr[data-id]")
        try:
            expect(row).to_have_count(1, timeout=15_000)  # no reload: pushed by the event stream
        except AssertionError as exc:
            raise AssertionError(
                f"kiosk status {kiosk.status()}; log {kiosk.log()[-2000:]}"
            ) from exc
        expect(row).to_contain_text("客厅的灯不亮了 <b>help</b>")
        row.locator("a").click()
        expect(page.locator("#details")).to_have_text("客厅的灯不亮了 <b>help</b>")
        act(page, "triage", {"category": "electrical", "priority": "normal"})
        expect(page.locator("#status")).to_have_attribute("data-status", "triaged")
        page.locator("form[data-action=dispatch]").get_by_label("张师傅").check()
        act(page, "dispatch")
        expect(page.locator("#status")).to_have_attribute("data-status", "dispatched")
        expect(page.locator("#public-note")).to_contain_text("已派单 — 小蜜蜂 张师傅")
        request_url = page.url

        lead = phone.new_page()
        sign_in(lead, console.url, "lead")
        expect(lead.locator("h1")).to_have_text("我的任务")
        lead.locator("a.job").first.click()
        lead.get_by_role("button", name="接单").click()
        expect(lead.locator("#status")).to_have_attribute("data-status", "accepted")
        lead.get_by_role("button", name="已到达").click()
        expect(lead.locator("#status")).to_have_attribute("data-status", "on_site")
        lead.fill("textarea[name=note]", "换了灯泡")
        lead.fill("input[name=hours]", "1")
        lead.get_by_role("button", name="完成").click()
        expect(lead.locator(".jobs")).to_contain_text("现在没有任务。")

        page.goto(request_url)
        expect(page.locator("#status")).to_have_attribute("data-status", "completed")
        act(page, "follow_up", {"outcome": "fixed", "satisfaction": "5"})
        expect(page.locator("#status")).to_have_attribute("data-status", "followed_up")
        act(page, "close")
        expect(page.locator("#status")).to_have_attribute("data-status", "closed_fixed")
        expect(page.locator("#timeline")).to_contain_text("已回访 → 已解决")
    finally:
        desk.close()
        phone.close()

    def kiosk_sees_closed() -> bool:
        status = requests.get(f"{kiosk.url}/api/requests/{made.json()['id']}", timeout=5).json()
        return str(status.get("status")) == "closed_fixed"

    wait_until(kiosk_sees_closed, timeout=20, what="the kiosk to learn the request is closed")


@pytest.mark.parametrize("backend", ["sqlite"])  # the live test covers PostgreSQL
def test_failed_escalation_is_flagged(console: Console, browser: Browser) -> None:
    rid = console.open311("electrical", "3-1-101", "整栋楼停电")
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, console.url, "sw")
        page.goto(f"{console.url}/console/requests/{rid}")
        act(page, "escalate", {"note": "please restore power"})
        expect(page.locator("#status")).to_have_attribute("data-status", "escalated")
        expect(page.locator(".escalations")).to_contain_text("待发送")
        for _ in range(2):  # the retries fail too; the third failure flags it
            act(page, "retry")
        expect(page.locator(".escalations .delivery")).to_have_attribute("data-delivery", "failed")
        page.goto(f"{console.url}/console/queue")
        flagged = page.locator(f"#queue-rows tr[data-id='{rid}']")
        expect(flagged.locator(".flag.failed")).to_have_text("转办失败")
    finally:
        context.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_merging_a_duplicate(console: Console, browser: Browser) -> None:
    first = console.open311("plumbing", "3-2-302", "水管漏水")
    second = console.open311("plumbing", "3-2-302", "楼上漏水到我家")
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, console.url, "sw")
        page.goto(f"{console.url}/console/requests/{second}")
        act(page, "merge", {"into": str(first)})
        expect(page.locator("#status")).to_have_attribute("data-status", "duplicate")
        page.get_by_role("link", name=f"#{first}").click()
        expect(page.locator(".duplicates")).to_contain_text(f"#{second}")
        expect(page.locator("#timeline")).to_contain_text(f"#{second} 已合并到这条求助")
        expect(page.locator("#status")).to_have_attribute("data-status", "received")
    finally:
        context.close()
