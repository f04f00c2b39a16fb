"""Done-when of issue 14 (parts 1 and 2) in a real browser on a 390x844 phone: a volunteer
opens their card's link, sees a job dispatched to them appear without a reload, accepts it,
goes offline, marks 已上门 and 已完成 with 40 minutes, reloads while offline and still sees
both waiting (待发送), comes back online, and the server has each action once and 40 minutes
waiting for approval; the team's 企业微信 group robot (a local fake on loopback) got one message
per event, with no phone number or name in it. And issue 15 part 2: a building captain records
a visit offline with 没开门; back online, the server has that one sign of life and the elder's
plan is at step 2 (the social worker's call)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, expect

from tests.server.field.conftest import Jobs, dispatch, issue_card, watch
from tests.server.notify.conftest import Provider, provider
from tests.server.seed import Served, served

__all__ = ["provider", "served"]
PHONE_NUMBER = re.compile(r"1[3-9][0-9]{9}")

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


def _team_robot(served: Served, jobs: Jobs, provider: Provider) -> None:
    """The lanqiao team's 企业微信 group robot, at the fake provider."""
    from server.audit.actor import Actor
    from server.extensions import db
    from server.notify.services import ChannelSpec, add_channel

    spec = ChannelSpec(
        "wecom",
        "小蜜蜂群",
        provider.url("/wecom?key=WECOMKEY88"),
        team_id=jobs.seed.team["lanqiao"],
    )
    with served.app.app_context():
        add_channel(jobs.seed.community["lanqiao"], spec, Actor("setup"))
        db.session.commit()


def test_a_volunteer_works_a_job_offline_and_the_server_applies_each_step_once(
    served: Served, jobs: Jobs, phone: tuple[BrowserContext, list[str]], provider: Provider
) -> None:
    from server.extensions import db
    from server.field.models import FieldAction
    from server.notify.models import Notification
    from server.outbox.delivery import deliver_due
    from server.people.models import Resident
    from server.volunteers.models import ServiceRecord, Volunteer

    context, errors = phone
    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    _team_robot(served, jobs, provider)
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

    with served.app.app_context():
        deliver_due()  # whatever the walk left due (the timer's job)
        events = db.session.execute(sa.select(Notification.event)).scalars().all()
        resident = db.session.get_one(Resident, jobs.residents["lanqiao"])
        volunteer = db.session.get_one(Volunteer, zhang)
        private = [resident.name, resident.phone, volunteer.name, volunteer.phone]
    assert sorted(events) == ["dispatch"]  # the one event of this walk that is told
    assert len(provider.accepted) == len(events), provider.refused
    assert [m["path"] for m in provider.accepted] == ["/wecom"]
    for message in provider.accepted:
        words = str(message["body"])
        assert not PHONE_NUMBER.search(words), words
        for secret in [p for p in private if p] + ["SECRET-", "灯坏了", "钥匙在邻居家"]:
            assert secret not in words, (secret, words)


def test_a_captain_records_an_unanswered_door_offline_and_step_two_is_raised(
    served: Served, jobs: Jobs, phone: tuple[BrowserContext, list[str]]
) -> None:
    from server.carewatch.models import CareStep, SignOfLife
    from server.carewatch.services import evaluate
    from server.extensions import db
    from server.timeutil import utcnow

    context, errors = phone
    zhang = jobs.seed.volunteers["lanqiao"][0]
    resident = jobs.residents["lanqiao"]
    plan_id = watch(served.app, resident, zhang)
    with served.app.app_context():
        evaluate(utcnow() + timedelta(days=2))  # the rhythm missed: a visit task for zhang
        db.session.commit()
    page = context.new_page()
    page.goto(f"{served.url}/v/k/{issue_card(served.app, zhang)}")
    assert page.evaluate(CONTROLLED) is True
    page.get_by_role("link", name="我的守望").click()
    row = page.locator(f"#elders li[data-resident-id='{resident}']")
    expect(row).to_contain_text("3-2-301 · RESIDENT-LANQIAO")
    expect(row).to_contain_text("待探访")
    row.locator("a").click()
    expect(page.locator("#task")).to_contain_text("请去探访")

    context.set_offline(True)
    page.get_by_role("button", name="没开门").click()
    pending = page.locator("#pending li.pending")
    expect(pending).to_have_count(1)
    page.reload()  # offline: the service worker's copy, the phone's queue
    expect(pending).to_have_count(1)
    expect(pending).to_contain_text("探访 没开门 · 3-2-301")
    expect(pending).to_contain_text("发送后会转给社工立即跟进")
    expect(pending).to_contain_text("待发送")

    context.set_offline(False)
    expect(page.locator("#pending")).to_be_hidden(timeout=15_000)
    expect(page.locator("#escalated")).to_contain_text("社工已接手跟进（第 2 步）")

    signs = _rows(served, sa.select(SignOfLife.channel, SignOfLife.outcome))
    assert signs == [("visit", "no_answer")]
    steps = _rows(
        served,
        sa.select(CareStep.step, CareStep.closed_at.is_(None))
        .where(CareStep.plan_id == plan_id)
        .order_by(CareStep.step),
    )
    assert [number for number, _ in steps] == [1, 2]
    assert max(number for number, is_open in steps if is_open) == 2
    assert errors == []
