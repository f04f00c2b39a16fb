"""Roles per community, seen as a hostile user would try them.

An administrator of one community must not take over a user who also works elsewhere (reset
their password, deactivate or re-role them, then sign in as them), nor grant a role in a
community they do not administer; a role holds in its own community only (a social worker in
A who is a viewer in B triages in A and only reads in B); the migration carries today's users
over unchanged; a team lead books hours only under the teams they lead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from server.audit.actor import Actor
from tests.conftest import _pg_admin, _pg_url, _postgres_reason
from tests.procs import linli
from tests.server.conftest import PASSWORD, World, csrf_token, login
from tests.server.console.test_work_orders import _prints, _world_ready
from tests.server.seed import Seed

NEW_PASSWORD = "the attacker's new passphrase"


def _user_routes(app: Flask) -> list[Rule]:
    """Every route acting on one user, found in the URL map (a new one is walked too)."""
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "user_id" in rule.arguments and "POST" in (rule.methods or set())
    ]
    assert {r.endpoint for r in rules} >= {
        "auth.user_password",
        "auth.user_deactivate",
        "auth.user_access",
    }
    return rules


def _attack_form(endpoint: str) -> dict[str, str]:
    """Valid fields, so a refusal is about who may act and not about the input."""
    return {
        "auth.user_password": {"password": NEW_PASSWORD},
        "auth.user_access": {"role_lanqiao": "admin", "role": "admin", "community": "lanqiao"},
    }.get(endpoint, {})


def _account(app: Flask, username: str) -> dict[str, Any]:
    """Everything stored about a user (its row and its community rows, whatever the schema),
    which a refused action must leave as it was."""
    from server.extensions import db

    with app.app_context():
        row = db.session.execute(
            sa.text("SELECT * FROM user_account WHERE username = :u"), {"u": username}
        ).one()
        memberships = db.session.execute(
            sa.text("SELECT * FROM user_community WHERE user_id = :id ORDER BY community_id"),
            {"id": row.id},
        ).all()
        return {"id": row.id, "row": dict(row._mapping), "in": [tuple(m) for m in memberships]}


def _roles(app: Flask, username: str) -> tuple[dict[str, str], str | None]:
    """A user's role per community slug, and their all-communities role."""
    from server.auth.models import User
    from server.extensions import db

    with app.app_context():
        user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one()
        roles = {m.community.slug: m.role for m in user.memberships}
        return roles, user.all_communities_role


def _counts(app: Flask) -> tuple[int, int]:
    from server.audit.models import AuditEntry
    from server.auth.models import User
    from server.extensions import db

    with app.app_context():
        users = db.session.scalar(sa.select(sa.func.count(User.id)))
        audits = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))
        return int(users or 0), int(audits or 0)


def _make_users(app: Flask) -> None:
    """`shared`: a viewer of lanqiao and feicui; `boss`: admin of both (today's way of
    making an administrator of everything)."""
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("shared", PASSWORD, "viewer", ["lanqiao", "feicui"], "shared")
        create_user("boss", PASSWORD, "admin", ["lanqiao", "feicui"], "boss")
        db.session.commit()


def _signs_in(app: Flask, username: str, password: str) -> bool:
    client = app.test_client()
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
    )
    return answer.status_code == 303


# --- an admin of A acts on a user of A and B -----------------------------------------------


@pytest.mark.parametrize("target", ["shared", "boss"])
def test_admin_of_a_cannot_act_on_a_user_of_a_and_b(
    app: Flask, client: FlaskClient, world: World, target: str
) -> None:
    _make_users(app)
    login(client, "admin_lanqiao")
    token = csrf_token(client, "/console/users")
    before, counts = _account(app, target), _counts(app)
    walked = []
    for rule in _user_routes(app):
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, user_id=before["id"])
        answer = client.post(url, data={**_attack_form(rule.endpoint), "csrf_token": token})
        walked.append(rule.endpoint)
        assert answer.status_code in (403, 404), f"{rule.endpoint}: {answer.status_code}"
        assert _account(app, target) == before, rule.endpoint
    assert len(walked) >= 3
    assert _counts(app) == counts, "nothing changed, so nothing was written to the audit trail"
    assert _signs_in(app, target, PASSWORD)
    assert not _signs_in(app, target, NEW_PASSWORD), "no way to sign in as the target"
    listed = client.get("/console/users").get_data(as_text=True)
    assert 'data-user="viewer_lanqiao"' in listed, "the list shows the users this admin manages"
    assert f'data-user="{target}"' not in listed, "and only those"


