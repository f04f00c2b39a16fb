"""A volunteer's own phone pages: the card's link, 我的任务, a job's steps applied exactly once
in order (hours posted for approval), the door details only while on an open job (audited),
reassignment, the PIN, hours and points, and a team lead who is also a volunteer."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.server.field.conftest import (
    HEADERS,
    Jobs,
    action,
    dispatch,
    issue_card,
    new_job,
    phone_of,
    send,
)


def _count(app: Flask, model: Any, *where: Any) -> int:
    from server.extensions import db

    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)))


def _status(app: Flask, request_id: int) -> str:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        return db.session.get_one(HelpRequest, request_id).status


def test_a_card_link_signs_a_phone_in_and_revoking_it_ends_that_phone(
    app: Flask, jobs: Jobs
) -> None:
    from server.audit.actor import Actor
    from server.audit.models import AuditEntry
    from server.extensions import db
    from server.field.services import revoke_link
    from server.volunteers.models import Volunteer

    zhang = jobs.seed.volunteers["lanqiao"][0]
    first = issue_card(app, zhang)
    phone = app.test_client()
    assert phone.get(f"/v/k/{first}").status_code == 303
    assert phone.get("/v/").status_code == 200
    second = issue_card(app, zhang)  # re-issued: the old card and its phones end
    assert phone.get("/v/", headers={"Accept": "application/json"}).status_code == 401
    assert app.test_client().get(f"/v/k/{first}").status_code == 404
    again = app.test_client()
    assert again.get(f"/v/k/{second}").status_code == 303
    with app.app_context():
        revoke_link(db.session.get_one(Volunteer, zhang), Actor("sw"))
        db.session.commit()
    assert again.get("/v/", headers={"Accept": "application/json"}).status_code == 401
    what = [
        w
        for (w,) in db_rows(
            app, sa.select(AuditEntry.what).where(AuditEntry.what.like("volunteer #%"))
        )
    ]
    assert what == [
        f"volunteer #{zhang}: sign-in link issued",
        f"volunteer #{zhang}: sign-in link re-issued",
        f"volunteer #{zhang}: sign-in link revoked",
    ]


def db_rows(app: Flask, query: Any) -> list[Any]:
    """Rows of a query, read in an app context."""
    from server.extensions import db

    with app.app_context():
        return list(db.session.execute(query).all())


def test_a_job_dispatched_to_me_is_on_my_list_and_not_on_a_teammates(
    app: Flask, jobs: Jobs
) -> None:
    zhang, li, wang = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    mine, teammate, outsider = phone_of(app, zhang), phone_of(app, li), phone_of(app, wang)
    before = mine.get("/v/jobs.json").get_json()
    assert "data-request-id" not in before["html"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    after = mine.get(f"/v/jobs.json?since={before['fingerprint']}").get_json()
    assert after["changed"] is True
    assert f'data-request-id="{rid}"' in after["html"]
    unchanged = mine.get(f"/v/jobs.json?since={after['fingerprint']}").get_json()
    assert unchanged == {"fingerprint": after["fingerprint"], "changed": False}
    for other in (teammate, outsider):
        assert f'data-request-id="{rid}"' not in other.get("/v/").get_data(as_text=True)
        assert other.get(f"/v/jobs/{rid}").status_code == 404


def test_a_team_job_naming_nobody_is_offered_to_every_member_and_taken_by_one(
    app: Flask, jobs: Jobs
) -> None:
    zhang, li, wang = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [])
    zp, lp, wp = phone_of(app, zhang), phone_of(app, li), phone_of(app, wang)
    assert f'data-request-id="{rid}"' in zp.get("/v/").get_data(as_text=True)
    assert f'data-request-id="{rid}"' in lp.get("/v/").get_data(as_text=True)
    assert f'data-request-id="{rid}"' not in wp.get("/v/").get_data(as_text=True)
    taken = send(lp, action("accept", rid)).get_json()["results"][0]
    assert taken["status"] == "applied"
    assert _status(app, rid) == "accepted"
    assert f'data-request-id="{rid}"' not in zp.get("/v/").get_data(as_text=True)
    late = send(zp, action("accept", rid)).get_json()["results"][0]
    assert (late["status"], late["error"]) == ("rejected", "reassigned")


def test_steps_are_applied_once_in_order_and_the_hours_wait_for_approval(
    app: Flask, jobs: Jobs
) -> None:
    from server.field.models import FieldAction, JobAssignee
    from server.requests.models import RequestEvent
    from server.volunteers.models import ServiceRecord

    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    phone = phone_of(app, zhang)
    steps = [
        action("accept", rid),
        action("arrive", rid),
        action("complete", rid, note="换了灯泡", minutes=40),
    ]
    first = send(phone, *steps).get_json()["results"]
    assert [(r["status"], r["replay"]) for r in first] == [("applied", False)] * 3
    events = _count(app, RequestEvent, RequestEvent.request_id == rid)
    replay = send(phone, *steps).get_json()["results"]  # a retry after a lost answer
    assert [(r["status"], r["replay"]) for r in replay] == [("applied", True)] * 3
    assert _count(app, RequestEvent, RequestEvent.request_id == rid) == events
    assert _status(app, rid) == "completed"
    assert _count(app, FieldAction) == 3
    records = db_rows(
        app,
        sa.select(ServiceRecord.minutes, ServiceRecord.status).where(
            ServiceRecord.request_id == rid
        ),
    )
    assert records == [(40, "pending")]
    (state,) = db_rows(app, sa.select(JobAssignee.state).where(JobAssignee.request_id == rid))
    assert state == ("done",)
    hours = phone.get("/v/hours").get_data(as_text=True)
    assert 'id="pending-hours">0.7' in hours

    changed = dict(steps[2], minutes=400)
    (reused,) = send(phone, changed).get_json()["results"]
    assert (reused["status"], reused["error"]) == ("rejected", "id_reused")
    assert _count(app, FieldAction) == 3


def test_two_volunteers_on_one_job_each_post_their_own_hours(app: Flask, jobs: Jobs) -> None:
    from server.volunteers.models import ServiceRecord

    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang, li])
    first, second = phone_of(app, zhang), phone_of(app, li)
    for phone in (first, second):
        send(phone, action("accept", rid), action("arrive", rid))
    send(first, action("complete", rid, note="换了灯泡", minutes=40))
    assert _status(app, rid) == "completed"
    (late,) = send(second, action("complete", rid, note="扶梯子", minutes=25)).get_json()["results"]
    assert late["status"] == "applied"
    minutes = db_rows(
        app,
        sa.select(ServiceRecord.volunteer_id, ServiceRecord.minutes, ServiceRecord.status)
        .where(ServiceRecord.request_id == rid)
        .order_by(ServiceRecord.volunteer_id),
    )
    assert minutes == sorted([(zhang, 40, "pending"), (li, 25, "pending")])


def test_a_step_out_of_order_is_rejected_with_its_reason_and_stays_rejected(
    app: Flask, jobs: Jobs
) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    phone = phone_of(app, zhang)
    early = action("complete", rid, note="x", minutes=10)
    (result,) = send(phone, early).get_json()["results"]
    assert (result["status"], result["error"]) == ("rejected", "wrong_step")
    assert "这一步现在不能做" in result["detail"]
    send(phone, action("accept", rid), action("arrive", rid))
    (again,) = send(phone, early).get_json()["results"]
    assert (again["status"], again["replay"]) == ("rejected", True)
    assert _status(app, rid) == "on_site"


def test_an_action_on_a_job_dispatched_again_to_others_is_refused_as_reassigned(
    app: Flask, jobs: Jobs
) -> None:
    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    phone = phone_of(app, zhang)
    assert send(phone, action("accept", rid)).get_json()["results"][0]["status"] == "applied"
    decline = send(phone, action("decline", rid, reason="生病了")).get_json()["results"][0]
    assert decline["status"] == "applied"
    assert _status(app, rid) == "triaged"  # the only one named declined: back to the desk
    dispatch(app, rid, jobs.seed.team["lanqiao"], [li])
    (late,) = send(phone, action("arrive", rid)).get_json()["results"]
    assert late["status"] == "rejected"
    assert late["error"] == "reassigned"
    assert late["detail"] == "这项任务已改派给别人，不再需要你处理"
    phone.set_cookie("lang", "en")  # the reader's language: the reason in English
    (english,) = send(phone, action("arrive", rid)).get_json()["results"]
    assert english["detail"] == "This job was reassigned to someone else; you need not do anything"


def test_the_door_details_show_only_while_i_am_on_the_open_job_and_each_view_is_audited(
    app: Flask, jobs: Jobs
) -> None:
    from server.audit.models import AuditEntry

    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    phone = phone_of(app, zhang)
    offered = phone.get(f"/v/jobs/{rid}").get_data(as_text=True)
    assert "钥匙在邻居家" not in offered
    assert "tel:" not in offered
    send(phone, action("accept", rid))
    page = phone.get(f"/v/jobs/{rid}").get_data(as_text=True)
    assert 'href="tel:13800000001"' in page
    assert 'href="tel:13900000009"' in page
    assert "钥匙在邻居家" in page
    assert "需助行器" in page
    assert "蓝桥社区 3-2-301" in page
    views = AuditEntry.request_id == rid, AuditEntry.action == "view"
    assert _count(app, AuditEntry, *views) == 1
    phone.get(f"/v/jobs/{rid}")
    assert _count(app, AuditEntry, *views) == 2
    send(phone, action("arrive", rid), action("complete", rid, note="修好了", minutes=30))
    done = phone.get(f"/v/jobs/{rid}")
    assert done.status_code == 200
    assert "钥匙在邻居家" not in done.get_data(as_text=True)
    assert _count(app, AuditEntry, *views) == 2


def test_a_pin_guards_a_new_phone_and_wrong_pins_lock_it(app: Flask, jobs: Jobs) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    first = phone_of(app, zhang)
    bad = first.post("/v/pin/set", json={"pin": "12ab"}, headers=HEADERS)
    assert bad.status_code == 400
    assert bad.get_json()["error"] == "bad_pin"
    assert first.post("/v/pin/set", json={"pin": "4321"}, headers=HEADERS).status_code == 200
    new = phone_of(app, zhang)  # a new card and a new phone: the PIN is asked first
    asked = new.get("/v/", headers={"Accept": "text/html"})
    assert asked.status_code == 302, asked.get_data(as_text=True)
    assert asked.headers["Location"].endswith("/v/pin")
    assert new.get("/v/jobs.json").get_json()["error"] == "pin_needed"
    for _ in range(5):
        wrong = new.post("/v/pin", json={"pin": "0000"}, headers=HEADERS)
        assert wrong.status_code == 403
        assert wrong.get_json()["error"] == "bad_pin"
    locked = new.post("/v/pin", json={"pin": "4321"}, headers=HEADERS)
    assert locked.get_json()["error"] == "pin_locked"

    from server.extensions import db
    from server.field.models import VolunteerPin

    with app.app_context():
        db.session.get_one(VolunteerPin, zhang).locked_until = None
        db.session.commit()
    assert new.post("/v/pin", json={"pin": "4321"}, headers=HEADERS).status_code == 200
    assert new.get("/v/").status_code == 200


def test_hours_points_a_code_for_a_merchant_and_the_certificate(app: Flask, jobs: Jobs) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.passbook.services import award_bonus
    from server.volunteers.models import Volunteer

    zhang = jobs.seed.volunteers["lanqiao"][0]
    with app.app_context():
        award_bonus(db.session.get_one(Volunteer, zhang), 30, "优秀志愿者", "bonus-1", Actor("sw"))
        db.session.commit()
    phone = phone_of(app, zhang)
    page = phone.get("/v/hours").get_data(as_text=True)
    assert 'id="balance">30<' in page
    assert "优秀志愿者" in page
    code = phone.post("/v/code", json={"points": 20}, headers=HEADERS)
    assert code.status_code == 200
    assert len(code.get_json()["code"]) == 11
    too_much = phone.post("/v/code", json={"points": 31}, headers=HEADERS)
    assert too_much.status_code == 409
    record = phone.get("/v/record").get_data(as_text=True)
    assert "志愿服务记录证明" in record
    assert "张师傅 lanqiao" in record


def test_a_team_lead_linked_to_their_volunteer_record_sees_their_teams_queue(
    app: Flask, jobs: Jobs
) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.field.services import link_user
    from server.volunteers.models import Volunteer
    from tests.server.seed import login

    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    rid = jobs.requests["lanqiao"]
    other = new_job(app, "lanqiao", jobs.seed.community["lanqiao"])
    dispatch(app, rid, jobs.seed.team["lanqiao"], [li])
    dispatch(app, other, jobs.seed.team["lanqiao"], [li])
    lead = app.test_client()
    login(lead, "team_lead_lanqiao")
    unlinked = lead.get("/console/me/phone")
    assert unlinked.status_code == 303
    assert "/v/" not in unlinked.headers["Location"]
    with app.app_context():
        link_user(db.session.get_one(Volunteer, zhang), "team_lead_lanqiao", Actor("sw"))
        db.session.commit()
    opened = lead.get("/console/me/phone")
    assert opened.status_code == 303
    assert opened.headers["Location"].endswith("/v/")
    page = lead.get("/v/").get_data(as_text=True)
    assert 'id="team-queue"' in page
    assert page.count("李阿姨 lanqiao 待接单") == 2
    plain = phone_of(app, li).get("/v/").get_data(as_text=True)
    assert 'id="team-queue"' not in plain


@pytest.mark.parametrize(
    "bad", [{"id": "not-a-uuid"}, {"id": "0190f7f4-0c4e-4c4e-8c4e-0c4e0c4e0c4e"}]
)
def test_an_action_needs_a_uuid7(app: Flask, jobs: Jobs, bad: dict[str, str]) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    answer = send(phone_of(app, zhang), dict(action("accept", rid), **bad), action("accept", rid))
    assert answer.status_code == 200
    refused, taken = answer.get_json()["results"]
    assert (refused["status"], refused["error"]) == ("rejected", "bad_id")
    assert taken["status"] == "applied"  # one malformed action does not block the next


def test_an_action_on_a_job_that_does_not_exist_is_refused_and_blocks_nothing(
    app: Flask, jobs: Jobs
) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    (result,) = send(phone_of(app, zhang), action("accept", 2**31 - 1)).get_json()["results"]
    assert (result["status"], result["error"]) == ("rejected", "not_found")


def test_the_dispatch_form_ranks_free_today_then_served_before_then_skilled(
    app: Flask, jobs: Jobs
) -> None:
    from server.extensions import db
    from server.field.queries import rosters
    from server.requests.models import HelpRequest
    from server.volunteers.models import Volunteer

    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    team = jobs.seed.team["lanqiao"]
    earlier = jobs.requests["lanqiao"]
    dispatch(app, earlier, team, [zhang])
    send(
        phone_of(app, zhang),
        action("accept", earlier),
        action("arrive", earlier),
        action("complete", earlier, note="修好了", minutes=20),
    )
    rid = new_job(app, "lanqiao", jobs.seed.community["lanqiao"], jobs.residents["lanqiao"])

    def order() -> list[tuple[str, bool, bool, bool]]:
        with app.app_context():
            req = db.session.get_one(HelpRequest, rid)
            return [
                (e.name, e.free_today, e.served_before, e.skilled)
                for e in rosters(req, [team])[team]
            ]

    assert order() == [
        ("张师傅 lanqiao", False, True, False),
        ("李阿姨 lanqiao", False, False, False),
    ]
    with app.app_context():
        db.session.get_one(Volunteer, li).skills = ["electrical"]
        db.session.commit()
    assert order()[1] == ("李阿姨 lanqiao", False, False, True)
    li_phone = phone_of(app, li)
    assert li_phone.post("/v/today", json={"free": True}, headers=HEADERS).status_code == 200
    assert order()[0] == ("李阿姨 lanqiao", True, False, True)
    assert "今天有空 ✓" in li_phone.get("/v/").get_data(as_text=True)
    li_phone.post("/v/today", json={"free": False}, headers=HEADERS)
    assert order()[0][0] == "张师傅 lanqiao"


@pytest.mark.parametrize(
    ("text", "day", "expected"),
    [
        ("随时", "2026-11-30", True),
        ("周末", "2026-11-29", True),
        ("周末", "2026-11-30", False),
        ("工作日晚上", "2026-11-30", True),
        ("周一 周三", "2026-12-02", True),
        ("星期五", "2026-12-02", False),
        ("看情况", "2026-11-30", None),
        ("", "2026-11-30", None),
    ],
)
def test_weekly_availability_as_typed_says_who_is_on_duty_today(
    text: str, day: str, expected: bool | None
) -> None:
    from datetime import date

    from server.field.queries import on_duty

    assert on_duty(text, date.fromisoformat(day)) is expected
