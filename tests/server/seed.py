"""Fixtures for volunteers, hours, the passbook and reports (shared by tests/server/conftest.py):
two communities with users of every role, a team, volunteers and a merchant, plus sign-in helpers
and an app served on loopback for the browser tests."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

PASSWORD = "correct horse battery"
ROLES = ("admin", "social_worker", "team_lead", "viewer")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Seed:
    """Ids of what `seed` made, per community slug ("lanqiao", "feicui")."""

    community: dict[str, int] = field(default_factory=dict)
    team: dict[str, int] = field(default_factory=dict)
    volunteers: dict[str, list[int]] = field(default_factory=dict)
    merchant: dict[str, int] = field(default_factory=dict)
    merchant_key: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An app context for service-level tests; the session is removed even when asserts fail."""
    from server.extensions import db

    with app.app_context():
        try:
            yield
        finally:
            db.session.rollback()
            db.session.remove()


def new_volunteer(community_id: int, name: str, phone: str) -> int:
    """A volunteer made through the service (call inside an app context)."""
    from server.communities.models import Community
    from server.extensions import db
    from server.volunteers.imports import ImportRow
    from server.volunteers.services import create_volunteer

    community = db.session.get_one(Community, community_id)
    return int(create_volunteer(community, ImportRow(line=0, name=name, phone=phone)).id)


def add_request(
    community_id: int,
    room: str,
    category: str,
    received: datetime,
    status: str,
    steps: list[tuple[int, str | None, str]] = (),  # type: ignore[assignment]
    arrived_after: int | None = None,
    resident_id: int | None = None,
) -> int:
    """A request with its status events (minutes after receipt, from, to)."""
    from server.communities.models import Room
    from server.extensions import db
    from server.requests.models import Category, HelpRequest, RequestEvent
    from sync.ids import uuid7

    cat = db.session.execute(sa.select(Category).where(Category.code == category)).scalar_one()
    room_id = db.session.execute(
        sa.select(Room.id).where(Room.community_id == community_id, Room.code == room)
    ).scalar_one()
    req = HelpRequest(
        client_id=uuid7(),
        community_id=community_id,
        category_id=cat.id,
        room_id=room_id,
        ticket="A-0001",
        status=status,
        is_urgent=False,
        device_created_at=received,
        received_at=received,
        updated_at=received,
        arrived_at=received + timedelta(minutes=arrived_after) if arrived_after else None,
        resident_id=resident_id,
    )
    db.session.add(req)
    db.session.flush()
    db.session.add(
        RequestEvent(request_id=req.id, at=received, actor="kiosk", to_status="received")
    )
    for minutes, before, after in steps:
        db.session.add(
            RequestEvent(
                request_id=req.id,
                at=received + timedelta(minutes=minutes),
                actor="社工",
                from_status=before,
                to_status=after,
            )
        )
    db.session.flush()
    return int(req.id)


def add_resident(community_id: int, birth_year: int | None, alone: bool) -> int:
    """A resident profile (name and phone do not matter here)."""
    from server.extensions import db
    from server.people.models import Resident

    resident = Resident(
        community_id=community_id, name="居民", birth_year=birth_year, is_living_alone=alone
    )
    db.session.add(resident)
    db.session.flush()
    return int(resident.id)


@pytest.fixture
def seed(app: Flask, community: dict[str, Any]) -> Seed:
    """lanqiao and feicui, each with a user per role, a team led by its team lead (with two
    volunteers in it), one volunteer outside it, and a merchant."""
    from server.auth.services import create_user
    from server.communities.services import create_community
    from server.dispatch.services import create_team, set_team_lead
    from server.extensions import db
    from server.passbook.services import register_merchant
    from server.volunteers.models import Volunteer
    from server.volunteers.services import add_member

    s = Seed()
    with app.app_context():
        feicui = create_community("feicui", "翡翠社区")
        s.community = {"lanqiao": community["id"], "feicui": feicui.id}
        for slug, cid in s.community.items():
            for role in ROLES:
                create_user(f"{role}_{slug}", PASSWORD, role, [slug], f"{role} {slug}")
            team = create_team(slug, f"小蜜蜂 {slug}", ["electrical"])
            set_team_lead(team, f"team_lead_{slug}")
            s.team[slug] = team.id
            ids = [
                new_volunteer(cid, f"张师傅 {slug}", f"1390000{cid:02d}01"),
                new_volunteer(cid, f"李阿姨 {slug}", f"1390000{cid:02d}02"),
                new_volunteer(cid, f"王同学 {slug}", f"1390000{cid:02d}03"),
            ]
            s.volunteers[slug] = ids
            for vid in ids[:2]:
                add_member(team, db.session.get_one(Volunteer, vid))
            merchant, key = register_merchant(cid, f"面包房 {slug}", "1号楼底商")
            s.merchant[slug], s.merchant_key[slug] = merchant.id, key
        db.session.commit()
    return s


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token from a page's form."""
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}: {page.status_code}"
    return match.group(1)


def login(client: FlaskClient, username: str) -> None:
    """Sign in through the form."""
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)


def form_post(client: FlaskClient, path: str, data: dict[str, Any], page: str) -> Any:
    """POST a form with the CSRF token of `page`."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


@dataclass
class Served:
    """The app served on loopback for a browser."""

    url: str
    app: Flask


@pytest.fixture
def served(app: Flask, seed: Seed) -> Iterator[Served]:
    """The test app behind a threaded HTTP server on 127.0.0.1 (plain HTTP cookies)."""
    from werkzeug.serving import make_server

    app.config["SESSION_COOKIE_SECURE"] = False
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{httpd.server_port}", app)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab; page script errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
        assert not errors, f"script errors on the page: {errors}"
    finally:
        context.close()


def browser_login(page: Any, url: str, username: str) -> None:
    """Sign in through the login form in the browser."""
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