def test_an_all_communities_admin_exists_only_through_the_command_line(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("root", PASSWORD, "admin", [], "root", all_communities=True)
        create_user("feicui_and_lanqiao", PASSWORD, "admin", ["lanqiao", "feicui"], "both")
        db.session.commit()
    root = _account(app, "root")
    assert _roles(app, "root") == ({}, "admin")
    # An admin of every existing community one by one still does not manage it.
    login(client, "feicui_and_lanqiao")
    assert 'data-user="root"' not in client.get("/console/users").get_data(as_text=True)
    token = csrf_token(client, "/console/users")
    for rule in _user_routes(app):
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, user_id=root["id"])
        answer = client.post(url, data={**_attack_form(rule.endpoint), "csrf_token": token})
        assert answer.status_code == 404, rule.endpoint
    assert _account(app, "root") == root
    # The all-communities admin sees everyone, and a new community is theirs at once.
    boss = app.test_client()
    login(boss, "root")
    page = boss.get("/console/users").get_data(as_text=True)
    assert 'data-user="viewer_feicui"' in page
    assert 'data-user="root"' in page
    with app.app_context():
        from server.communities.services import create_community

        later = create_community("xinyuan", "新苑社区").id
        db.session.commit()
    assert boss.get(f"/reports/{later}").status_code == 200


@pytest.mark.parametrize("who", ["itself", "a user of A"])
def test_admin_of_a_cannot_grant_b(app: Flask, client: FlaskClient, world: World, who: str) -> None:
    """Granting a role in B (or in every community) is refused on every route that grants."""
    login(client, "admin_lanqiao")
    target = "admin_lanqiao" if who == "itself" else "viewer_lanqiao"
    before, counts = _account(app, target), _counts(app)
    token = csrf_token(client, "/console/users")
    attempts = [
        {"role_feicui": "admin"},
        {"role_lanqiao": "admin", "role_feicui": "viewer"},
        {"role_lanqiao": "viewer", "role_all": "admin"},
    ]
    for form in attempts:
        changed = client.post(
            f"/console/users/{before['id']}/access", data={**form, "csrf_token": token}
        )
        assert changed.status_code in (400, 403, 404), form
        assert _account(app, target) == before, form
        made = client.post(
            "/console/users",
            data={
                **form,
                "username": "newcomer",
                "password": "a long enough password",
                "csrf_token": token,
            },
        )
        assert made.status_code in (400, 403, 404), form
    assert _counts(app) == counts
    # An "all communities" field is no grant at all: the user gets lanqiao alone.
    made = client.post(
        "/console/users",
        data={
            "username": "newcomer",
            "password": "a long enough password",
            "role_lanqiao": "viewer",
            "all_communities": "1",
            "all_communities_role": "admin",
            "csrf_token": token,
        },
    )
    assert made.status_code == 303
    assert _roles(app, "newcomer") == ({"lanqiao": "viewer"}, None)


