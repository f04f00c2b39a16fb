"""职能部门处置反馈 in the browser, in Chinese: a request made at the kiosk is escalated to an
agency without a webhook, the social worker prints its 转办单 with a reply link, the agency
answers through the link (no account), and after a sync the kiosk shows the answer."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.server.conftest import PASSWORD
from tests.ui.checks import audit
from tests.ui.test_hear_back import Synced, open_mine, synced

__all__ = ["synced"]

AGENCY = "兴隆供电所"


@pytest.fixture
def backend() -> str:
    """One server database for the browser walk."""
    return "sqlite"


@pytest.fixture
def console_url(synced: Synced) -> Iterator[str]:
    """The server app of `synced` behind a threaded HTTP server on loopback."""
    from werkzeug.serving import make_server

    app: Flask = synced.app
    app.config["SESSION_COOKIE_SECURE"] = False
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _escalate_by_order(synced: Synced, ticket: str) -> int:
    from server.auth.services import create_user
    from server.dispatch.services import create_agency
    from server.extensions import db
    from server.requests import services
    from server.requests.models import HelpRequest

    with synced.app.app_context():
        create_user("sw_lanqiao", PASSWORD, "social_worker", ["lanqiao"], "社工 李")
        agency_id = create_agency(
            "lanqiao", AGENCY, "department", "", delivery="order", reply_days=2
        ).id
        db.session.commit()
        rid = db.session.execute(
            sa.select(HelpRequest.id).where(HelpRequest.ticket == ticket)
        ).scalar_one()

    def escalate(req: Any, actor: Any) -> None:
        from server.dispatch.models import Agency

        agency = db.session.get_one(Agency, agency_id)
        services.escalate(req, actor, agency, "请查看楼道线路")

    synced.staff(rid, escalate)
    return int(rid)


def test_an_escalation_by_transfer_order_is_answered_by_its_link_and_the_kiosk_hears(
    synced: Synced, console_url: str, browser: Any, page: Any
) -> None:
    page.goto(synced.kiosk.url + "/confirm?category=electrical&room=3-2-302")
    with page.expect_navigation():
        page.click("[data-choice=light_out]")  # the server sent its sub-choices: a tile saves
    ticket = synced.kiosk.store.requests_for_room("3-2-302")[0]["ticket"]
    synced.sync()
    rid = _escalate_by_order(synced, ticket)

    staff = browser.new_context(locale="zh-CN").new_page()
    staff.goto(f"{console_url}/login")
    staff.fill("input[name=username]", "sw_lanqiao")
    staff.fill("input[name=password]", PASSWORD)
    staff.click("button[type=submit]")
    staff.wait_for_load_state()
    staff.goto(f"{console_url}/console/requests/{rid}")
    assert "转办单送达" in staff.locator(".escalations").inner_text()
    with staff.expect_navigation():
        staff.click(".issue-reply-link button")
    assert staff.locator("h1").first.inner_text() == "转办单"
    link = staff.locator("#reply-link .ref").inner_text().strip()
    assert re.fullmatch(rf"{re.escape(console_url)}/r/[A-Za-z0-9_-]{{43}}", link)

    agency = browser.new_context(locale="zh-CN").new_page()  # no account, no cookies
    agency.goto(link)
    assert agency.locator("h1").inner_text() == "转办单回复"
    assert agency.locator("#agency").inner_text() == AGENCY
    agency.check("input[name=state][value=accepted]")
    agency.fill("textarea[name=note]", "明天上午派电工")
    with agency.expect_navigation():
        agency.click("#reply-form button[type=submit]")
    assert agency.locator("h1").inner_text() == "回复已收到"

    staff.goto(f"{console_url}/console/requests/{rid}")
    assert staff.locator("#status").get_attribute("data-status") == "external_feedback"
    assert "兴隆供电所：已受理（明天上午派电工）" in staff.locator("body").inner_text()

    synced.sync()
    open_mine(page, synced.kiosk, "3", "2", "302")
    card = page.locator(f".request:has-text('{ticket}')")
    assert card.locator(".state").inner_text() == f"已转交 {AGENCY}"
    assert card.locator(".note").inner_text() == f"{AGENCY}：已受理"
    assert not audit(page)
    staff.context.close()
    agency.context.close()
