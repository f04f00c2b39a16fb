"""Browser tests (Debian's Chromium through Playwright): approving hours, redeeming points at a
merchant, printing a passbook, opening the needs map and the report charts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from server.audit.actor import Actor
from tests.server.seed import Seed, Served, add_request, browser_login

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _pending_hours(served: Served, volunteer_id: int, minutes: int) -> int:
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    with served.app.app_context():
        volunteer = db.session.get_one(Volunteer, volunteer_id)
        start = utcnow() - timedelta(minutes=minutes + 5)
        record = services.check_in(volunteer, Actor("队长"), at=start, content="修理楼道灯")
        services.check_out(record, Actor("队长"), at=start + timedelta(minutes=minutes))
        db.session.commit()
        return int(record.id)


def _points(served: Served, volunteer_id: int, points: int) -> None:
    from server.extensions import db
    from server.passbook.services import post

    with served.app.app_context():
        post(volunteer_id, "bonus", points, f"b-{volunteer_id}", "setup", reason="志愿服务之星")
        db.session.commit()


def test_a_social_worker_approves_hours(page: Any, served: Served, seed: Seed) -> None:
    vid = seed.volunteers["lanqiao"][0]
    record = _pending_hours(served, vid, 90)
    browser_login(page, served.url, "social_worker_lanqiao")
    page.goto(f"{served.url}/volunteers/hours")
    row = page.locator(f"#record-{record}")
    assert "修理楼道灯" in row.inner_text()
    row.get_by_role("button", name="通过", exact=True).click()
    page.wait_for_load_state()
    assert "已通过，记入 15 积分" in page.locator(".flash").inner_text()
    assert page.locator(f"#record-{record}").count() == 0
    page.goto(f"{served.url}/passbook/{vid}")
    assert page.locator("#balance").inner_text() == "15"
    assert "完整" in page.locator("#chain").inner_text()


def test_redeeming_points_at_a_merchant(page: Any, served: Served, seed: Seed) -> None:
    vid = seed.volunteers["lanqiao"][1]
    _points(served, vid, 50)
    browser_login(page, served.url, "social_worker_lanqiao")
    page.goto(f"{served.url}/passbook/merchants")
    page.get_by_role("link", name="打开").first.click()
    page.wait_for_load_state()
    form = page.locator("#redeem")
    form.locator("select[name=volunteer]").select_option(str(vid))
    form.locator("input[name=points]").fill("20")
    form.locator("input[name=item]").fill("全麦面包")
    form.get_by_role("button", name="兑换").click()
    page.wait_for_load_state()
    assert "已兑换 20 积分；余额 30" in page.locator(".flash").inner_text()
    assert "全麦面包" in page.locator("#redemptions").inner_text()

    form = page.locator("#redeem")
    form.locator("select[name=volunteer]").select_option(str(vid))
    form.locator("input[name=points]").fill("31")
    form.locator("input[name=item]").fill("蛋糕")
    form.get_by_role("button", name="兑换").click()
    page.wait_for_load_state()
    assert "余额 30 积分；不能兑换 31 积分" in page.locator(".error").inner_text()
    page.goto(f"{served.url}/passbook/{vid}")
    assert page.locator("#balance").inner_text() == "30"


def test_printing_a_passbook(page: Any, served: Served, seed: Seed) -> None:
    vid = seed.volunteers["lanqiao"][0]
    _points(served, vid, 40)
    browser_login(page, served.url, "social_worker_lanqiao")
    page.goto(f"{served.url}/passbook/{vid}")
    assert page.locator("form#bonus").is_visible()
    page.emulate_media(media="print")
    assert page.locator("#passbook").is_visible()
    assert "志愿服务之星" in page.locator("#passbook").inner_text()
    for hidden in ("header.top", "form#bonus", "form#issue-code", ".print-button"):
        assert not page.locator(hidden).first.is_visible(), f"{hidden} shows in print"
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    page.goto(f"{served.url}/volunteers/{vid}/record")
    assert "志愿服务记录证明" in page.locator("#service-record").inner_text()


def test_opening_the_needs_map_and_the_charts(page: Any, served: Served, seed: Seed) -> None:
    from server.extensions import db
    from server.localtime import local_midnight, local_today
    from server.timeutil import utcnow

    cid = seed.community["lanqiao"]
    with served.app.app_context():
        # Within the reports' default period (this local month so far) at any hour: an hour
        # ago, or today's local midnight in the first hour of a month.
        received = max(utcnow() - timedelta(hours=1), local_midnight(local_today()))
        for room, category in (
            ("3-2-301", "electrical"),
            ("3-2-301", "electrical"),
            ("3-2-302", "plumbing"),
            ("1-1-101", "electrical"),
        ):
            add_request(cid, room, category, received, "received")
        db.session.commit()
    browser_login(page, served.url, "viewer_lanqiao")
    # A period around now: the current local month alone missed the requests of an hour ago
    # in the first hour of a month (the map and the charts then showed nothing).
    today = utcnow().date()
    period = f"start={today - timedelta(days=2)}&end={today + timedelta(days=1)}"
    page.goto(f"{served.url}/reports/{cid}/needs-map?{period}")
    svg = page.locator("svg#needs-map")
    assert svg.is_visible()
    cell = page.locator('g.cell[data-building="3"][data-unit="2"]')
    assert cell.get_attribute("data-count") == "3"
    assert cell.locator("text").first.text_content() == "3"
    assert (
        page.locator('g.cell[data-building="1"][data-unit="1"]').get_attribute("data-count") == "1"
    )
    page.emulate_media(media="print")
    assert svg.is_visible(), "the map is hidden in print"
    page.emulate_media(media="screen")

    page.goto(f"{served.url}/reports/{cid}?{period}")
    page.wait_for_function("document.getElementById('chart-categories').linliChart !== undefined")
    assert page.evaluate("window.Chart.version") == "4.4.7"
    chart = "document.getElementById('chart-categories').linliChart.data"
    assert page.evaluate(f"{chart}.labels") == ["照明/电路", "水暖"]
    assert page.evaluate(f"{chart}.datasets[0].data") == [3, 1]
