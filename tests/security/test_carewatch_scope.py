"""The care watch, route by route, as a hostile user would try it: watched elders and their
care are sensitive personal information, seen only by the staff of their community.

Every carewatch route is walked for every role: staff of the community reach their own
records; staff of another community find nothing (404) and change nothing; team leads and
viewers are refused (403) everywhere; a visit task sent out names a room, never a person.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import ROLES, World, csrf_token, login

STAFF_ROLES = {"admin", "social_worker"}


def _watch_feicui(app: Flask, world: World) -> None:
    """Feicui's resident watched, overdue, with a visit task for its captain."""
    from server.audit.actor import Actor
    from server.carewatch.services import PlanInput, evaluate, set_plan
    from server.extensions import db
    from server.people.models import Resident
    from tests.server.seed import new_volunteer

    app.config["LINLI_CARE_NOTIFY_URL"] = world.dead_url
    with app.test_request_context():
        resident = db.session.get_one(Resident, world.residents["feicui"])
        captain = new_volunteer(world.community["feicui"], "楼长甲", "13900000009")
        plan = set_plan(
            resident,
            PlanInput(True, "living_alone", "daily", "given", "本人同意", captain_id=captain),
            Actor("setup"),
            "setup",
        )
        plan.watched_since = datetime.now(UTC) - timedelta(days=3)
        evaluate()
        db.session.commit()


def _routes(world: World, slug: str) -> list[tuple[str, str, dict[str, str]]]:
    resident = world.residents[slug]
    return [
        ("GET", "/console/care", {}),
        ("GET", f"/console/care/{world.community[slug]}", {}),
        ("GET", f"/console/care/residents/{resident}/plan", {}),
        (
            "POST",
            f"/console/care/residents/{resident}/plan",
            {
                "is_watched": "",
                "reason": "elderly",
                "rhythm": "weekly",
                "consent": "declined",
                "consent_note": "INTRUDER",
                "why": "INTRUDER",
            },
        ),
        (
            "POST",
            f"/console/care/residents/{resident}/contact",
            {"key": "intruder", "channel": "staff_call", "outcome": "ok", "note": "INTRUDER"},
        ),
    ]


def _state(app: Flask, world: World) -> Any:
    from server.audit.models import AuditEntry
    from server.carewatch.models import CarePlan, CareStep, SignOfLife
    from server.extensions import db

    with app.app_context():
        plan = db.session.execute(sa.select(CarePlan)).scalar_one()
        return (
            (plan.is_watched, plan.reason, plan.rhythm, plan.consent_note),
            db.session.scalar(sa.select(sa.func.count(SignOfLife.id))),
            [(s.step, s.closed_at) for s in db.session.execute(sa.select(CareStep)).scalars()],
            db.session.scalar(
                sa.select(sa.func.count()).where(
                    AuditEntry.community_id == world.community["feicui"]
                )
            ),
        )


@pytest.mark.parametrize("role", ROLES)
def test_every_care_route_keeps_to_its_community(app: Flask, world: World, role: str) -> None:
    _watch_feicui(app, world)
    client = app.test_client()
    login(client, f"{role}_lanqiao")
    token = csrf_token(client, "/login")
    before = _state(app, world)
    for method, url, form in _routes(world, "feicui"):
        answer = client.open(url, method=method, data={**form, "csrf_token": token})
        body = answer.get_data(as_text=True)
        where = f"{method} {url} as {role}_lanqiao"
        if role not in STAFF_ROLES:
            assert answer.status_code == 403, where
        elif url == "/console/care":
            assert answer.status_code in (200, 302), where
        else:
            assert answer.status_code == 404, where
        assert "RESIDENT-FEICUI" not in body, where
        assert "13900000009" not in body, where
    assert _state(app, world) == before


@pytest.mark.parametrize("role", ROLES)
def test_staff_reach_their_own_communitys_watch(
    app: Flask, client: FlaskClient, world: World, role: str
) -> None:
    _watch_feicui(app, world)
    login(client, f"{role}_feicui")
    for method, url, _form in _routes(world, "feicui")[:3]:
        answer = client.open(url, method=method)
        if role in STAFF_ROLES:
            assert answer.status_code in (200, 302), f"{method} {url} as {role}"
        else:
            assert answer.status_code == 403, f"{method} {url} as {role}"
    if role in STAFF_ROLES:
        board = client.get(f"/console/care/{world.community['feicui']}").get_data(as_text=True)
        assert "RESIDENT-FEICUI" in board
        assert "第一步" in board


def test_the_visit_task_names_a_room_and_no_person(app: Flask, world: World) -> None:
    from server.extensions import db
    from server.outbox.models import OutboxMessage

    _watch_feicui(app, world)
    with app.app_context():
        message = db.session.execute(sa.select(OutboxMessage)).scalar_one()
        text = str(message.body)
        assert message.kind == "care_visit"
        assert "7-1-101" in text
        assert "RESIDENT-FEICUI" not in text
        assert "living_alone" not in text
        assert "独居" not in text


def test_care_pages_need_a_session_and_posts_a_csrf_token(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _watch_feicui(app, world)
    for method, url, form in _routes(world, "feicui"):
        answer = client.open(url, method=method, data=form)
        assert answer.status_code in (302, 400, 401), f"anonymous {method} {url}"
    login(client, "social_worker_feicui")
    for method, url, form in _routes(world, "feicui"):
        if method == "POST":
            assert client.post(url, data=form).status_code == 400, f"{url} without CSRF"
