"""Done-when of issue 14 (parts 1 and 2) in a real browser on a 390x844 phone: a volunteer
opens their card's link, sees a job dispatched to them appear without a reload, accepts it,
goes offline, marks 已上门 and 已完成 with 40 minutes, reloads while offline and still sees
both waiting (待发送), comes back online, and the server has each action once and 40 minutes
waiting for approval."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, expect

from tests.server.field.conftest import Jobs, dispatch, issue_card
from tests.server.seed import Served, served

__all__ = ["served"]

CONTROLLED = """() => navigator.serviceWorker.ready.then(() => new Promise((done) => {
  if (navigator.serviceWorker.controller) done(true);
  else navigator.serviceWorker.addEventListener("controllerchange", () => done(true));
}))"""
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def backend() -> str:
    """The phone's queue and the service worker are the subject: one backend is enough."""
    return "sqlite"


@pytest.fixture
def phone(browser: Browser) -> Iterator[tuple[BrowserContext, list[str]]]:
    """A phone-sized browser context, and the script errors of its pages."""
    context = browser.new_context(**PHONE)
    errors: list[str] = []
    context.on("weberror", lambda e: errors.append(str(e.error)))
    try:
        yield context, errors
    finally:
        context.close()


def _rows(served: Served, query: Any) -> list[Any]:
    from server.extensions import db

    with served.app.app_context():
        return list(db.session.execute(query).all())


def test_a_volunteer_works_a_job_offline_and_the_server_applies_each_step_once(
    served: Served, jobs: Jobs, phone: tuple[BrowserContext, list[str]]
) -> None:
    from server.field.models import FieldAction
    from server.volunteers.models import ServiceRecord

    context, errors = phone
    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    page = context.new_page()
    page.goto(f"{served.url}/v/k/{issue_card(served.app, zhang)}")
    expect(page.locator("h1")).to_have_text("我的任务")
    expect(page.locator("#job-list")).to_contain_text("现在没有任务")
    assert page.evaluate(CONTROLLED) is True  # the service worker keeps the pages from now on

    dispatch(served.app, rid, jobs.seed.team["lanqiao"], [zhang])
    job = page.locator(f"#job-list li.job[data-request-id='{rid}']")
    expect(job).to_be_visible(timeout=15_000)  # no reload: the page's poll brought it
    expect(job).to_contain_text("待接单")
    job.locator("a").click()
    page.get_by_role("button", name="接单").click()
    expect(page.locator("#door")).to_contain_text("钥匙在邻居家")  # accepted: the door details
    expect(page.locator("#call")).to_have_attribute("href", "tel:13800000001")

    context.set_offline(True)
    page.get_by_role("button", name="已上门").click()
    page.fill("textarea[name=note]", "换了灯泡")
    page.fill("input[name=minutes]", "40")
    page.get_by_role("button", name="已完成").click()
    pending = page.locator("#pending li.pending")
    expect(pending).to_have_count(2)
    page.reload()  # offline: the service worker's copy, the phone's queue
    expect(pending).to_have_count(2)
    expect(pending.first).to_contain_text("已上门")
    expect(pending.last).to_contain_text("已完成 40")
    expect(pending.last).to_contain_text("待发送")
    expect(page.locator("form[data-kind=complete]")).to_be_hidden()

    context.set_offline(False)
    expect(page.locator("#pending")).to_be_hidden(timeout=15_000)
    expect(page.locator("#my-state")).to_have_text("已完成")

    kinds = _rows(served, sa.select(FieldAction.kind, FieldAction.status).order_by(FieldAction.id))
    assert kinds == [("accept", "applied"), ("arrive", "applied"), ("complete", "applied")]
    hours = _rows(
        served,
        sa.select(ServiceRecord.minutes, ServiceRecord.status).where(
            ServiceRecord.volunteer_id == zhang
        ),
    )
    assert hours == [(40, "pending")]
    assert errors == []
