"""One job, two ways in: a team lead's or social worker's steps on the console job pages move
the named volunteers' places on the job, completing for the team posts each one's hours once,
and a volunteer's later phone actions are answered with what already happened."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.field.conftest import Jobs, action, dispatch, phone_of, send
from tests.server.seed import form_post, login


def _rows(app: Flask, query: Any) -> list[Any]:
    from server.extensions import db

    with app.app_context():
        return list(db.session.execute(query).all())


def _states(app: Flask, rid: int) -> dict[int, str]:
    from server.field.models import JobAssignee

    query = sa.select(JobAssignee.volunteer_id, JobAssignee.state).where(
        JobAssignee.request_id == rid
    )
    return dict(_rows(app, query))


def _lead(app: Flask, rid: int) -> FlaskClient:
    lead = app.test_client()
    login(lead, "team_lead_lanqiao")
    assert lead.get(f"/console/jobs/{rid}").status_code == 200
    return lead


def _step(lead: FlaskClient, rid: int, step: str, **data: Any) -> None:
    page = f"/console/jobs/{rid}"
    answer = form_post(lead, f"/console/jobs/{rid}/{step}", data, page)
    assert answer.status_code == 303, answer.get_data(as_text=True)


def test_the_leads_steps_move_the_named_volunteers_and_completing_posts_their_hours_once(
    app: Flask, jobs: Jobs
) -> None:
    from server.volunteers.models import ServiceRecord

    zhang, li, wang = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang, li])
    lead = _lead(app, rid)
    _step(lead, rid, "accept")
    assert _states(app, rid) == {zhang: "accepted", li: "accepted"}
    _step(lead, rid, "arrive")
    assert _states(app, rid) == {zhang: "on_site", li: "on_site"}
    _step(lead, rid, "complete", note="换了灯泡", hours="1.5")
    assert _states(app, rid) == {zhang: "done", li: "done"}
    hours = sa.select(ServiceRecord.volunteer_id, ServiceRecord.minutes, ServiceRecord.status)
    hours = hours.where(ServiceRecord.request_id == rid).order_by(ServiceRecord.volunteer_id)
    assert _rows(app, hours) == sorted([(zhang, 90, "pending"), (li, 90, "pending")])
    assert wang not in _states(app, rid)

    # The phone's steps queued in the stairwell arrive after: none posts hours a second time.
    phone = phone_of(app, zhang)
    late = send(
        phone,
        action("arrive", rid),
        action("complete", rid, note="换了灯泡", minutes=40),
    ).get_json()["results"]
    assert [(r["status"], r["error"]) for r in late] == [("rejected", "done_already")] * 2
    assert late[1]["detail"] == "这项任务你已完成，时长已记录，等待审批"
    assert len(_rows(app, hours)) == 2


def test_completing_for_the_team_finishes_everyone_on_it_whatever_step_they_reached(
    app: Flask, jobs: Jobs
) -> None:
    from server.volunteers.models import ServiceRecord

    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang, li])
    first = phone_of(app, zhang)
    send(first, action("accept", rid), action("arrive", rid))
    # 张 is on site from his phone, 李 only offered; the lead completes for the team.
    _step(_lead(app, rid), rid, "complete", note="换了灯泡", hours="0.5")
    assert _states(app, rid) == {zhang: "done", li: "done"}
    hours = sa.select(ServiceRecord.volunteer_id, ServiceRecord.minutes).where(
        ServiceRecord.request_id == rid
    )
    assert sorted(_rows(app, hours)) == sorted([(zhang, 30), (li, 30)])


def test_steps_the_lead_took_already_are_applied_as_they_are_on_the_phone(
    app: Flask, jobs: Jobs
) -> None:
    from server.field.models import FieldAction

    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    lead = _lead(app, rid)
    _step(lead, rid, "accept")
    _step(lead, rid, "arrive")
    phone = phone_of(app, zhang)
    results = send(
        phone,
        action("accept", rid),
        action("arrive", rid),
        action("complete", rid, note="修好了", minutes=40),
    ).get_json()["results"]
    assert [r["status"] for r in results] == ["applied"] * 3
    assert _states(app, rid) == {zhang: "done"}
    assert len(_rows(app, sa.select(FieldAction.id))) == 3


def test_the_team_giving_the_job_back_takes_the_named_volunteers_off_it(
    app: Flask, jobs: Jobs
) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    phone = phone_of(app, zhang)
    send(phone, action("accept", rid))
    _step(_lead(app, rid), rid, "decline", reason="人手不够")
    assert _states(app, rid) == {zhang: "withdrawn"}
    (late,) = send(phone, action("arrive", rid)).get_json()["results"]
    assert (late["status"], late["error"]) == ("rejected", "reassigned")


def test_completing_from_the_request_page_keeps_hours_already_recorded_for_the_job(
    app: Flask, jobs: Jobs
) -> None:
    from datetime import timedelta

    from server.audit.actor import Actor
    from server.extensions import db
    from server.field.models import JobAssignee
    from server.timeutil import utcnow
    from server.volunteers.models import ServiceRecord, Volunteer
    from server.volunteers.services import check_in, check_out

    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang, li])
    with app.app_context():
        record = check_in(
            db.session.get_one(Volunteer, zhang),
            Actor("lead"),
            at=utcnow() - timedelta(minutes=50),
            request_id=rid,
        )
        check_out(record, Actor("lead"), at=utcnow() - timedelta(minutes=5))
        db.session.commit()
        checked = record.id
    worker = app.test_client()
    login(worker, "social_worker_lanqiao")
    page = f"/console/requests/{rid}"
    for step, data in (
        ("accept", {}),
        ("arrive", {}),
        ("complete", {"note": "换了", "hours": "1"}),
    ):
        answer = form_post(worker, f"{page}/{step}", data, page)
        assert answer.status_code == 303, answer.get_data(as_text=True)
    hours = sa.select(ServiceRecord.volunteer_id, ServiceRecord.id, ServiceRecord.minutes).where(
        ServiceRecord.request_id == rid
    )
    rows = {volunteer: (record_id, minutes) for volunteer, record_id, minutes in _rows(app, hours)}
    assert rows[zhang] == (checked, 45)  # his own check-in, not a second record
    assert rows[li][1] == 60
    linked = sa.select(
        JobAssignee.volunteer_id, JobAssignee.service_record_id, JobAssignee.minutes
    ).where(JobAssignee.request_id == rid)
    assert {v: (r, m) for v, r, m in _rows(app, linked)} == {
        zhang: (checked, 45),
        li: (rows[li][0], 60),
    }
