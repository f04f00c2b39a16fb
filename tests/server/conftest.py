"""Fixtures of every server feature's tests: the console's world (two communities with users of
every role, teams, agencies, residents) and the volunteers' seed (tests/server/seed.py), and
helpers to sign in, read CSRF tokens and count queries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.procs import free_port
from tests.server.seed import ctx, page, seed, served

__all__ = ["ctx", "page", "seed", "served"]  # fixtures of the volunteers' seed, for every feature

PASSWORD = "correct horse battery"
ROLES = ("admin", "social_worker", "team_lead", "viewer")
ROOMS_B = "building,unit,room\n7,1,101\n7,1,102\n"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class World:
    """Ids of what the `world` fixture made, per community slug ("lanqiao", "feicui")."""

    community: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    client_ids: dict[str, str] = field(default_factory=dict)
    residents: dict[str, int] = field(default_factory=dict)
    teams: dict[str, int] = field(default_factory=dict)
    agencies: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    """The social worker of each community."""
    dead_url: str = ""


def make_request(
    community_id: int,
    room: str,
    category: str = "electrical",
    details: str | None = "客厅灯不亮",
    phone: str | None = "13800000001",
    kiosk_id: int | None = None,
) -> int:
    """A received request, as sync would store it (call inside an app context)."""
    from server.communities.models import Room
    from server.extensions import db
    from server.requests.models import Category, HelpRequest, RequestEvent
    from server.timeutil import utcnow
    from sync.ids import uuid7

    cat = db.session.execute(sa.select(Category).where(Category.code == category)).scalar_one()
    room_id = db.session.execute(
        sa.select(Room.id).where(Room.community_id == community_id, Room.code == room)
    ).scalar_one()
    now = utcnow()
    req = HelpRequest(
        client_id=uuid7(),
        community_id=community_id,
        kiosk_id=kiosk_id,
        category_id=cat.id,
        room_id=room_id,
        ticket="A-0001",
        phone=phone,
        details=details,
        status="received",
        is_urgent=cat.is_urgent,
        device_created_at=now,
        received_at=now,
        updated_at=now,
    )
    db.session.add(req)
    db.session.flush()
    db.session.add(RequestEvent(request_id=req.id, actor="kiosk:test", to_status="received"))
    db.session.flush()
    return int(req.id)


@pytest.fixture
def world(app: Flask, community: dict[str, Any]) -> World:
    """Communities lanqiao and feicui, each with a user per role, a team led by its team
    lead, an agency whose endpoint refuses connections, a resident and one request."""
    from server.audit.actor import Actor
    from server.auth.services import create_user
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.dispatch.services import create_agency, create_team, set_team_lead
    from server.extensions import db
    from server.people.services import ProfileInput, create_resident
    from server.requests.models import HelpRequest
    from server.staffapi.services import create_api_token

    app.config["LINLI_LIVE_STREAM_SECONDS"] = 1
    w = World(dead_url=f"http://127.0.0.1:{free_port()}/escalations")
    with app.app_context():
        feicui = create_community("feicui", "翡翠社区")
        import_rooms(feicui, parse_rooms_csv(ROOMS_B, "rooms.csv"))
        w.community = {"lanqiao": community["id"], "feicui": feicui.id}
        rooms = {"lanqiao": "3-2-301", "feicui": "7-1-101"}
        for slug, cid in w.community.items():
            for role in ROLES:
                user = create_user(f"{role}_{slug}", PASSWORD, role, [slug], f"{role} {slug}")
                if role == "social_worker":
                    w.users[slug] = user.id
            team = create_team(slug, f"小蜜蜂 {slug}", ["electrical", "plumbing"])
            set_team_lead(team, f"team_lead_{slug}")
            w.teams[slug] = team.id
            w.agencies[slug] = create_agency(slug, f"供电所 {slug}", "department", w.dead_url).id
            profile = ProfileInput(
                room_code=rooms[slug],
                name=f"RESIDENT-{slug.upper()}",
                phone="13800000001",
                birth_year=1944,
                is_living_alone=True,
                mobility="walking_aid",
                emergency_contact_name=None,
                emergency_contact_phone=None,
            )
            w.residents[slug] = create_resident(cid, profile, Actor("setup"), "setup").id
            rid = make_request(cid, rooms[slug], details=f"SECRET-{slug.upper()} 灯坏了")
            w.requests[slug] = rid
            w.client_ids[slug] = str(db.session.get_one(HelpRequest, rid).client_id)
            _, w.tokens[slug] = create_api_token(f"token-{slug}", [slug])
        db.session.commit()
    return w


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token from a page's form."""
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}: {page.status_code}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form (with its CSRF token)."""
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)


def post(client: FlaskClient, path: str, data: dict[str, Any], page: str | None = None) -> Any:
    """POST a console form with a CSRF token taken from `page` (default: the queue)."""
    token = csrf_token(client, page or "/console/jobs")
    return client.post(path, data={**data, "csrf_token": token})


@contextmanager
def count_queries(app: Flask) -> Iterator[list[str]]:
    """Collect the SQL statements run inside the block."""
    from server.extensions import db

    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