def test_admin_grants_a_role_per_community_and_every_change_is_audited(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.audit.models import AuditEntry
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("boss", PASSWORD, "admin", ["lanqiao", "feicui"], "boss")
        db.session.commit()
    login(client, "boss")
    token = csrf_token(client, "/console/users")
    viewer = _account(app, "viewer_lanqiao")
    answer = client.post(
        f"/console/users/{viewer['id']}/access",
        data={"role_lanqiao": "admin", "role_feicui": "viewer", "csrf_token": token},
    )
    assert answer.status_code == 303
    assert _roles(app, "viewer_lanqiao") == ({"lanqiao": "admin", "feicui": "viewer"}, None)
    made = client.post(
        "/console/users",
        data={
            "username": "mixed",
            "password": "a long enough password",
            "role_lanqiao": "social_worker",
            "role_feicui": "team_lead",
            "csrf_token": token,
        },
    )
    assert made.status_code == 303
    mixed = _account(app, "mixed")
    assert _roles(app, "mixed") == ({"lanqiao": "social_worker", "feicui": "team_lead"}, None)
    client.post(f"/console/users/{mixed['id']}/deactivate", data={"csrf_token": token})
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.community_id, AuditEntry.what)
            .where(AuditEntry.why == "users page")
            .order_by(AuditEntry.id)
        ).all()
    lanqiao, feicui = world.community["lanqiao"], world.community["feicui"]
    assert [tuple(r) for r in rows] == [
        (lanqiao, "user viewer_lanqiao: roles lanqiao viewer → feicui viewer, lanqiao admin"),
        (feicui, "user viewer_lanqiao: roles lanqiao viewer → feicui viewer, lanqiao admin"),
        (lanqiao, "user mixed created: feicui team_lead, lanqiao social_worker"),
        (feicui, "user mixed created: feicui team_lead, lanqiao social_worker"),
        (lanqiao, "user mixed: deactivated"),
        (feicui, "user mixed: deactivated"),
    ]


# --- a role holds in its own community only ------------------------------------------------


def _mixed_user(app: Flask, username: str, roles: dict[str, str]) -> None:
    from server.auth.services import create_user_with_roles
    from server.extensions import db

    with app.app_context():
        create_user_with_roles(username, PASSWORD, roles, username)
        db.session.commit()


def _request_state(app: Flask, request_id: int) -> tuple[Any, ...]:
    from server.extensions import db
    from server.requests.models import HelpRequest, RequestEvent

    with app.app_context():
        req = db.session.get_one(HelpRequest, request_id)
        events = db.session.scalar(
            sa.select(sa.func.count()).where(RequestEvent.request_id == request_id)
        )
        return req.status, req.public_note, req.team_id, events


