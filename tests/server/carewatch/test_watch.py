"""The staged follow-up: one step per episode however often (and wherever) the watch is
evaluated; outcomes raise the next step; quiet periods pause the watch; a sign of life
closes what is open."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.server.conftest import World
from tests.server.seed import new_volunteer

NOON = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
NIGHT = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 00:00 in Asia/Shanghai


def _watch(world: World, slug: str = "lanqiao", **changes: Any) -> int:
    """Watch the world's resident of `slug` daily, their clock started two days before noon."""
    from server.audit.actor import Actor
    from server.carewatch.services import PlanInput, set_plan
    from server.extensions import db
    from server.people.models import Resident

    resident = db.session.get_one(Resident, world.residents[slug])
    captain = new_volunteer(world.community[slug], f"楼长 {slug}", "13900000009")
    fields: dict[str, Any] = {
        "is_watched": True,
        "reason": "living_alone",
        "rhythm": "daily",
        "consent": "given",
        "consent_note": "本人当面同意",
        "captain_id": captain,
    }
    fields.update(changes)
    plan = set_plan(resident, PlanInput(**fields), Actor("social worker"), "new plan")
    plan.watched_since = NOON - timedelta(days=2)
    db.session.commit()
    return int(plan.id)


def _steps(plan_id: int) -> list[tuple[int, bool, bool]]:
    """(step, urgent, open) of the plan's steps, in order."""
    from server.carewatch.models import CareStep
    from server.extensions import db

    rows = db.session.execute(
        sa.select(CareStep).where(CareStep.plan_id == plan_id).order_by(CareStep.id)
    ).scalars()
    return [(s.step, s.is_urgent, s.closed_at is None) for s in rows]


def _sign(world: World, key: str, slug: str = "lanqiao", **changes: Any) -> None:
    from server.carewatch.services import Sign, record_sign
    from server.extensions import db

    fields: dict[str, Any] = {
        "community_id": world.community[slug],
        "resident_id": world.residents[slug],
        "channel": "kiosk",
        "at": NOON,
        "source_key": key,
        "recorded_by": "test",
    }
    fields.update(changes)
    record_sign(Sign(**fields))
    db.session.commit()


def test_a_missed_rhythm_raises_one_visit_task_however_often_evaluated(
    app: Flask, world: World
) -> None:
    from server.carewatch.services import evaluate
    from server.extensions import db
    from server.outbox.models import OutboxMessage

    app.config["LINLI_CARE_NOTIFY_URL"] = world.dead_url
    with app.test_request_context():
        plan_id = _watch(world)
        for _ in range(3):
            evaluate(NOON)
            db.session.commit()
        evaluate(NOON + timedelta(minutes=5))
        db.session.commit()
        assert _steps(plan_id) == [(1, False, True)]
        messages = db.session.execute(sa.select(OutboxMessage.body)).scalars().all()
        assert len(messages) == 1
        assert messages[0]["room"] == "3-2-301"
        assert "RESIDENT" not in str(messages[0])  # no name leaves the server


def test_two_hosts_evaluating_at_once_raise_one_step(
    app: Flask, world: World, backend: str
) -> None:
    """Two connections (as two hosts would) evaluate at the same moment, without the lock:
    the step's unique name lets one of them create it."""
    if backend != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite has one writer)")
    from server.carewatch.services import evaluate
    from server.extensions import db

    with app.app_context():
        plan_id = _watch(world)
    barrier = threading.Barrier(2)
    raised: list[int] = []
    errors: list[BaseException] = []

    def host() -> None:
        try:
            with app.test_request_context():
                barrier.wait(timeout=10)
                raised.append(evaluate(NOON).raised)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=host) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(raised) == [0, 1]
    with app.app_context():
        assert _steps(plan_id) == [(1, False, True)]


