"""A new community set up entirely from the admin screens in a real browser (Playwright,
Debian's Chromium, Chinese by default): made, rooms imported from a CSV after its preview, a
team and an agency created, a kiosk enrolled with the code the QR code carries (through the
real sync API, as a kiosk does); its first request is synced and seen on the queue."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import requests
import segno
from playwright.sync_api import expect

from sync.ids import uuid7
from tests.server.conftest import PASSWORD
from tests.server.seed import Served, browser_login
from tests.server.syncapi.test_sync_api import H

ROOMS = "楼栋,单元,房间号\n1,1,101\n1,1,102\n1,2,201\n2,1,101\n"
"""A rooms file as a community keeps it, with a Chinese header."""
TYPOS = "楼栋,单元,房间号\n1,1,101\n1-1,1,102\n1,2\n2,1,101\n"
"""The same with two typos: a dash in a building (line 3), a missing column (line 4)."""


def test_a_new_community_set_up_from_admin_screens_takes_its_first_kiosk_request(
    page: Any, served: Served
) -> None:
    from server.auth.services import create_user
    from server.extensions import db

    with served.app.app_context():
        create_user("city_admin", PASSWORD, "admin", [], "市管理员", all_communities=True)
        db.session.commit()
    browser_login(page, served.url, "city_admin")
    page.click("header nav >> text=管理")
    expect(page.locator("h1")).to_have_text("管理")

    page.fill("#new-community input[name=slug]", "beiyuan")
    page.fill("#new-community input[name=name]", "北苑社区")
    page.fill("#new-community input[name=phone]", "024-88886666")
    page.click("#new-community button[type=submit]")
    expect(page.locator("h1")).to_have_text("社区设置")
    page.fill("#settings input[name=points_per_hour]", "12")
    page.click("#settings button[type=submit]")
    expect(page.locator(".flash")).to_have_text("已保存")

    page.click("nav.subnav >> text=楼栋和房间")
    upload = {"name": "rooms.csv", "mimeType": "text/csv", "buffer": TYPOS.encode()}
    page.set_input_files("#import-rooms input[type=file]", upload)
    page.click("#import-rooms button[type=submit]")
    # The preview names each bad line and field; nothing can be imported yet.
    problems = page.locator("#problems tbody tr")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text("3")
    expect(problems.nth(0)).to_contain_text("楼栋")
    expect(problems.nth(1)).to_contain_text("应有3列")
    expect(page.locator("#confirm-import")).to_have_count(0)
    fixed = {**upload, "buffer": ROOMS.encode()}
    page.set_input_files("#import-rooms input[type=file]", fixed)
    page.click("#import-rooms button[type=submit]")
    expect(page.locator("#preview-rows tbody tr")).to_have_count(4)
    page.click("#confirm-import button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("新增 4 间，已有 0 间")
    expect(page.locator("#rooms tr[data-room='1-2-201']")).to_be_visible()

    page.click("nav.subnav >> text=队伍")
    page.fill("#new-team input[name=name]", "小蜜蜂")
    page.check("#new-team input[name=categories][value=electrical]")
    page.fill("#new-team textarea[name=focus]", "1号楼独居老人")
    page.click("#new-team button[type=submit]")
    expect(page.locator("#teams")).to_contain_text("1号楼独居老人")

    page.click("nav.subnav >> text=职能部门和机构")
    page.fill("#new-agency input[name=name]", "北苑供电所")
    page.select_option("#new-agency select[name=kind]", "department")
    page.fill("#new-agency input[name=contact_name]", "赵工")
    page.fill("#new-agency input[name=endpoint_url]", "http://127.0.0.1:9/escalations")
    page.click("#new-agency button[type=submit]")
    expect(page.locator("#agencies")).to_contain_text("赵工")

    page.click("nav.subnav >> text=终端")
    page.fill("#new-kiosk input[name=name]", "beiyuan-hall")
    page.click("#new-kiosk button[type=submit]")
    code = page.locator("#enrol-text").inner_text().strip()
    # The QR code carries exactly that text: the same modules segno draws for it.
    expected = segno.make(code, micro=False).svg_inline(scale=8, title=code)
    modules = re.search(r' d="([^"]+)"', expected)
    assert modules
    expect(page.locator("#enrol-qr svg path")).to_have_attribute("d", modules.group(1))
    expect(page.locator("#enrol-qr svg title")).to_have_text(code)
    enrolled = requests.post(
        f"{served.url}/api/sync/v1/enroll", json={"code": code}, headers=H, timeout=10
    )
    assert enrolled.status_code == 200, enrolled.text
    token = enrolled.json()["token"]
    now = datetime.now(UTC).isoformat()
    push = {
        "device_time": now,
        "ops": [
            {
                "op_id": str(uuid7()),
                "seq": 1,
                "type": "request.create",
                "at": now,
                "payload": {
                    "category": "electrical",
                    "room": "1-2-201",
                    "ticket": "A-0001",
                    "details": "北苑第一个求助：灯不亮",
                },
            }
        ],
    }
    answer = requests.post(
        f"{served.url}/api/sync/v1/push",
        data=json.dumps(push),
        headers={**H, "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text

    page.goto(f"{served.url}/console/queue")
    expect(page.locator("main")).to_contain_text("北苑第一个求助：灯不亮")
