"""The sub-choices admin page, route by route: a community's administrators edit their own
community's list only; other roles are refused; every edit is audited and reaches the kiosks."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, csrf_token, login

PAGE = "/console/admin/categories/electrical/choices"


def _names(app: Flask, community_id: int) -> list[str]:
    from server.extensions import db
    from server.requests.models import Category, SubChoice

    with app.app_context():
        return list(
            db.session.execute(
                sa.select(SubChoice.name_zh)
                .join(Category, Category.id == SubChoice.category_id)
                .where(SubChoice.community_id == community_id, Category.code == "electrical")
                .order_by(SubChoice.sort_order)
            ).scalars()
        )


def _audits(app: Flask, community_id: int) -> int:
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        return int(
            db.session.scalar(
                sa.select(sa.func.count()).where(AuditEntry.community_id == community_id)
            )
            or 0
        )


def test_an_admin_edits_only_their_own_communitys_list(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "admin_lanqiao")
    own, other = world.community["lanqiao"], world.community["feicui"]
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "灯不亮" in page.get_data(as_text=True)
    assert client.get(f"{PAGE}?community={other}").status_code == 404
    token = csrf_token(client, PAGE)
    before = (_names(app, other), _audits(app, other))
    for action in ("add", "retire", "rename", "up", "remove"):
        answer = client.post(
            PAGE,
            data={
                "community": str(other),
                "action": action,
                "code": "light_out",
                "name_zh": "INTRUDER",
                "csrf_token": token,
            },
        )
        assert answer.status_code == 404, action
    assert (_names(app, other), _audits(app, other)) == before
    audits = _audits(app, own)
    answer = client.post(
        PAGE,
        data={"community": str(own), "action": "add", "name_zh": "电表", "csrf_token": token},
    )
    assert answer.status_code == 303
    assert _names(app, own)[-1] == "电表"
    assert _audits(app, own) == audits + 1


def test_other_roles_are_refused(client: FlaskClient, world: World) -> None:
    for role in ("social_worker", "team_lead", "viewer"):
        fresh = client.application.test_client()
        login(fresh, f"{role}_lanqiao")
        assert fresh.get(PAGE).status_code == 403, role
        token = csrf_token(fresh, "/login")
        answer = fresh.post(
            PAGE,
            data={
                "community": str(world.community["lanqiao"]),
                "action": "retire",
                "code": "light_out",
                "csrf_token": token,
            },
        )
        assert answer.status_code == 403, role