def test_a_step_without_outcome_leads_to_the_social_workers_call(app: Flask, world: World) -> None:
    from server.carewatch.services import evaluate
    from server.extensions import db

    with app.test_request_context():
        plan_id = _watch(world)
        evaluate(NOON)
        evaluate(NOON + timedelta(hours=1))
        assert _steps(plan_id) == [(1, False, True)]
        evaluate(NOON + timedelta(hours=4))
        evaluate(NOON + timedelta(hours=5))
        db.session.commit()
        assert _steps(plan_id) == [(1, False, True), (2, False, True)]


def test_no_answer_at_the_door_goes_straight_to_step_2(app: Flask, world: World) -> None:
    with app.test_request_context():
        plan_id = _watch(world)
        _sign(world, "visit:1", channel="visit", outcome="no_answer")
        assert _steps(plan_id) == [(2, True, True)]


def test_no_answer_on_a_visit_task_raises_the_next_step_of_the_episode(
    app: Flask, world: World
) -> None:
    from server.carewatch.models import CareStep
    from server.carewatch.services import evaluate
    from server.extensions import db

    with app.test_request_context():
        plan_id = _watch(world)
        evaluate(NOON)
        _sign(world, "visit:1", channel="visit", outcome="no_answer", at=NOON + timedelta(hours=1))
        assert _steps(plan_id) == [(1, False, True), (2, True, True)]
        first = db.session.execute(sa.select(CareStep).where(CareStep.step == 1)).scalar_one()
        assert (first.outcome, first.outcome_by) == ("no_answer", "test")


def test_needs_help_closes_the_visit_and_raises_the_call(app: Flask, world: World) -> None:
    from server.carewatch.services import evaluate

    with app.test_request_context():
        plan_id = _watch(world)
        evaluate(NOON)
        _sign(world, "visit:1", channel="visit", outcome="needs_help", at=NOON + timedelta(hours=1))
        assert _steps(plan_id) == [(1, False, False), (2, True, True)]


def test_a_quiet_period_suppresses_the_watch(app: Flask, world: World) -> None:
    from server.carewatch.services import evaluate

    until = NOON + timedelta(days=3)
    with app.test_request_context():
        plan_id = _watch(world, quiet_reason="in_hospital", quiet_until=until)
        evaluate(NOON)
        evaluate(until - timedelta(minutes=1))
        assert _steps(plan_id) == []
        # The rhythm counts again from the end of the quiet period (1 day + 6 h grace).
        evaluate(until + timedelta(hours=29))
        assert _steps(plan_id) == []
        evaluate(until + timedelta(hours=30))
        assert _steps(plan_id) == [(1, False, True)]


@pytest.mark.parametrize("channel", ["kiosk", "request"])
def test_a_sign_of_life_closes_open_steps(app: Flask, world: World, channel: str) -> None:
    from server.audit.actor import Actor
    from server.carewatch.models import SignOfLife
    from server.carewatch.services import evaluate
    from server.extensions import db
    from server.requests.services import Intake, create_by_staff

    with app.test_request_context():
        plan_id = _watch(world)
        evaluate(NOON)
        evaluate(NOON + timedelta(hours=4))
        assert _steps(plan_id) == [(1, False, True), (2, False, True)]
        if channel == "kiosk":
            _sign(world, "kiosk:op-1", at=NOON + timedelta(hours=5))
        else:
            intake = Intake(
                community_id=world.community["lanqiao"],
                category="electrical",
                room="3-2-301",
                channel="phone",
                phone=None,
                details="灯坏了",
                on_behalf=False,
                reporter_kind="",
                reporter_name=None,
            )
            create_by_staff(intake, Actor("social worker"))
            db.session.commit()
            room_sign = db.session.execute(
                sa.select(SignOfLife).where(SignOfLife.channel == "request")
            ).scalar_one()
            assert room_sign.resident_id is None  # a room sign counts for its watched residents
        assert _steps(plan_id) == [(1, False, False), (2, False, False)]
        # The clock restarts from that sign: nothing new is raised at once.
        evaluate(NOON + timedelta(hours=6))
        assert [s for s in _steps(plan_id) if s[2]] == []


