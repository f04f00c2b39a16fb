"""Every kiosk of a community hears of every request of its rooms, whatever the channel."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, make_request
from tests.server.syncapi.test_sync_api import moved_back, op, pull_all, push

PHONE = "13912345678"
DETAILS = "王大爷来电：客厅灯不亮，钥匙在邻居家"


def enrol(app: Flask, client: FlaskClient, slug: str, name: str) -> str:
    """Enrol one more kiosk of `slug`; its token."""
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code(slug, name, 24)
        db.session.commit()
    answer = client.post(
        "/api/sync/v1/enroll", json={"code": code}, headers={"Linli-Protocol": "1"}
    )
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["token"])


def phone_request(app: Flask, community_id: int, room: str = "3-2-302") -> int:
    """A request taken by phone at the console (no kiosk), published as intake publishes it."""
    from server.extensions import db
    from server.requests.changes import request_change
    from server.requests.models import HelpRequest
    from server.synclog.changes import record_changes

    with app.app_context():
        rid = make_request(community_id, room, phone=PHONE, details=DETAILS)
        req = db.session.get_one(HelpRequest, rid)
        req.ticket = "P-0022"
        record_changes([request_change(req)])
        db.session.commit()
    return rid


def staff(app: Flask, rid: int, step: Any) -> None:
    """Run one lifecycle step on request `rid` as a social worker, and commit."""
    from server.audit.actor import Actor
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        step(db.session.get_one(HelpRequest, rid), Actor("social worker"))
        db.session.commit()


def requests_seen(changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The request changes of a pull, by key."""
    return {c["key"]: c.get("data") for c in changes if c["entity"] == "request"}


def test_a_phone_request_reaches_every_kiosk_of_its_community_and_only_those(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], world: World
) -> None:
    other = enrol(app, client, "lanqiao", "lobby")
    elsewhere = enrol(app, client, "feicui", "feicui hall")
    rid = phone_request(app, world.community["lanqiao"])
    for token in (enrolled["token"], other):
        changes, _, _ = pull_all(client, token)
        data = requests_seen(changes)[f"srv-{rid}"]
        assert data == {
            "status": "received",
            "note": None,
            "cancel_requested": False,
            "updated_at": data["updated_at"],
            "ticket": "P-0022",
            "category": "electrical",
            "room": "3-2-302",
        }
        text = json.dumps(changes, ensure_ascii=False)
        assert PHONE not in text
        assert "钥匙" not in text
        assert "SECRET-LANQIAO" not in text, "the world's request carries no words either"
    changes, _, _ = pull_all(client, elsewhere)
    assert f"srv-{rid}" not in requests_seen(changes)
    assert all(d is None or d["room"] != "3-2-302" for d in requests_seen(changes).values())


def test_staff_steps_tell_who_is_coming_where_it_went_and_what_it_merged_into(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], world: World
) -> None:
    from server.dispatch.models import Agency, Team
    from server.extensions import db
    from server.requests import services
    from server.requests.models import Category, HelpRequest

    token = enrolled["token"]
    phoned = phone_request(app, world.community["lanqiao"])
    _, cursor, _ = pull_all(client, token)

    def triage(req: HelpRequest, actor: Any) -> None:
        electrical = db.session.execute(
            sa.select(Category).where(Category.code == "electrical")
        ).scalar_one()
        services.triage(req, actor, electrical, "normal", None)

    def team() -> Team:
        return db.session.get_one(Team, world.teams["lanqiao"])

    def agency() -> Agency:
        return db.session.get_one(Agency, world.agencies["lanqiao"])

    with app.app_context():
        names = (team().name, agency().name)
    staff(app, phoned, triage)
    staff(app, phoned, lambda r, a: services.dispatch(r, a, team(), None, None))
    changes, cursor, _ = pull_all(client, token, cursor)
    data = requests_seen(changes)[f"srv-{phoned}"]
    assert (data["status"], data["team"]) == ("dispatched", names[0])
    assert "agency" not in data
    assert "merged_into" not in data

    escalated = world.requests["lanqiao"]
    staff(app, escalated, triage)
    staff(app, escalated, lambda r, a: services.escalate(r, a, agency(), None))
    kiosk_made = op(1, room="3-2-302")
    push(client, token, [kiosk_made])
    with app.app_context():
        made = db.session.execute(
            sa.select(HelpRequest.id).where(HelpRequest.client_id == uuid.UUID(kiosk_made["op_id"]))
        ).scalar_one()
    staff(
        app,
        made,
        lambda r, a: services.merge_duplicate(r, db.session.get_one(HelpRequest, phoned), a, None),
    )
    seen = requests_seen(pull_all(client, token, cursor)[0])
    assert (seen[f"srv-{escalated}"]["status"], seen[f"srv-{escalated}"]["agency"]) == (
        "escalated",
        names[1],
    )
    merged = seen[kiosk_made["op_id"]]
    assert (merged["status"], merged["merged_into"], merged["note"]) == (
        "duplicate",
        "P-0022",
        "已合并到 P-0022",
    )


def test_a_kiosks_request_reaches_the_other_kiosks_not_itself_again(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    other = enrol(app, client, "lanqiao", "lobby")
    _, mine, _ = pull_all(client, enrolled["token"])
    _, theirs, _ = pull_all(client, other)
    made = op(1)
    push(client, enrolled["token"], [made])
    seen = requests_seen(pull_all(client, other, theirs)[0])
    assert seen[made["op_id"]]["ticket"] == "A-0001"
    assert seen[made["op_id"]]["room"] == "3-2-301"
    assert requests_seen(pull_all(client, enrolled["token"], mine)[0]) == {}, "no echo"
    restored = requests_seen(pull_all(client, enrolled["token"])[0])
    assert restored[made["op_id"]]["status"] == "received", "a download from nothing has it"


@pytest.mark.parametrize("settled_days_ago", [60, 1])
def test_the_pull_bound_holds_for_requests_made_elsewhere(
    app: Flask,
    client: FlaskClient,
    enrolled: dict[str, Any],
    world: World,
    settled_days_ago: int,
) -> None:
    """A phone request settled long ago is not downloaded from nothing; a recent one is."""
    from server.extensions import db
    from server.requests import services
    from server.synclog.models import Change

    rid = phone_request(app, world.community["lanqiao"])
    staff(app, rid, lambda r, a: services.cancel(r, a, "resolved by phone"))
    with app.app_context():
        db.session.execute(
            sa.update(Change)
            .where(Change.key == f"srv-{rid}")
            .values(
                changed_at=datetime.now(UTC) - timedelta(days=settled_days_ago),
                settled_at=moved_back(Change, datetime.now(UTC) - timedelta(days=settled_days_ago)),
            )
        )
        db.session.commit()
    fresh = requests_seen(pull_all(client, enrolled["token"])[0])
    assert (f"srv-{rid}" in fresh) is (settled_days_ago == 1)
    assert f"srv-{world.requests['lanqiao']}" not in fresh, "never published: nothing changed"
