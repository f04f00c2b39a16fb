"""我的守望 on a volunteer's phone: the elders whose care plan names them (room and name, the
last sign of life, an open visit task), and visits and calls recorded once each as signs of
life through the phone's action queue; 没开门 / 没接通 go straight to the social worker."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from tests.server.field.conftest import HEADERS, Jobs, care, phone_of, send, watch


def _signs(app: Flask) -> list[tuple[str, str, int | None, str, str]]:
    from server.carewatch.models import SignOfLife
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(sa.select(SignOfLife).order_by(SignOfLife.id)).scalars()
        return [(s.channel, s.outcome, s.resident_id, s.source_key, s.recorded_by) for s in rows]


def _steps(app: Flask, plan_id: int) -> list[tuple[int, bool, bool]]:
    from server.carewatch.models import CareStep
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            sa.select(CareStep).where(CareStep.plan_id == plan_id).order_by(CareStep.id)
        ).scalars()
        return [(s.step, s.is_urgent, s.closed_at is None) for s in rows]


def test_the_captain_sees_the_elder_by_room_and_name_without_health_details(
    app: Flask, jobs: Jobs
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    resident = jobs.residents["lanqiao"]
    watch(app, resident, zhang, li)
    for volunteer in (zhang, li):
        phone = phone_of(app, volunteer)
        assert "我的守望" in phone.get("/v/").get_data(as_text=True)
        page = phone.get("/v/watch").get_data(as_text=True)
        assert "3-2-301 · RESIDENT-LANQIAO" in page
        assert "还没有记录" in page
        one = phone.get(f"/v/watch/{resident}").get_data(as_text=True)
        for word in ("探访", "没开门", "电话", "没接通"):
            assert word in one
        for private in ("13800000001", "13900000009", "钥匙在邻居家", "助行器", "独居"):
            assert private not in page + one
    with app.app_context():
        views = db.session.execute(
            sa.select(AuditEntry.actor).where(
                AuditEntry.what == "care watch: room, name, last sign of life",
                AuditEntry.resident_id == resident,
            )
        ).scalars()
        # every view (list and page, by each of them) is in the audit log
        assert sorted(v.split(":")[1] for v in views) == sorted([str(zhang), str(li)] * 2)


def test_a_visit_is_recorded_once_as_a_sign_of_life(app: Flask, jobs: Jobs) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    resident = jobs.residents["lanqiao"]
    watch(app, resident, zhang)
    phone = phone_of(app, zhang)
    visit = care("visit", resident, "ok")
    for _ in range(3):  # a retry, a double tap: the same answer, one sign
        (result,) = send(phone, visit).get_json()["results"]
        assert result["status"] == "applied", result
    ((channel, outcome, whose, key, by),) = _signs(app)
    assert (channel, outcome, whose, key) == ("visit", "ok", resident, f"field:{visit['id']}")
    assert by.startswith(f"volunteer:{zhang}:")
    other = dict(visit, outcome="no_answer")
    (reused,) = send(phone, other).get_json()["results"]
    assert reused["error"] == "id_reused"
    page = phone.get("/v/watch").get_data(as_text=True)
    assert "还没有记录" not in page


def test_no_answer_raises_the_next_step_at_once_and_the_page_says_so(
    app: Flask, jobs: Jobs
) -> None:
    from server.carewatch.services import evaluate
    from server.timeutil import utcnow

    zhang = jobs.seed.volunteers["lanqiao"][0]
    resident = jobs.residents["lanqiao"]
    plan_id = watch(app, resident, zhang)
    with app.app_context():
        from server.extensions import db

        evaluate(utcnow() + timedelta(days=3))  # the rhythm missed: a visit task for zhang
        db.session.commit()
    assert _steps(app, plan_id) == [(1, False, True)]
    phone = phone_of(app, zhang)
    assert "请去探访" in phone.get(f"/v/watch/{resident}").get_data(as_text=True)
    assert "待探访" in phone.get("/v/watch").get_data(as_text=True)
    (result,) = send(phone, care("visit", resident, "no_answer")).get_json()["results"]
    assert result["status"] == "applied"
    assert _steps(app, plan_id) == [(1, False, True), (2, True, True)]
    after = phone.get(f"/v/watch/{resident}").get_data(as_text=True)
    assert "社工已接手跟进（第 2 步）" in after
    assert "请去探访" not in after  # reported on: no longer waiting for this volunteer
    (call,) = send(phone, care("call", resident, "ok")).get_json()["results"]
    assert call["status"] == "applied"
    assert [open_ for _, _, open_ in _steps(app, plan_id)] == [False, False]


def test_a_call_needing_help_raises_an_urgent_step_two(app: Flask, jobs: Jobs) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    resident = jobs.residents["lanqiao"]
    plan_id = watch(app, resident, zhang)
    phone = phone_of(app, zhang)
    (result,) = send(phone, care("call", resident, "needs_help")).get_json()["results"]
    assert result["status"] == "applied"
    assert _steps(app, plan_id) == [(2, True, True)]


def test_a_bad_care_action_is_refused_and_the_others_still_go(app: Flask, jobs: Jobs) -> None:
    zhang = jobs.seed.volunteers["lanqiao"][0]
    resident = jobs.residents["lanqiao"]
    watch(app, resident, zhang)
    phone = phone_of(app, zhang)
    bad = dict(care("visit", resident, "fine"))
    no_one = care("call", resident, "ok")
    del no_one["resident_id"]
    good = care("call", resident, "ok")
    answer = phone.post("/v/actions", json={"actions": [bad, no_one, good]}, headers=HEADERS)
    results = answer.get_json()["results"]
    assert [r["error"] for r in results] == ["bad_outcome", "bad_resident_id", None]
    assert [s[0] for s in _signs(app)] == ["call"]
