"""Admins reset passwords and change roles and communities; signing out ends the session on
the server, so a copied cookie stops working."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import PASSWORD, World, csrf_token, login, post

NEW_PASSWORD = "a brand new passphrase"


def _user(app: Flask, username: str) -> Any:
    from server.auth.models import User
    from server.extensions import db

    with app.app_context():
        user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one()
        return {
            "id": user.id,
            "roles": {m.community.slug: m.role for m in user.memberships},
            "hash": user.password_hash,
        }


def _audit(app: Flask, community_id: int) -> list[tuple[str, str, str]]:
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.actor, AuditEntry.action, AuditEntry.what)
            .where(AuditEntry.community_id == community_id, AuditEntry.why == "users page")
            .order_by(AuditEntry.id)
        ).all()
        return [tuple(row) for row in rows]


def _signed_in(client: FlaskClient) -> bool:
    answer = client.get("/console/queue", headers={"Accept": "text/html"})
    assert answer.status_code in (200, 302)
    return answer.status_code == 200


def test_password_reset_ends_the_users_sessions(
    app: Flask, client: FlaskClient, world: World
) -> None:
    worker = app.test_client()
    login(worker, "social_worker_lanqiao")
    assert _signed_in(worker)
    login(client, "admin_lanqiao")
    before = _user(app, "social_worker_lanqiao")
    url = f"/console/users/{before['id']}/password"

    weak = post(client, url, {"password": "short"}, "/console/users")
    assert weak.status_code == 400
    assert "密码至少需要 12 个字符" in weak.get_data(as_text=True)
    assert _user(app, "social_worker_lanqiao")["hash"] == before["hash"]
    assert _signed_in(worker), "a refused reset changes nothing"

    assert post(client, url, {"password": NEW_PASSWORD}, "/console/users").status_code == 303
    after = _user(app, "social_worker_lanqiao")
    assert after["hash"].startswith("$argon2id$")
    assert after["hash"] != before["hash"]
    assert not _signed_in(worker), "the user's open session ended"
    assert _signed_in(client), "the admin's own session goes on"
    old = worker.post(
        "/login",
        data={
            "username": "social_worker_lanqiao",
            "password": PASSWORD,
            "csrf_token": csrf_token(worker),
        },
    )
    assert old.status_code == 401
    login(worker, "social_worker_lanqiao", NEW_PASSWORD)
    assert _signed_in(worker)
    assert _audit(app, world.community["lanqiao"]) == [
        ("admin lanqiao", "change", "user social_worker_lanqiao: password reset")
    ]


def test_admin_changes_role_and_communities(app: Flask, client: FlaskClient, world: World) -> None:
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("boss", PASSWORD, "admin", ["lanqiao", "feicui"], "boss")
        db.session.commit()
    viewer = _user(app, "viewer_lanqiao")
    url = f"/console/users/{viewer['id']}/access"
    login(client, "boss")
    page = client.get("/console/users").get_data(as_text=True)
    assert f'action="{url}"' in page

    made = post(
        client, url, {"role_lanqiao": "viewer", "role_feicui": "social_worker"}, "/console/users"
    )
    assert made.status_code == 303
    changed = _user(app, "viewer_lanqiao")
    assert changed["roles"] == {"lanqiao": "viewer", "feicui": "social_worker"}
    what = "user viewer_lanqiao: roles lanqiao viewer → feicui social_worker, lanqiao viewer"
    for slug in ("lanqiao", "feicui"):
        assert _audit(app, world.community[slug]) == [("boss", "change", what)], slug

    # The new role takes effect on the user's next request.
    other = app.test_client()
    login(other, "viewer_lanqiao")
    feicui_request = other.get(f"/console/requests/{world.requests['feicui']}")
    assert feicui_request.status_code == 200
    assert "SECRET-FEICUI" in feicui_request.get_data(as_text=True)

    for bad, message in [
        ({"role_lanqiao": "root"}, "角色须为以下之一"),
        ({"role_lanqiao": "", "role_feicui": ""}, "请至少给一个社区"),
    ]:
        refused = post(client, url, bad, "/console/users")
        assert refused.status_code == 400
        assert message in refused.get_data(as_text=True)
    boss = _user(app, "boss")
    own = post(client, f"/console/users/{boss['id']}/access", {"role_lanqiao": "viewer"})
    assert own.status_code == 400
    assert "自己的角色请由另一位管理员修改" in own.get_data(as_text=True)
    assert _user(app, "viewer_lanqiao") == changed
    assert _user(app, "boss") == boss


def test_an_admin_does_not_manage_a_user_with_a_community_they_do_not_administer(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("shared", PASSWORD, "viewer", ["lanqiao", "feicui"], "shared")
        db.session.commit()
    shared = _user(app, "shared")
    login(client, "admin_lanqiao")
    assert 'data-user="shared"' not in client.get("/console/users").get_data(as_text=True)
    for path, form in [
        ("access", {"role_lanqiao": "team_lead"}),
        ("password", {"password": NEW_PASSWORD}),
        ("deactivate", {}),
    ]:
        answer = post(client, f"/console/users/{shared['id']}/{path}", form, "/console/users")
        assert answer.status_code == 404, path
    assert _user(app, "shared") == shared


def test_signing_out_revokes_a_copied_session_cookie(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "social_worker_lanqiao")
    cookie = client.get_cookie("linli_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("linli_session", cookie.value)
    assert _signed_in(thief), "the copied cookie works while the session is open"

    out = client.post("/logout", data={"csrf_token": csrf_token(client, "/console/queue")})
    assert out.status_code == 303
    assert not _signed_in(client)
    assert not _signed_in(thief), "the copied cookie stopped working at sign-out"
    api = thief.get("/console/queue/rows", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert "SECRET-LANQIAO" not in api.get_data(as_text=True)
    login(client, "social_worker_lanqiao")
    assert _signed_in(client), "signing in again works"
