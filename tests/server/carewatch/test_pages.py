"""The care watch in the console: a plan set on a profile, the board, logged contacts."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, csrf_token, login


def _plan_form(token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "is_watched": "1",
        "reason": "living_alone",
        "rhythm": "every_2_3_days",
        "consent": "given",
        "consent_note": "本人当面同意",
        "family_name": "王小明",
        "family_phone": "13900000002",
        "quiet_reason": "",
        "quiet_until": "",
        "why": "独居高龄，社工评估",
    }
    form.update(changes)
    return form


def test_a_social_worker_sets_a_plan_and_sees_the_resident_on_the_board(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.audit.models import AuditEntry
    from server.carewatch.models import CarePlan
    from server.extensions import db

    login(client, "social_worker_lanqiao")
    resident = world.residents["lanqiao"]
    plan_url = f"/console/care/residents/{resident}/plan"
    token = csrf_token(client, plan_url)
    answer = client.post(plan_url, data=_plan_form(token))
    assert answer.status_code == 303, answer.get_data(as_text=True)
    board = client.get(f"/console/care/{world.community['lanqiao']}")
    text = board.get_data(as_text=True)
    assert board.status_code == 200
    assert "RESIDENT-LANQIAO" in text
    assert "每两三天" in text
    client.set_cookie("lang", "en")
    english = client.get(f"/console/care/{world.community['lanqiao']}").get_data(as_text=True)
    client.set_cookie("lang", "zh")
    assert "Every 2 to 3 days" in english
    assert "Care watch" in english
    with app.app_context():
        plan = db.session.execute(sa.select(CarePlan)).scalar_one()
        assert (plan.is_watched, plan.consent, plan.family_phone) == (True, "given", "13900000002")
        whats = set(
            db.session.execute(
                sa.select(AuditEntry.what).where(AuditEntry.community_id == plan.community_id)
            ).scalars()
        )
        assert {"care watch board", "care plan: watched, living_alone, every_2_3_days"} <= whats


def test_a_plan_without_its_consent_note_is_refused_and_nothing_kept(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.carewatch.models import CarePlan
    from server.extensions import db

    login(client, "social_worker_lanqiao")
    plan_url = f"/console/care/residents/{world.residents['lanqiao']}/plan"
    token = csrf_token(client, plan_url)
    answer = client.post(plan_url, data=_plan_form(token, consent_note=" "))
    assert answer.status_code == 400
    assert "请写明同意（或拒绝）的方式" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(CarePlan.id))).scalar() == 0


def test_a_quiet_period_until_a_date_is_shown_on_the_board(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "social_worker_lanqiao")
    plan_url = f"/console/care/residents/{world.residents['lanqiao']}/plan"
    token = csrf_token(client, plan_url)
    form = _plan_form(token, quiet_reason="visiting_family", quiet_until="2099-01-15")
    assert client.post(plan_url, data=form).status_code == 303
    text = client.get(f"/console/care/{world.community['lanqiao']}").get_data(as_text=True)
    assert "暂停至 2099-01-15" in text
    assert 'value="2099-01-15"' in client.get(plan_url).get_data(as_text=True)


def test_a_logged_call_is_recorded_once_per_form(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.carewatch.models import CareStep, SignOfLife
    from server.extensions import db

    login(client, "social_worker_lanqiao")
    resident = world.residents["lanqiao"]
    plan_url = f"/console/care/residents/{resident}/plan"
    token = csrf_token(client, plan_url)
    assert client.post(plan_url, data=_plan_form(token)).status_code == 303
    contact = {
        "csrf_token": token,
        "key": "form-1",
        "channel": "staff_call",
        "outcome": "no_answer",
        "note": "没接通",
        "back": "plan",
    }
    for _ in range(2):
        answer = client.post(f"/console/care/residents/{resident}/contact", data=contact)
        assert answer.status_code == 303
        assert answer.headers["Location"].endswith(plan_url)
    with app.app_context():
        signs = db.session.execute(sa.select(SignOfLife)).scalars().all()
        assert [(s.channel, s.outcome) for s in signs] == [("staff_call", "no_answer")]
        steps = db.session.execute(sa.select(CareStep)).scalars().all()
        assert [(s.step, s.is_urgent) for s in steps] == [(2, True)]
    page = client.get(plan_url).get_data(as_text=True)
    assert "第二步：社工电话联系" in page
    assert "没开门 / 没接通" in page


def test_a_residents_export_and_erasure_carry_their_care_watch(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """PIPL: the export lists the plan, signs and steps; deleting the person deletes them."""
    import json

    from server.carewatch.models import CarePlan, CareStep, SignOfLife
    from server.extensions import db

    login(client, "social_worker_lanqiao")
    resident = world.residents["lanqiao"]
    plan_url = f"/console/care/residents/{resident}/plan"
    token = csrf_token(client, plan_url)
    assert client.post(plan_url, data=_plan_form(token)).status_code == 303
    contact = {"csrf_token": token, "key": "k", "channel": "visit", "outcome": "no_answer"}
    assert (
        client.post(f"/console/care/residents/{resident}/contact", data=contact).status_code == 303
    )
    exported = client.post(
        f"/console/residents/{resident}/export", data={"csrf_token": token, "reason": "asked"}
    )
    care = json.loads(exported.get_data(as_text=True))["care_watch"]
    assert care["plan"]["family_phone"] == "13900000002"
    assert [s["outcome"] for s in care["signs_of_life"]] == ["no_answer"]
    assert [s["step"] for s in care["follow_up"]] == [2]
    erased = client.post(
        f"/console/residents/{resident}/delete",
        data={"csrf_token": token, "reason": "asked", "confirm": "DELETE"},
    )
    assert erased.status_code == 303
    with app.app_context():
        for model in (CarePlan, CareStep, SignOfLife):
            assert db.session.scalar(sa.select(sa.func.count(model.id))) == 0


def test_the_board_reads_the_same_number_of_queries_for_one_or_many(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """No query per watched resident: 1 and 12 watched elders (some overdue at a step) cost the
    same statements."""
    from datetime import timedelta

    from server.audit.actor import Actor
    from server.carewatch.services import PlanInput, Sign, evaluate, record_sign, set_plan
    from server.extensions import db
    from server.people.services import ProfileInput, create_resident
    from server.timeutil import utcnow
    from tests.server.conftest import count_queries

    community = world.community["lanqiao"]
    board_url = f"/console/care/{community}"
    login(client, "social_worker_lanqiao")

    def watch(count: int) -> None:
        with app.test_request_context():
            for n in range(count):
                room = ("3-2-301", "3-2-302", "3-1-101", "1-1-101", "1-1-102")[n % 5]
                profile = ProfileInput(
                    room, f"老人{n}", None, 1940, True, "independent", None, None
                )
                resident = create_resident(community, profile, Actor("t"), "t")
                plan = set_plan(
                    resident,
                    PlanInput(True, "elderly", "daily", "given", "同意"),
                    Actor("t"),
                    "t",
                )
                plan.watched_since = utcnow() - timedelta(days=2)
                if n % 3:
                    sign = Sign(community, "meal", utcnow(), f"m{n}", "t", resident_id=resident.id)
                    record_sign(sign)
            evaluate()
            db.session.commit()

    def statements() -> int:
        with count_queries(app) as seen:
            assert client.get(board_url).status_code == 200
        return len(seen)

    watch(1)
    one = statements()
    watch(11)
    assert statements() == one