def test_an_older_sign_synced_late_does_not_close_the_episode(app: Flask, world: World) -> None:
    from server.carewatch.services import evaluate

    with app.test_request_context():
        plan_id = _watch(world)
        _sign(world, "kiosk:recent", at=NOON - timedelta(days=1, hours=7))
        evaluate(NOON)
        _sign(world, "kiosk:old", at=NOON - timedelta(days=1, hours=8))
        assert _steps(plan_id) == [(1, False, True)]


def test_at_night_the_step_is_made_and_its_notification_waits_for_the_morning(
    app: Flask, world: World
) -> None:
    from server.carewatch.models import CareStep
    from server.carewatch.services import evaluate
    from server.extensions import db
    from server.outbox.models import OutboxMessage

    app.config["LINLI_CARE_NOTIFY_URL"] = world.dead_url
    morning = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 07:00 on 1 December, local
    with app.test_request_context():
        _watch(world)
        evaluate(NIGHT)
        db.session.commit()
        step = db.session.execute(sa.select(CareStep)).scalar_one()
        message = db.session.execute(sa.select(OutboxMessage)).scalar_one()
        assert step.created_at == NIGHT
        assert step.notify_at == morning
        assert message.next_attempt_at == morning


def test_a_declining_elder_is_recorded_and_not_watched(app: Flask, world: World) -> None:
    from server.audit.models import AuditEntry
    from server.carewatch.models import CarePlan
    from server.carewatch.services import evaluate
    from server.extensions import db

    with app.test_request_context():
        plan_id = _watch(world, consent="declined", consent_note="本人婉拒，家属知情")
        evaluate(NOON)
        plan = db.session.get_one(CarePlan, plan_id)
        assert (plan.is_watched, plan.consent) == (False, "declined")
        assert _steps(plan_id) == []
        audit = db.session.execute(
            sa.select(AuditEntry.what).where(AuditEntry.resident_id == world.residents["lanqiao"])
        ).scalars()
        assert "care plan: declined, living_alone, daily" in list(audit)


def test_the_timer_evaluates_under_the_lock_and_records_the_delivery(
    app: Flask, world: World
) -> None:
    """What the 5-minute timer runs, outside any request: the step is raised and its visit
    task sent (by day; at night it waits for 07:00), a failed delivery shown on the step; while
    the nightly lock is held elsewhere, the timer leaves the evaluation to its holder."""
    from server.carewatch.models import CareStep
    from server.extensions import db
    from server.ops.nightly import exclusive, frequent
    from server.timeutil import utcnow

    app.config["LINLI_CARE_NOTIFY_URL"] = world.dead_url
    with app.app_context():
        plan_id = _watch(world)
        watch, attempted = frequent(app)
        assert watch == "1 watched resident(s), 1 follow-up step(s) raised"
        step = db.session.execute(sa.select(CareStep)).scalar_one()
        assert (step.plan_id, step.step) == (plan_id, 1)
        by_day = step.notify_at is not None and step.notify_at <= utcnow()
        assert attempted == (1 if by_day else 0)
        assert (step.notify_error is not None) == by_day
        with exclusive(app):
            assert frequent(app)[0] == "care watch evaluated elsewhere (lock held)"


def test_a_sign_committed_while_the_step_was_raised_closes_it_at_the_next_run(
    app: Flask, world: World
) -> None:
    """Another transaction recorded a sign of life while this one raised the step (neither saw
    the other): the next evaluation finds the sign and closes the episode."""
    from server.carewatch.models import SignOfLife
    from server.carewatch.services import evaluate
    from server.extensions import db

    with app.test_request_context():
        plan_id = _watch(world)
        evaluate(NOON)
        db.session.add(
            SignOfLife(
                community_id=world.community["lanqiao"],
                resident_id=world.residents["lanqiao"],
                channel="kiosk",
                at=NOON - timedelta(minutes=1),
                source_key="kiosk:raced",
                recorded_by="kiosk:hall",
            )
        )
        db.session.commit()
        assert _steps(plan_id) == [(1, False, True)]
        evaluate(NOON + timedelta(minutes=5))
        assert _steps(plan_id) == [(1, False, False)]
        evaluate(NOON + timedelta(minutes=10))
        assert _steps(plan_id) == [(1, False, False)]
