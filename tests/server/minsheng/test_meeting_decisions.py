"""The weekly joint meeting sheet records decisions against 民生实事 items and cases, shows last
week's decisions with their outcome, and the agencies' replies of the week."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import Flask

from tests.security.test_agency_replies import _escalate_by_order, issue_link
from tests.security.test_minsheng import _item
from tests.server.conftest import World, csrf_token, login


def test_a_decision_this_week_shows_next_week_with_its_outcome(app: Flask, world: World) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db
    from server.minsheng.models import MeetingDecision

    cid, rid = world.community["lanqiao"], world.requests["lanqiao"]
    item_id = _item(app, world)
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    sheet = f"/reports/{cid}/meeting"
    data = {
        "text": "下周前完成楼道灯招标",
        "item": str(item_id),
        "request": str(rid),
        "owner": "张",
    }
    answer = client.post(
        f"/console/minsheng/{cid}/decisions", data={**data, "csrf_token": csrf_token(client, sheet)}
    )
    assert answer.status_code == 303
    page = client.get(sheet).get_data(as_text=True)
    assert "下周前完成楼道灯招标" in page
    assert f"民生实事 #{item_id}" in page
    assert "待落实" in page
    with app.app_context():
        decision = db.session.execute(sa.select(MeetingDecision)).scalar_one()
        decision.week_start -= timedelta(days=7)  # a week passes
        db.session.commit()
        decision_id = decision.id
    page = client.get(sheet).get_data(as_text=True)
    assert 'id="last-week"' in page
    assert 'class="inline outcome-form no-print"' in page
    client.post(
        f"/console/minsheng/decisions/{decision_id}/outcome",
        data={"outcome": "done", "note": "已招标", "csrf_token": csrf_token(client, sheet)},
    )
    page = client.get(sheet).get_data(as_text=True)
    assert "已落实：已招标" in page
    assert "outcome-form" not in page
    with app.app_context():
        whats = set(db.session.execute(sa.select(AuditEntry.what)).scalars())
        assert f"meeting decision #{decision_id}: done" in whats


def test_another_communitys_staff_cannot_decide_or_record_outcomes(
    app: Flask, world: World
) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.minsheng.models import MeetingDecision
    from server.minsheng.services import record_decision

    cid = world.community["lanqiao"]
    with app.app_context():
        decision = record_decision(cid, date(2026, 11, 30), "x", None, None, None, Actor("社工"))
        db.session.commit()
        decision_id = decision.id
    client = app.test_client()
    login(client, "social_worker_feicui")
    token = csrf_token(client, "/console/queue")
    assert (
        client.post(
            f"/console/minsheng/{cid}/decisions", data={"text": "y", "csrf_token": token}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/console/minsheng/decisions/{decision_id}/outcome",
            data={"outcome": "done", "csrf_token": token},
        ).status_code
        == 404
    )
    item_id = _item(app, world, "lanqiao")
    own = world.community["feicui"]
    client.post(
        f"/console/minsheng/{own}/decisions",
        data={"text": "y", "item": str(item_id), "csrf_token": token},
    )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MeetingDecision)) == 1
        assert db.session.get_one(MeetingDecision, decision_id).outcome == "open"


def test_the_sheet_shows_the_weeks_agency_replies_and_overdue_ones(
    app: Flask, world: World
) -> None:
    escalation_id = _escalate_by_order(app, world, "lanqiao")
    link = issue_link(app, world, "lanqiao", escalation_id)
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    sheet = f"/reports/{world.community['lanqiao']}/meeting"
    assert "部门反馈逾期" not in client.get(sheet).get_data(as_text=True)
    agency = app.test_client()
    agency.post(
        link,
        data={"state": "not_ours", "note": "属自来水公司", "csrf_token": csrf_token(agency, link)},
    )
    page = client.get(sheet).get_data(as_text=True)
    assert "不属于本单位职责" in page
    assert "属自来水公司" in page
