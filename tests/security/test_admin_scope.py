"""The admin screens, route by route, as a hostile user would try them: a social worker (or a
team lead, or a viewer) reaches none of them; an admin of lanqiao never sees nor changes a
record of feicui, whichever of its ids they put in the URL; what every community shares
(categories, new communities) is an all-communities admin's alone."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, csrf_token, login


@pytest.fixture
def backend() -> str:
    """Access is decided before any query: one backend is enough."""
    return "sqlite"


def _feicui(app: Flask, world: World) -> dict[str, Any]:
    """Ids of feicui's records, and a kiosk and a room of it."""
    from server.communities.models import Room
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code
    from server.staffapi.models import ApiToken

    with app.app_context():
        kiosk, _code = new_enrollment_code("feicui", "feicui-hall", 24)
        db.session.commit()
        room = (
            db.session.execute(
                sa.select(Room.id).where(Room.community_id == world.community["feicui"])
            )
            .scalars()
            .first()
        )
        token = db.session.execute(
            sa.select(ApiToken.id).where(ApiToken.name == "token-feicui")
        ).scalar_one()
        return {
            "c": world.community["feicui"],
            "kiosk": kiosk.id,
            "room": room,
            "team": world.teams["feicui"],
            "agency": world.agencies["feicui"],
            "token": token,
        }


def _routes(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """Every admin route at feicui's records, with valid fields."""
    c = ids["c"]
    return [
        ("GET", f"/console/admin/{c}/settings", {}),
        ("POST", f"/console/admin/{c}/settings", {"name": "HACKED", "phone": "110"}),
        ("GET", f"/console/admin/{c}/rooms", {}),
        ("POST", f"/console/admin/{c}/rooms", {"building": "9", "unit": "9", "room": "909"}),
        ("POST", f"/console/admin/{c}/rooms/import", {"text": "9,9,901\n", "filename": "x.csv"}),
        ("POST", f"/console/admin/{c}/rooms/{ids['room']}/retire", {}),
        ("GET", f"/console/admin/{c}/teams", {}),
        ("POST", f"/console/admin/{c}/teams", {"name": "HACKED", "categories": "electrical"}),
        ("GET", f"/console/admin/{c}/teams/{ids['team']}", {}),
        ("POST", f"/console/admin/{c}/teams/{ids['team']}", {"name": "HACKED"}),
        ("GET", f"/console/admin/{c}/agencies", {}),
        (
            "POST",
            f"/console/admin/{c}/agencies",
            {"name": "HACKED", "kind": "charity", "endpoint_url": "http://127.0.0.1:9/x"},
        ),
        ("GET", f"/console/admin/{c}/agencies/{ids['agency']}", {}),
        (
            "POST",
            f"/console/admin/{c}/agencies/{ids['agency']}",
            {"name": "HACKED", "kind": "charity", "endpoint_url": "http://127.0.0.1:9/x"},
        ),
        ("GET", f"/console/admin/{c}/kiosks", {}),
        ("POST", f"/console/admin/{c}/kiosks", {"name": "HACKED"}),
        ("POST", f"/console/admin/{c}/kiosks/{ids['kiosk']}/rename", {"name": "HACKED"}),
        ("POST", f"/console/admin/{c}/kiosks/{ids['kiosk']}/revoke", {}),
        ("POST", f"/console/admin/{c}/kiosks/{ids['kiosk']}/reenrol", {}),
        ("POST", f"/console/admin/tokens/{ids['token']}/revoke", {}),
        ("POST", "/console/admin/categories/electrical/deadline", {"minutes": "1"}),
        ("POST", "/console/admin/communities", {"slug": "hacked", "name": "HACKED"}),
    ]


def _state(app: Flask) -> tuple[Any, ...]:
    """Everything an admin screen could change."""
    from server.extensions import db

    tables = (
        "community",
        "room",
        "team",
        "team_focus",
        "agency",
        "kiosk",
        "api_token",
        "category",
        "audit_entry",
    )
    with app.app_context():
        return tuple(
            tuple(tuple(row) for row in db.session.execute(sa.text(f"SELECT * FROM {t}")))  # noqa: S608  (fixed names)
            for t in tables
        )


def _call(client: FlaskClient, method: str, url: str, data: dict[str, str]) -> tuple[int, str]:
    token = csrf_token(client, "/login")
    answer = client.open(url, method=method, data={**data, "csrf_token": token})
    return answer.status_code, answer.get_data(as_text=True)


def test_a_community_admin_never_sees_or_changes_another_community(
    app: Flask, world: World
) -> None:
    ids = _feicui(app, world)
    client = app.test_client()
    login(client, "admin_lanqiao")
    before = _state(app)
    for method, url, data in _routes(ids):
        status, body = _call(client, method, url, data)
        assert status == 404, f"{method} {url}: {status}"
        assert "翡翠" not in body, url
        assert "feicui-hall" not in body, url
    assert _state(app) == before
    # Lists show only one's own communities' records.
    for url in ("/console/admin/", "/console/admin/tokens"):
        body = client.get(url).get_data(as_text=True)
        assert "翡翠" not in body, url
        assert "token-feicui" not in body, url
    assert "token-lanqiao" in client.get("/console/admin/tokens").get_data(as_text=True)
    # A token for feicui (or for all communities) cannot be made by lanqiao's admin.
    for data in ({"name": "x", "communities": "feicui"}, {"name": "x", "everywhere": "yes"}):
        assert _call(client, "POST", "/console/admin/tokens", data)[0] == 400
    assert _state(app) == before


@pytest.mark.parametrize("role", ["social_worker", "team_lead", "viewer"])
def test_only_admins_reach_the_admin_screens(app: Flask, world: World, role: str) -> None:
    ids = _feicui(app, world)
    own = {
        **ids,
        "c": world.community["lanqiao"],
        "team": world.teams["lanqiao"],
        "agency": world.agencies["lanqiao"],
    }
    client = app.test_client()
    login(client, f"{role}_lanqiao")
    before = _state(app)
    gets = [
        ("GET", "/console/admin/", {}),
        ("GET", "/console/admin/categories", {}),
        ("GET", "/console/admin/tokens", {}),
    ]
    for method, url, data in gets + _routes(own):
        assert _call(client, method, url, data)[0] == 403, f"{role}: {method} {url}"
    assert _state(app) == before
    assert "/console/admin/" not in client.get("/console/queue").get_data(as_text=True)


def test_an_admin_changes_their_own_community(app: Flask, world: World) -> None:
    """The refusals above are not vacuous: the same routes work on lanqiao."""
    client = app.test_client()
    login(client, "admin_lanqiao")
    c = world.community["lanqiao"]
    settings = {"name": "蓝桥社区", "phone": "024-7654321", "points_per_hour": "12"}
    answer = _call(client, "POST", f"/console/admin/{c}/settings", settings)
    assert answer[0] == 303
    assert (
        _call(client, "POST", "/console/admin/categories/electrical/deadline", {"minutes": "1"})[0]
        == 404
    )
    page = client.get("/console/admin/categories").get_data(as_text=True)
    assert "/console/admin/categories/electrical/choices" in page
    assert 'name="minutes"' not in page  # no form for what a community admin may not change
