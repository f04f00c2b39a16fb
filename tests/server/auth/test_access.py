"""The access matrix: every route of the app's URL map, for every role of one community,
against its own and another community's records. Routes are discovered from `app.url_map`,
so a new route is tested (and refused until it is in the policy) without editing this file."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from server.auth.access import rule_for
from tests.server.conftest import ROLES, World, csrf_token, login

OTHER_COMMUNITY_MARKERS = ("SECRET-FEICUI", "RESIDENT-FEICUI")
SCOPED_ARGS = {"request_id", "resident_id", "token_id", "user_id"}
"""Arguments pointing at the other community's records (see `_url`)."""
PLAIN_ARGS = {"action", "fmt", "code", "filename"}
FORM_RECORDS = {
    "people.new",
    "auth.user_create",
    "console.new_request",
    "subchoices.choice_action",
}
"""Endpoints naming their community in the form rather than the URL."""
ACTION_FOR = {"console.request_action": "note", "console.job_action": "accept"}


@pytest.fixture
def backend() -> str:
    """Access is decided before any query: one backend is enough for the walk."""
    return "sqlite"


def _routes(app: Flask) -> list[tuple[Rule, str]]:
    """Every route and method; signing out comes last, so the session lasts the walk."""
    routes = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]
    return sorted(routes, key=lambda r: r[0].endpoint == "auth.logout")


MISSING_ID = 2**31 - 1


def _url(app: Flask, rule: Rule, world: World, slug: str) -> str:
    """The rule's URL pointing at `slug`'s records.

    Arguments this file does not know (a new feature's record ids) point at a record that
    does not exist: such a route must still refuse other roles (403) and find nothing (404).
    Add the argument to `known` below with a record of `slug` to test its scoping too.
    """
    known: dict[str, Any] = {
        "request_id": world.requests[slug],
        "resident_id": world.residents[slug],
        "token_id": world.client_ids[slug],
        "user_id": world.users[slug],
        "action": ACTION_FOR.get(rule.endpoint, "note"),
        "fmt": "json",
        "code": "electrical",
        "filename": "console.css",
    }
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        if arg in known:
            values[arg] = known[arg]
        else:
            converter = type(rule._converters[arg]).__name__
            values[arg] = MISSING_ID if "Int" in converter else "missing"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _form(rule: Rule, world: World, slug: str) -> dict[str, str]:
    """Valid fields, so a refusal is about access and not about the input."""
    return {
        "auth.user_create": {
            "username": "intruder",
            "password": "a long enough password",
            f"role_{slug}": "admin",
        },
        "auth.user_password": {"password": "a long enough password"},
        "auth.user_access": {f"role_{slug}": "admin"},
        "people.new": {
            "community": str(world.community[slug]),
            "room": "7-1-102",
            "name": "INTRUDER",
            "mobility": "independent",
        },
        "console.request_action": {"text": "hello"},
        "console.new_request": {
            "community": str(world.community[slug]),
            "room": "7-1-101",
            "category": "electrical",
            "channel": "phone",
            "details": "INTRUDER",
        },
        "console.job_action": {},
        "subchoices.choice_action": {
            "community": str(world.community[slug]),
            "action": "add",
            "name_zh": "INTRUDER",
        },
        "field_console.skill_word_add": {
            "community": str(world.community[slug]),
            "category": "electrical",
            "word": "电工",
        },
        "field_console.skill_words_suggested": {"community": str(world.community[slug])},
        "field_console.card_buildings": {"buildings": ""},
        "people.consent": {"kind": "health", "version": "v1"},
        "people.export": {"reason": "the resident asked"},
        "people.delete": {"reason": "the resident asked", "confirm": "DELETE"},
        "people.edit": {"room": "7-1-101", "name": "X", "mobility": "independent", "reason": "fix"},
    }.get(rule.endpoint, {})


def _call(client: FlaskClient, method: str, url: str, data: dict[str, str]) -> Any:
    response = client.open(url, method=method, data=data if method == "POST" else None)
    body = response.get_data(as_text=True)  # reads a stream to its end
    response.close()
    return response.status_code, body


def _snapshot(app: Flask, world: World) -> tuple[Any, ...]:
    from server.audit.models import AuditEntry
    from server.extensions import db
    from server.people.models import Resident
    from server.requests.models import HelpRequest, RequestEvent

    with app.app_context():
        req = db.session.get_one(HelpRequest, world.requests["feicui"])
        resident = db.session.get_one(Resident, world.residents["feicui"])
        events = db.session.scalar(
            sa.select(sa.func.count()).where(RequestEvent.request_id == req.id)
        )
        audits = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEntry.community_id == world.community["feicui"])
        )
        from server.auth.models import User

        worker = db.session.get_one(User, world.users["feicui"])
        account = (
            worker.is_active,
            worker.roles(),
            worker.all_communities_role,
            worker.password_hash,
            worker.session_generation,
        )
        users = db.session.scalar(sa.select(sa.func.count(User.id)))
        residents = db.session.scalar(
            sa.select(sa.func.count()).where(Resident.community_id == world.community["feicui"])
        )
        return (
            req.status,
            req.public_note,
            events,
            resident.name,
            resident.deleted_at,
            audits,
            residents,
            account,
            users,
        )


def test_every_route_is_in_the_policy(app: Flask) -> None:
    missing = [rule.endpoint for rule, _ in _routes(app) if rule_for(rule.endpoint) is None]
    assert missing == [], f"add these endpoints to server/auth/access.py POLICY: {missing}"


