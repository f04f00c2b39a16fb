"""A request made for a watched elder's room, from the kiosk or by staff, and a job completed
there are signs of life for the watched residents of that room; other rooms record nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.syncapi.test_sync_api import op, push


def _watch_room(app: Flask, community_id: int, room: str) -> int:
    """A resident of `room`, watched daily, overdue at step 1; returns the plan's id."""
    from server.audit.actor import Actor
    from server.carewatch.services import PlanInput, evaluate, set_plan
    from server.extensions import db
    from server.people.services import ProfileInput, create_resident
    from server.timeutil import utcnow

    with app.app_context():
        profile = ProfileInput(room, "王大爷", None, 1940, True, "independent", None, None)
        resident = create_resident(community_id, profile, Actor("setup"), "setup")
        plan = set_plan(
            resident,
            PlanInput(True, "living_alone", "daily", "given", "本人同意"),
            Actor("setup"),
            "setup",
        )
        plan.watched_since = utcnow() - timedelta(days=2)
        evaluate()
        db.session.commit()
        return int(plan.id)


def _signs_and_open_steps(app: Flask, plan_id: int) -> tuple[list[tuple[str, int | None]], int]:
    from server.carewatch.models import CareStep, SignOfLife
    from server.extensions import db

    with app.app_context():
        signs = [
            (s.channel, s.resident_id)
            for s in db.session.execute(sa.select(SignOfLife).order_by(SignOfLife.id)).scalars()
        ]
        open_steps = db.session.scalar(
            sa.select(sa.func.count(CareStep.id)).where(
                CareStep.plan_id == plan_id, CareStep.closed_at.is_(None)
            )
        )
        return signs, int(open_steps or 0)


def test_a_kiosk_request_for_the_room_closes_the_open_step_once(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    plan_id = _watch_room(app, enrolled["community"]["id"], "3-2-301")
    assert _signs_and_open_steps(app, plan_id) == ([], 1)
    ops = [op(1, room="3-2-301"), op(2, room="3-2-302")]
    for _ in range(2):  # a replayed batch records nothing again
        assert push(client, enrolled["token"], ops).status_code == 200
    assert _signs_and_open_steps(app, plan_id) == ([("request", None)], 0)


def test_a_completed_job_in_the_room_is_a_sign_of_life(app: Flask, world: Any) -> None:
    from server.audit.actor import Actor
    from server.carewatch.models import SignOfLife
    from server.extensions import db
    from server.requests.models import HelpRequest
    from server.requests.services import accept, arrive, complete, dispatch, triage

    community_id = world.community["lanqiao"]
    plan_id = _watch_room(app, community_id, "3-2-301")
    worker = Actor("social worker")
    with app.test_request_context():
        from server.dispatch.models import Team

        req = db.session.get_one(HelpRequest, world.requests["lanqiao"])
        triage(req, worker, req.category, "normal", None)
        dispatch(req, worker, db.session.get_one(Team, world.teams["lanqiao"]), None, None)
        accept(req, worker)
        arrive(req, worker)
        complete(req, worker, "换了灯泡", 1.0)
        db.session.commit()
        channels = db.session.execute(sa.select(SignOfLife.channel)).scalars().all()
        assert channels == ["job"]
    assert _signs_and_open_steps(app, plan_id)[1] == 0


def test_a_kiosk_checkin_resets_the_elders_clock_once(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """报平安 for the room (replayed, as a kiosk retrying a lost answer would) is one sign of
    life: the open step closes, and the board shows the elder on rhythm again, seen at the
    kiosk, due a full rhythm after the tap."""
    from server.carewatch.queries import board
    from server.timeutil import utcnow
    from tests.server.syncapi.test_checkins import checkin

    community_id = enrolled["community"]["id"]
    plan_id = _watch_room(app, community_id, "3-2-301")
    with app.app_context():
        (before,) = board(community_id)
        assert before.is_overdue
        assert before.step is not None
    tapped = utcnow() - timedelta(minutes=5)
    for _ in range(2):
        assert (
            push(client, enrolled["token"], [checkin(1, "3-2-301", at=tapped)]).status_code == 200
        )
    assert _signs_and_open_steps(app, plan_id) == ([("kiosk", None)], 0)
    with app.app_context():
        (after,) = board(community_id)
        assert after.last_channel == "kiosk"
        assert after.last_at == tapped
        assert after.step is None
        assert not after.is_overdue
        assert after.due > utcnow() + timedelta(hours=23)