def test_social_worker_in_a_viewer_in_b_triages_in_a_and_only_reads_in_b(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _mixed_user(app, "mixed", {"lanqiao": "social_worker", "feicui": "viewer"})
    login(client, "mixed")
    token = csrf_token(client, "/console/queue")
    own, other = world.requests["lanqiao"], world.requests["feicui"]
    queue = client.get("/console/queue?view=all").get_data(as_text=True)
    assert "SECRET-LANQIAO" in queue
    assert "SECRET-FEICUI" in queue
    page_b = client.get(f"/console/requests/{other}").get_data(as_text=True)
    assert "SECRET-FEICUI" in page_b
    assert "13800000001" not in page_b, "a viewer sees no phone number"
    assert f"/console/requests/{other}/triage" not in page_b, "and no action"
    page_a = client.get(f"/console/requests/{own}").get_data(as_text=True)
    assert "13800000001" in page_a
    assert f"/console/requests/{own}/triage" in page_a
    before = _request_state(app, other)
    for action, form in [
        ("note", {"text": "hello"}),
        ("triage", {"category": "electrical", "priority": "normal"}),
        ("dispatch", {"team": str(world.teams["feicui"])}),
    ]:
        answer = client.post(
            f"/console/requests/{other}/{action}", data={**form, "csrf_token": token}
        )
        assert answer.status_code in (403, 404), action
    assert _request_state(app, other) == before
    assert client.get(f"/console/residents/{world.residents['feicui']}").status_code in (403, 404)
    assert client.get(f"/console/residents/{world.residents['lanqiao']}").status_code == 200
    noted = client.post(
        f"/console/requests/{own}/note", data={"text": "on it", "csrf_token": token}
    )
    assert noted.status_code == 303


def test_possible_duplicates_and_merge_by_ticket_reach_only_where_the_role_acts(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A social worker in A who is a viewer in B: B's rooms are not found by the intake's
    duplicates lookup, and a ticket B also holds names A's request, never B's."""
    from server.extensions import db
    from server.requests.models import HelpRequest
    from tests.server.conftest import make_request

    _mixed_user(app, "mixed", {"lanqiao": "social_worker", "feicui": "viewer"})
    with app.app_context():
        again = make_request(world.community["lanqiao"], "3-2-301")  # ticket A-0001, as B's
        db.session.commit()
    login(client, "mixed")
    own = client.get("/console/requests/duplicates?room=3-2-301&category=electrical")
    assert [i["id"] for i in own.get_json()] == [again, world.requests["lanqiao"]]
    theirs = client.get("/console/requests/duplicates?room=7-1-101&category=electrical")
    assert theirs.status_code == 404
    assert "SECRET-FEICUI" not in theirs.get_data(as_text=True)
    stranger = app.test_client()
    login(stranger, "social_worker_feicui")
    elsewhere = stranger.get("/console/requests/duplicates?room=3-2-301&category=electrical")
    assert elsewhere.status_code == 404
    before = _request_state(app, world.requests["feicui"])
    token = csrf_token(client, "/console/queue")
    merged = client.post(
        f"/console/requests/{again}/merge", data={"into": "A-0001", "csrf_token": token}
    )
    assert merged.status_code == 303
    with app.app_context():
        assert db.session.get_one(HelpRequest, again).duplicate_of_id == world.requests["lanqiao"]
    assert _request_state(app, world.requests["feicui"]) == before


def test_admin_in_a_viewer_in_b_writes_nothing_in_b(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Every POST route, aimed at B's records: refused (403 or 404), nothing in B changes."""
    from tests.server.auth import test_access as matrix

    _mixed_user(app, "mixed", {"lanqiao": "admin", "feicui": "viewer"})
    login(client, "mixed")
    token = csrf_token(client, "/console/queue")
    before = matrix._snapshot(app, world)
    walked = 0
    for rule, method in matrix._routes(app):
        policy = matrix.rule_for(rule.endpoint)
        if method != "POST" or policy is None or policy.kind != "session":
            continue
        if rule.endpoint == "auth.logout":
            continue
        url = matrix._url(app, rule, world, "feicui")
        form = {**matrix._form(rule, world, "feicui"), "csrf_token": token}
        status, body = matrix._call(client, method, url, form)
        assert status in (400, 403, 404), f"POST {rule.rule}: {status}"
        assert "RESIDENT-FEICUI" not in body, rule.rule
        walked += 1
    assert walked >= 20
    assert matrix._snapshot(app, world) == before
    # The same person administers A: A's users are theirs.
    assert 'data-user="viewer_lanqiao"' in client.get("/console/users").get_data(as_text=True)


# --- printed orders: personal data on paper only for those who may handle it ----------------


def test_a_viewer_prints_no_personal_data(app: Flask, client: FlaskClient, world: World) -> None:
    ready = _world_ready(app, world)
    login(client, "viewer_lanqiao")
    page = client.get(f"/console/requests/{ready.request}").get_data(as_text=True)
    assert "work-order" not in page, "no print links"
    assert "transfer-order" not in page
    answer = client.get(f"/console/requests/{ready.request}/work-order")
    assert answer.status_code == 403
    assert "13800000001" not in answer.get_data(as_text=True)
    transfer = f"/console/requests/{ready.request}/escalations/{ready.escalation}/transfer-order"
    assert client.get(transfer).status_code == 403
    assert _prints(app, ready.request) == []


def test_a_team_lead_prints_the_work_orders_of_their_teams_jobs_only(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.dispatch.services import create_team
    from server.extensions import db
    from server.requests import services as lifecycle
    from server.requests.models import HelpRequest
    from tests.server.conftest import make_request

    with app.app_context():
        waiting = make_request(world.community["lanqiao"], "3-2-302")
        elsewhere = make_request(world.community["lanqiao"], "3-2-302", phone="13800000002")
        req = db.session.get_one(HelpRequest, elsewhere)
        req.status = "triaged"
        lifecycle.dispatch(req, Actor("社工"), create_team("lanqiao", "红马甲", []), None, None)
        db.session.commit()
    ready = _world_ready(app, world)
    login(client, "team_lead_lanqiao")
    job = client.get(f"/console/jobs/{ready.request}").get_data(as_text=True)
    assert f'href="/console/requests/{ready.request}/work-order"' in job
    answer = client.get(f"/console/requests/{ready.request}/work-order")
    assert answer.status_code == 200
    assert "13800000001" in answer.get_data(as_text=True)
    assert _prints(app, ready.request)[0][0] == "team_lead lanqiao"
    for not_theirs in (waiting, elsewhere):  # not dispatched; dispatched to a team they do not lead
        assert client.get(f"/console/requests/{not_theirs}/work-order").status_code == 404
    transfer = f"/console/requests/{ready.request}/escalations/{ready.escalation}/transfer-order"
    assert client.get(transfer).status_code == 403, "a 转办单 is staff's to print"
    other = app.test_client()
    login(other, "team_lead_feicui")
    assert other.get(f"/console/requests/{ready.request}/work-order").status_code == 404
    assert [row[0] for row in _prints(app, ready.request)] == ["team_lead lanqiao"]
    assert _prints(app, elsewhere) == []
    assert _prints(app, waiting) == []


# --- the migration carries today's users over ----------------------------------------------


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Any:
    """A database with no tables at all."""
    import uuid

    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    name = f"linli_m_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_carries_existing_users_over(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    monkeypatch.setenv("LINLI_INSTANCE_DIR", str(tmp_path / "instance"))
    env = {"LINLI_DATABASE_URL": empty_database_url, "LINLI_INSTANCE_DIR": str(tmp_path)}
    linli("server", "db", "upgrade", "0004", env=env)
    password_hash = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
    engine = sa.create_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            for cid, slug in [(1, "lanqiao"), (2, "feicui")]:
                conn.execute(
                    sa.text(
                        "INSERT INTO community (id, slug, name, created_at) "
                        "VALUES (:id, :slug, :slug, CURRENT_TIMESTAMP)"
                    ),
                    {"id": cid, "slug": slug},
                )
            for uid, name, role, communities in [
                (1, "boss", "admin", [1, 2]),
                (2, "sw", "social_worker", [1]),
                (3, "lead", "team_lead", [2]),
                (4, "watcher", "viewer", [1, 2]),
            ]:
                conn.execute(
                    sa.text(
                        "INSERT INTO user_account (id, username, display_name, password_hash, "
                        "role, is_active, session_generation, created_at) VALUES "
                        "(:id, :name, :name, :hash, :role, :active, 3, CURRENT_TIMESTAMP)"
                    ),
                    {"id": uid, "name": name, "hash": password_hash, "role": role,
                     "active": name != "watcher"},
                )  # fmt: skip
                for cid in communities:
                    conn.execute(
                        sa.text(
                            "INSERT INTO user_community (user_id, community_id) VALUES (:u, :c)"
                        ),
                        {"u": uid, "c": cid},
                    )
    finally:
        engine.dispose()

    linli("server", "db", "upgrade", env=env)

    from server import create_app
    from server.auth.models import User
    from server.extensions import db

    app = create_app(
        {"LINLI_DATABASE_URL": empty_database_url, "SQLALCHEMY_DATABASE_URI": empty_database_url}
    )
    try:
        with app.app_context():
            users = {u.username: u for u in db.session.execute(sa.select(User)).scalars()}
            assert {
                name: ({m.community.slug: m.role for m in u.memberships}, u.all_communities_role)
                for name, u in users.items()
            } == {
                "boss": ({"lanqiao": "admin", "feicui": "admin"}, None),
                "sw": ({"lanqiao": "social_worker"}, None),
                "lead": ({"feicui": "team_lead"}, None),
                "watcher": ({"lanqiao": "viewer", "feicui": "viewer"}, None),
            }
            assert {n: (u.is_active, u.session_generation) for n, u in users.items()} == {
                "boss": (True, 3),
                "sw": (True, 3),
                "lead": (True, 3),
                "watcher": (False, 3),
            }
        assert _signs_in(app, "sw", PASSWORD), "the old password still signs in"
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- a team lead books hours only under teams they lead ------------------------------------


def _records(app: Flask) -> list[tuple[Any, ...]]:
    from server.extensions import db
    from server.volunteers.models import ServiceRecord

    with app.app_context():
        rows = db.session.execute(
            sa.select(ServiceRecord.id, ServiceRecord.team_id, ServiceRecord.status).order_by(
                ServiceRecord.id
            )
        ).all()
        return [tuple(r) for r in rows]


def test_team_lead_cannot_book_hours_under_a_team_they_do_not_lead(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    from server.dispatch.services import create_team
    from server.extensions import db
    from server.volunteers import services
    from server.volunteers.models import ServiceRecord, Volunteer
    from tests.server.seed import login as sign_in

    member = seed.volunteers["lanqiao"][0]  # in the lead's team
    with app.app_context():
        other = create_team("lanqiao", "另一队", ["plumbing"])
        services.add_member(other, db.session.get_one(Volunteer, member))
        db.session.commit()
        other_id = other.id
    sign_in(client, "team_lead_lanqiao")
    page = client.get("/volunteers/hours").get_data(as_text=True)
    assert "另一队" not in page, "the form offers only the lead's teams"
    token = csrf_token(client, "/volunteers/hours")
    before = _records(app)
    for team in (other_id, seed.team["feicui"]):
        refused = client.post(
            "/volunteers/hours/check-in",
            data={"volunteer": str(member), "team": str(team), "csrf_token": token},
        )
        assert refused.status_code in (400, 403, 404), team
        assert _records(app) == before, team
    # A check-in under another team (by a social worker) is not the lead's to check out.
    with app.app_context():
        volunteer = db.session.get_one(Volunteer, member)
        record = services.check_in(volunteer, Actor("社工"), team_id=other_id)
        db.session.commit()
        record_id = record.id
    before = _records(app)
    refused = client.post(f"/volunteers/hours/{record_id}/check-out", data={"csrf_token": token})
    assert refused.status_code in (400, 403, 404)
    assert _records(app) == before
    with app.app_context():
        services.check_out(db.session.get_one(ServiceRecord, record_id), Actor("社工"))
        db.session.commit()
    own = client.post(
        "/volunteers/hours/check-in",
        data={"volunteer": str(member), "team": str(seed.team["lanqiao"]), "csrf_token": token},
    )
    assert own.status_code == 303, "under the lead's own team it works"
    assert _records(app)[-1][1:] == (seed.team["lanqiao"], "open")


def test_only_a_team_lead_of_the_teams_community_leads_it(app: Flask, seed: Seed) -> None:
    """Leading a team widens what a user may book hours under: only a team lead there may."""
    from server.dispatch.models import Team
    from server.dispatch.services import set_team_lead
    from server.errors import InvalidInput
    from server.extensions import db

    with app.app_context():
        team = db.session.get_one(Team, seed.team["lanqiao"])
        for username in ("viewer_lanqiao", "team_lead_feicui"):
            with pytest.raises(InvalidInput, match="没有队长"):
                set_team_lead(team, username)
        set_team_lead(team, "team_lead_lanqiao")
        db.session.rollback()


def test_intake_is_offered_and_made_only_where_the_role_may_make_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A social worker in A who is a viewer in B enters requests for A only."""
    from server.extensions import db
    from server.requests.models import HelpRequest

    _mixed_user(app, "mixed", {"lanqiao": "social_worker", "feicui": "viewer"})
    login(client, "mixed")
    token = csrf_token(client, "/console/requests/new")
    page = client.get("/console/requests/new").get_data(as_text=True)
    assert f'value="{world.community["lanqiao"]}"' in page
    assert f'value="{world.community["feicui"]}"' not in page
    form = {"room": "7-1-101", "category": "electrical", "channel": "phone", "csrf_token": token}
    refused = client.post(
        "/console/requests/new", data={**form, "community": str(world.community["feicui"])}
    )
    assert refused.status_code == 404
    rooms = client.get(f"/console/rooms?community={world.community['feicui']}&q=7")
    assert rooms.status_code == 404
    made = client.post(
        "/console/requests/new",
        data={**form, "room": "3-2-301", "community": str(world.community["lanqiao"])},
    )
    assert made.status_code == 303
    with app.app_context():
        entered = db.session.execute(
            sa.select(HelpRequest.community_id).where(HelpRequest.channel == "phone")
        ).scalars()
        assert list(entered) == [world.community["lanqiao"]]
