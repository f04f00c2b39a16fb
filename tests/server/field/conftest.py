"""Fixtures of the volunteers' phone pages: the volunteers' seed plus, in each community, a
resident with a phone, an emergency contact and access notes, and a triaged request of theirs;
helpers to issue a card, sign a phone in, dispatch and send actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import make_request
from tests.server.seed import Seed, seed

__all__ = ["seed"]

ROOMS = {"lanqiao": "3-2-301", "feicui": "7-1-101"}
HEADERS = {"X-Linli-Field": "1", "Accept": "application/json"}


@dataclass
class Jobs:
    """The seed, and per community a resident and a triaged request of theirs."""

    seed: Seed
    residents: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)


def new_job(app: Flask, slug: str, community_id: int, resident_id: int | None = None) -> int:
    """A triaged electrical request in the community's room (committed)."""
    from server.audit.actor import Actor
    from server.extensions import db
    from server.requests import services as lifecycle
    from server.requests.models import Category, HelpRequest

    with app.app_context():
        rid = make_request(community_id, ROOMS[slug], details=f"SECRET-{slug.upper()} 灯坏了")
        req = db.session.get_one(HelpRequest, rid)
        req.resident_id = resident_id
        category = db.session.query(Category).filter_by(code="electrical").one()
        lifecycle.triage(req, Actor("setup"), category, "normal", None)
        db.session.commit()
        return rid


@pytest.fixture
def jobs(app: Flask, seed: Seed) -> Jobs:
    """A resident and a triaged request in lanqiao and in feicui."""
    from server.audit.actor import Actor
    from server.communities.services import import_rooms, parse_rooms_csv
    from server.extensions import db
    from server.people.services import ProfileInput, create_resident

    j = Jobs(seed)
    with app.app_context():
        from server.communities.models import Community

        feicui = db.session.get_one(Community, seed.community["feicui"])
        import_rooms(feicui, parse_rooms_csv("building,unit,room\n7,1,101\n", "rooms.csv"))
        for slug, cid in seed.community.items():
            profile = ProfileInput(
                room_code=ROOMS[slug],
                name=f"RESIDENT-{slug.upper()}",
                phone="13800000001",
                birth_year=1944,
                is_living_alone=True,
                mobility="walking_aid",
                emergency_contact_name="女儿",
                emergency_contact_phone="13900000009",
                access_notes="钥匙在邻居家",
            )
            j.residents[slug] = create_resident(cid, profile, Actor("setup"), "setup").id
        db.session.commit()
    for slug, cid in seed.community.items():
        j.requests[slug] = new_job(app, slug, cid, j.residents[slug])
    return j


def issue_card(app: Flask, volunteer_id: int) -> str:
    """Issue a volunteer's sign-in link (committed); its token."""
    from server.audit.actor import Actor
    from server.extensions import db
    from server.field.services import issue_link
    from server.volunteers.models import Volunteer

    with app.app_context():
        token = issue_link(db.session.get_one(Volunteer, volunteer_id), Actor("sw"))
        db.session.commit()
    return token


def phone_of(app: Flask, volunteer_id: int) -> FlaskClient:
    """A phone signed in through the volunteer's card link."""
    phone = app.test_client()
    answer = phone.get(f"/v/k/{issue_card(app, volunteer_id)}")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return phone


def dispatch(app: Flask, request_id: int, team_id: int, volunteer_ids: list[int]) -> None:
    """Dispatch through the field service (committed), as the console's form does."""
    from server.audit.actor import Actor
    from server.dispatch.models import Team
    from server.extensions import db
    from server.field.services import dispatch as field_dispatch
    from server.requests.models import HelpRequest

    with app.app_context():
        req = db.session.get_one(HelpRequest, request_id)
        field_dispatch(req, Actor("sw"), db.session.get_one(Team, team_id), volunteer_ids, None)
        db.session.commit()


def action(kind: str, request_id: int, **fields: Any) -> dict[str, Any]:
    """One phone action with a fresh UUIDv7, taken now."""
    from server.timeutil import utcnow
    from sync.ids import uuid7

    return {
        "id": str(uuid7()),
        "kind": kind,
        "request_id": request_id,
        "taken_at": utcnow().isoformat(),
        **fields,
    }


def send(phone: FlaskClient, *actions: dict[str, Any]) -> Any:
    """POST actions from the phone; the answer."""
    return phone.post("/v/actions", json={"actions": list(actions)}, headers=HEADERS)


def watch(app: Flask, resident_id: int, captain: int | None, buddy: int | None = None) -> int:
    """Watch the resident daily with this building captain and paired volunteer (committed);
    the plan's id."""
    from server.audit.actor import Actor
    from server.carewatch.services import PlanInput, set_plan
    from server.extensions import db
    from server.people.models import Resident

    with app.app_context():
        resident = db.session.get_one(Resident, resident_id)
        plan = set_plan(
            resident,
            PlanInput(True, "living_alone", "daily", "given", "本人同意", captain, buddy),
            Actor("sw"),
            "new plan",
        )
        db.session.commit()
        return int(plan.id)


def care(kind: str, resident_id: int, outcome: str) -> dict[str, Any]:
    """A visit or call from the phone with a fresh UUIDv7, taken now."""
    from server.timeutil import utcnow
    from sync.ids import uuid7

    return {
        "id": str(uuid7()),
        "kind": kind,
        "resident_id": resident_id,
        "outcome": outcome,
        "taken_at": utcnow().isoformat(),
    }
