"""Residents (档案): create, view, correct, consent, export and delete, each audited; bad
input changes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login, post


def _audit(app: Flask, resident_id: int) -> list[tuple[str, str, str]]:
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.action, AuditEntry.what, AuditEntry.why)
            .where(AuditEntry.resident_id == resident_id)
            .order_by(AuditEntry.id)
        ).all()
    return [tuple(r) for r in rows]


PROFILE = {
    "room": "3-1-101",
    "name": "李奶奶",
    "phone": "13900000002",
    "birth_year": "1940",
    "is_living_alone": "y",
    "mobility": "walking_aid",
    "emergency_contact_name": "李明",
    "emergency_contact_phone": "13900000003",
}


def test_create_view_correct_consent_export_delete(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.extensions import db
    from server.people.models import Resident
    from server.requests.models import HelpRequest

    login(client, "social_worker_lanqiao")
    made = post(
        client,
        "/console/residents/new",
        {**PROFILE, "community": str(world.community["lanqiao"])},
    )
    assert made.status_code == 303, made.get_data(as_text=True)
    rid = int(made.headers["Location"].split("/")[3].split("?")[0])
    page = client.get(made.headers["Location"])
    assert "李奶奶" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"

    fixed = post(client, f"/console/residents/{rid}/edit", {**PROFILE, "phone": "13900000009",
                                                            "reason": "wrong number"})  # fmt: skip
    assert fixed.status_code == 303
    assert post(client, f"/console/residents/{rid}/consent", {"kind": "health", "version": "v1"})
    export = post(client, f"/console/residents/{rid}/export", {"reason": "the resident asked"})
    data = export.get_json()
    assert data["resident"]["phone"] == "13900000009"
    assert data["consents"][0]["kind"] == "health"

    with app.app_context():
        linked = db.session.get_one(HelpRequest, world.requests["lanqiao"])
        linked.resident_id = rid
        db.session.commit()
    refused = post(client, f"/console/residents/{rid}/delete", {"reason": "asked", "confirm": "no"})
    assert refused.status_code == 400
    gone = post(
        client, f"/console/residents/{rid}/delete", {"reason": "asked", "confirm": "DELETE"}
    )
    assert gone.status_code == 303
    assert client.get(f"/console/residents/{rid}").status_code == 404
    with app.app_context():
        resident = db.session.get_one(Resident, rid)
        assert (resident.name, resident.phone, resident.deleted_at is not None) == ("", None, True)
        req = db.session.get_one(HelpRequest, world.requests["lanqiao"])
        assert (req.phone, req.details, req.resident_id) == (None, None, None)

    actions = [(action, why) for action, _, why in _audit(app, rid)]
    assert actions[0] == ("create", "new profile")
    assert ("view", "created") in actions
    assert ("change", "wrong number") in actions
    assert ("export", "the resident asked") in actions
    assert actions[-1] == ("delete", "asked")
    assert "13900000009" not in str(_audit(app, rid))  # the trail holds no personal data


def test_bad_profile_input_is_explained_and_nothing_is_saved(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.extensions import db
    from server.people.models import Resident

    login(client, "social_worker_lanqiao")
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count(Resident.id)))
    for bad, message in [
        ({"room": "9-9-999"}, "本社区没有房间"),
        ({"birth_year": "1800"}, "出生年份：请填写年份"),
        ({"phone": "call me"}, "电话号码只能包含数字"),
        ({"mobility": "flying"}, "行动能力：请选择行动能力"),
        ({"name": ""}, "姓名：请填写姓名"),
    ]:
        answer = post(
            client,
            "/console/residents/new",
            {**PROFILE, **bad, "community": str(world.community["lanqiao"])},
        )
        assert answer.status_code == 400, bad
        assert message in answer.get_data(as_text=True), bad
    rid = world.residents["lanqiao"]
    no_reason = post(client, f"/console/residents/{rid}/edit", {**PROFILE, "room": "3-2-301"})
    assert no_reason.status_code == 400
    assert "请说明更正档案的原因" in no_reason.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Resident.id))) == before
        assert db.session.get_one(Resident, rid).name == "RESIDENT-LANQIAO"


def test_the_audit_trail_cannot_be_changed_or_deleted(app: Flask, world: World) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) >= 2
        for statement in (sa.update(AuditEntry).values(why="covered up"), sa.delete(AuditEntry)):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                db.session.execute(statement)
            db.session.rollback()
        assert "covered up" not in db.session.scalars(sa.select(AuditEntry.why)).all()


def test_listing_residents_is_audited_per_community(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    login(client, "social_worker_lanqiao")
    page = client.get("/console/residents?q=RESIDENT").get_data(as_text=True)
    assert "RESIDENT-LANQIAO" in page
    assert "RESIDENT-FEICUI" not in page
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.community_id, AuditEntry.what, AuditEntry.why).where(
                AuditEntry.what.like("residents list%")
            )
        ).all()
    assert rows == [
        (world.community["lanqiao"], "residents list: 1 names and rooms", "search 'RESIDENT'")
    ]