def test_a_route_missing_from_the_policy_is_refused_even_to_admins(
    app: Flask, world: World
) -> None:
    app.add_url_rule("/console/sneaky", "sneaky", lambda: "secret")
    client = app.test_client()
    login(client, "admin_lanqiao")
    answer = client.get("/console/sneaky")
    assert answer.status_code == 403
    assert "sneaky 不在访问策略中" in answer.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app: Flask, world: World, role: str) -> None:
    client = app.test_client()
    anonymous = app.test_client()
    anonymous_token = csrf_token(anonymous)
    login(client, f"{role}_lanqiao")
    token = csrf_token(client, "/login")
    before = _snapshot(app, world)
    checked = 0
    for rule, method in _routes(app):
        policy = rule_for(rule.endpoint)
        assert policy is not None
        form = {**_form(rule, world, "feicui"), "csrf_token": token}
        other = _url(app, rule, world, "feicui")
        own = _url(app, rule, world, "lanqiao")
        where = f"{method} {rule.rule} as {role}"
        if policy.kind == "token":
            # A signed-in session is never a credential for the token APIs.
            status, body = _call(client, method, other, form)
            assert status in (400, 401, 403), where
            assert not any(m in body for m in OTHER_COMMUNITY_MARKERS), where
        elif policy.kind == "volunteer":
            # A console session is never a volunteer's phone: each volunteer page refuses it.
            status, body = _call(client, method, own, form)
            assert status in (401, 403), f"{where}: {status}"
            assert not any(m in body for m in OTHER_COMMUNITY_MARKERS), where
        elif policy.kind == "session":
            status, _ = _call(anonymous, method, own, {"csrf_token": anonymous_token})
            assert status in (302, 401), f"anonymous {where}: {status}"
            status, body = _call(client, method, other, form)
            if role not in policy.roles:
                assert status == 403, f"{where}: {status}"
                assert _call(client, method, own, form)[0] == 403, where
            elif set(rule.arguments) & SCOPED_ARGS or (
                method == "POST" and rule.endpoint in FORM_RECORDS
            ):
                assert status == 404, f"{where} on another community's record: {status}"
            elif set(rule.arguments) - PLAIN_ARGS:  # a missing record of a newer feature
                assert status in (400, 404), f"{where} on a missing record: {status}"
            elif method == "GET":
                assert status < 400, f"{where}: {status}"
            else:  # allowed in; an empty or foreign form may be refused as bad input
                assert status < 400 or status in (400, 404), f"{where}: {status}"
            assert not any(m in body for m in OTHER_COMMUNITY_MARKERS), where
        checked += 1
    assert checked >= 30
    assert _snapshot(app, world) == before


@pytest.mark.parametrize("role", ["admin", "social_worker", "team_lead", "viewer"])
def test_roles_reach_their_own_communitys_records(app: Flask, world: World, role: str) -> None:
    """The matrix is not vacuous: the same routes answer for one's own community."""
    from server.auth.access import FIELD, READERS, STAFF

    client = app.test_client()
    login(client, f"{role}_lanqiao")
    own = world.requests["lanqiao"]
    page = client.get(f"/console/requests/{own}")
    assert page.status_code == (200 if role in READERS else 403)
    if role in READERS:
        assert "SECRET-LANQIAO" in page.get_data(as_text=True)
    resident = client.get(f"/console/residents/{world.residents['lanqiao']}")
    assert resident.status_code == (200 if role in STAFF else 403)
    assert client.get("/console/jobs").status_code == (200 if role in FIELD else 403)


def test_exports_and_json_apis_are_scoped_too(client: FlaskClient, world: World) -> None:
    login(client, "social_worker_lanqiao")
    token = csrf_token(client, "/login")
    other = world.residents["feicui"]
    own = world.residents["lanqiao"]
    export = client.post(
        f"/console/residents/{other}/export", data={"reason": "x", "csrf_token": token}
    )
    assert export.status_code == 404
    mine = client.post(
        f"/console/residents/{own}/export", data={"reason": "asked", "csrf_token": token}
    )
    assert mine.status_code == 200
    assert mine.get_json()["resident"]["name"] == "RESIDENT-LANQIAO"
    assert "attachment" in mine.headers["Content-Disposition"]

    lanqiao = {"Authorization": f"Bearer {world.tokens['lanqiao']}"}
    assert client.get("/api/v1/requests?community=feicui", headers=lanqiao).status_code == 404
    items = client.get("/api/v1/requests", headers=lanqiao).get_json()["items"]
    assert {i["community"] for i in items} == {"lanqiao"}
    key = world.tokens["lanqiao"]
    assert (
        client.get(
            f"/open311/v2/requests/{world.requests['feicui']}.json?api_key={key}"
        ).status_code
        == 404
    )
    listed = client.get(f"/open311/v2/requests.json?api_key={key}").get_json()
    assert [r["service_request_id"] for r in listed] == [str(world.requests["lanqiao"])]


def test_every_post_without_csrf_is_refused(app: Flask, world: World) -> None:
    """Every form route (signed in, or the sign-in form itself) refuses a POST without a token.
    A volunteer's phone pages take no forms: their own header guards them
    (tests/security/test_field.py)."""
    client = app.test_client()
    login(client, "admin_lanqiao")
    posts = [
        (rule, method)
        for rule, method in _routes(app)
        if method != "GET"
        and getattr(rule_for(rule.endpoint), "kind", "token") not in ("token", "volunteer")
    ]
    assert len(posts) >= 10
    before = _snapshot(app, world)
    for rule, method in posts:
        own = _url(app, rule, world, "lanqiao")
        status, body = _call(client, method, own, _form(rule, world, "lanqiao"))
        assert status == 400, f"{method} {rule.rule}: {status}"
        assert "CSRF" in body, rule.rule
    assert client.get("/console/queue").status_code == 200  # still signed in: nothing ran
    assert _snapshot(app, world) == before
