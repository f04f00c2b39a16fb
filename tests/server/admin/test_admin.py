"""The admin screens through the test client: each change goes through the CLI's services, is
audited, reaches the kiosks when they show it, and a bad input is shown beside its field with
everything typed kept."""

from __future__ import annotations

import io
import re
from typing import Any

import segno
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import PASSWORD, World, csrf_token, login
from tests.server.syncapi.test_sync_api import H, pull_all


def _post(client: FlaskClient, url: str, data: dict[str, Any], **kw: Any) -> Any:
    return client.post(url, data={**data, "csrf_token": csrf_token(client, "/login")}, **kw)


def _audits(app: Flask, community_id: int) -> list[str]:
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEntry.what)
                .where(AuditEntry.community_id == community_id, AuditEntry.why == "admin screens")
                .order_by(AuditEntry.id)
            ).scalars()
        )


def test_a_rooms_file_is_previewed_with_every_bad_line_and_field_then_imported(
    app: Flask, client: FlaskClient, world: World, enrolled: dict[str, Any]
) -> None:
    login(client, "admin_lanqiao")
    c = world.community["lanqiao"]
    bad = "building,unit,room\n5,1,101\n5,1\n5,1-2,103\n5, ,104\n"
    page = _post(
        client,
        f"/console/admin/{c}/rooms/import",
        {"file": (io.BytesIO(bad.encode()), "rooms.csv")},
    )
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    problems = re.findall(r"<tr><td>(\d+)</td>\s*<td>([^<]*)</td>", text)
    assert problems == [("3", ""), ("4", "单元"), ("5", "单元")]
    assert "应有3列" in text
    assert "confirm-import" not in text
    good = "building,unit,room\n5,1,101\n5,1,102\n3,2,301\n"
    page = _post(
        client,
        f"/console/admin/{c}/rooms/import",
        {"file": (io.BytesIO(good.encode("utf-8-sig")), "rooms.csv")},
    )
    assert page.status_code == 200
    assert "导入这 3 间" in page.get_data(as_text=True)
    done = _post(
        client, f"/console/admin/{c}/rooms/import", {"text": good, "filename": "rooms.csv"}
    )
    assert done.status_code == 303
    assert "新增 2 间，已有 1 间" in client.get(done.location).get_data(as_text=True)
    assert _audits(app, c)[-1] == "rooms import rooms.csv: 2 added, 1 present"

    from server.communities.models import Room
    from server.extensions import db

    with app.app_context():
        room = db.session.execute(
            sa.select(Room).where(Room.community_id == c, Room.code == "5-1-102")
        ).scalar_one()
    retired = _post(client, f"/console/admin/{c}/rooms/{room.id}/retire", {})
    assert retired.status_code == 303
    changes, _, _ = pull_all(client, enrolled["token"])
    rooms = {ch["key"]: ch.get("data") for ch in changes if ch["entity"] == "room"}
    assert rooms[f"{c}:5-1-102"] is None  # the kiosk drops it
    assert rooms[f"{c}:5-1-101"]["code"] == "5-1-101"
    assert _audits(app, c)[-1] == "room 5-1-102 retired"
    offered = client.get(f"/console/rooms?community={c}&q=5-1").get_json()
    assert [choice["value"] for choice in offered] == ["5-1-101"]  # not the retired one


def test_a_bad_input_is_shown_beside_its_field_and_nothing_typed_is_lost(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "admin_lanqiao")
    c = world.community["lanqiao"]
    page = _post(
        client,
        f"/console/admin/{c}/settings",
        {
            "name": "蓝桥社区新名",
            "phone": "024-1",
            "timezone": "Mars/Olympus",
            "points_per_hour": "15",
        },
    )
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert re.search(r'id="timezone-error" role="alert">不认识的时区：Mars/Olympus', text)
    for kept in ('value="蓝桥社区新名"', 'value="Mars/Olympus"', 'value="15"', 'value="024-1"'):
        assert kept in text
    page = _post(
        client,
        f"/console/admin/{c}/agencies",
        {
            "name": "供电所",
            "kind": "department",
            "contact_name": "李工",
            "endpoint_url": "not a url",
        },
    )
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert 'id="endpoint_url-error"' in text
    assert 'value="李工"' in text
    assert _audits(app, c) == []


def test_settings_teams_and_agencies_are_saved_audited_and_reach_the_kiosk(
    app: Flask, client: FlaskClient, world: World, enrolled: dict[str, Any]
) -> None:
    from server.dispatch.models import Agency, Team
    from server.extensions import db
    from server.volunteers.models import TeamFocus

    login(client, "admin_lanqiao")
    c = world.community["lanqiao"]
    saved = _post(
        client,
        f"/console/admin/{c}/settings",
        {
            "name": "蓝桥",
            "phone": "024-7654321",
            "timezone": "Asia/Harbin",
            "points_per_hour": "12",
        },
    )
    assert saved.status_code == 303
    changes, _, _ = pull_all(client, enrolled["token"])
    [mine] = [ch["data"] for ch in changes if ch["entity"] == "community"]
    assert (mine["name"], mine["phone"]) == ("蓝桥", "024-7654321")
    team = _post(
        client,
        f"/console/admin/{c}/teams",
        {
            "name": "帮帮团",
            "categories": ["electrical", "plumbing"],
            "lead": "team_lead_lanqiao",
            "focus": "3号楼独居老人\n\n换灯泡",
        },
    )
    assert team.status_code == 303
    agency = _post(
        client,
        f"/console/admin/{c}/agencies",
        {
            "name": "自来水公司",
            "kind": "department",
            "contact_name": "王工",
            "contact_phone": "024-110",
            "endpoint_url": "https://water.example/hook",
        },
    )
    assert agency.status_code == 303
    with app.app_context():
        made = db.session.execute(sa.select(Team).where(Team.name == "帮帮团")).scalar_one()
        focus = db.session.get_one(TeamFocus, made.id)
        assert made.category_codes == ["electrical", "plumbing"]
        assert made.lead_user_id is not None
        assert focus.items == ["3号楼独居老人", "换灯泡"]
        water = db.session.execute(
            sa.select(Agency).where(Agency.name == "自来水公司")
        ).scalar_one()
        assert (water.contact_name, water.contact_phone) == ("王工", "024-110")
        team_id, agency_id = made.id, water.id
    edit = _post(
        client,
        f"/console/admin/{c}/teams/{team_id}",
        {"name": "帮帮团", "categories": ["plumbing"], "lead": "", "focus": ""},
    )
    assert edit.status_code == 303
    edit = _post(
        client,
        f"/console/admin/{c}/agencies/{agency_id}",
        {"name": "自来水公司", "kind": "property", "endpoint_url": "https://water.example/v2"},
    )
    assert edit.status_code == 303
    with app.app_context():
        made = db.session.get_one(Team, team_id)
        assert (made.category_codes, made.lead_user_id) == (["plumbing"], None)
        assert db.session.get_one(Agency, agency_id).endpoint_url == "https://water.example/v2"
    assert _audits(app, c) == [
        "settings: name, phone, timezone, points_per_hour",
        "team 帮帮团",
        "agency 自来水公司",
        "team 帮帮团",
        "agency 自来水公司",
    ]


def test_a_kiosk_is_enrolled_from_its_code_renamed_revoked_and_enrolled_again(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "admin_lanqiao")
    c = world.community["lanqiao"]
    page = _post(client, f"/console/admin/{c}/kiosks", {"name": "lanqiao-lobby"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    code = re.search(r'id="enrol-text">([A-Z0-9-]+)<', text)
    assert code
    # The QR code is the code's text (the same SVG segno makes of it).
    assert segno.make(code.group(1), micro=False).svg_inline(scale=8, title=code.group(1)) in text
    kiosk = client.post("/api/sync/v1/enroll", json={"code": code.group(1)}, headers=H)
    assert kiosk.status_code == 200
    token = kiosk.get_json()["token"]
    from server.extensions import db
    from server.kiosks.models import Kiosk

    with app.app_context():
        kiosk_id = db.session.execute(
            sa.select(Kiosk.id).where(Kiosk.name == "lanqiao-lobby")
        ).scalar_one()
    base = f"/console/admin/{c}/kiosks/{kiosk_id}"
    assert _post(client, f"/console/admin/{c}/kiosks", {"name": "lanqiao-gate"}).status_code == 200
    taken = _post(client, f"{base}/rename", {"name": "lanqiao-gate"})
    assert taken.status_code == 409
    text = taken.get_data(as_text=True)
    assert f'id="rename-{kiosk_id}-error"' in text  # beside its own rename field
    assert text.count('value="lanqiao-gate"') == 2  # the typed name kept, and the other kiosk
    assert _post(client, f"{base}/rename", {"name": "lanqiao-hall-2"}).status_code == 303
    assert _post(client, f"{base}/revoke", {}).status_code == 303
    pull = client.get("/api/sync/v1/pull", headers={**H, "Authorization": f"Bearer {token}"})
    assert pull.status_code == 401
    again = _post(client, f"{base}/reenrol", {})
    new_code = re.search(r'id="enrol-text">([A-Z0-9-]+)<', again.get_data(as_text=True))
    assert new_code
    assert (
        client.post("/api/sync/v1/enroll", json={"code": new_code.group(1)}, headers=H).status_code
        == 200
    )
    assert _audits(app, c) == [
        "kiosk lanqiao-lobby: enrolment code",
        "kiosk lanqiao-gate: enrolment code",
        "kiosk lanqiao-lobby renamed lanqiao-hall-2",
        "kiosk lanqiao-hall-2 revoked",
        "kiosk lanqiao-hall-2: enrolment code",
    ]


def test_an_api_token_is_shown_once_listed_and_revoked(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "admin_lanqiao")
    made = _post(
        client, "/console/admin/tokens", {"name": "12345 hotline", "communities": "lanqiao"}
    )
    secret = re.search(r'id="token-secret">(lt_[^<]+)<', made.get_data(as_text=True))
    assert secret
    auth = {"Authorization": f"Bearer {secret.group(1)}"}
    assert client.get("/api/v1/requests", headers=auth).status_code == 200
    listing = client.get("/console/admin/tokens").get_data(as_text=True)
    assert "12345 hotline" in listing
    assert secret.group(1) not in listing
    from server.extensions import db
    from server.staffapi.models import ApiToken

    with app.app_context():
        token_id = db.session.execute(
            sa.select(ApiToken.id).where(ApiToken.name == "12345 hotline")
        ).scalar_one()
    assert _post(client, f"/console/admin/tokens/{token_id}/revoke", {}).status_code == 303
    assert client.get("/api/v1/requests", headers=auth).status_code == 401
    assert _audits(app, world.community["lanqiao"])[-2:] == [
        "API token 12345 hotline",
        "API token 12345 hotline revoked",
    ]


def test_an_all_communities_admin_makes_a_community_and_sets_a_deadline(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.auth.services import create_user
    from server.extensions import db
    from server.requests.models import Category

    with app.app_context():
        create_user("root", PASSWORD, "admin", [], "城市管理员", all_communities=True)
        db.session.commit()
    login(client, "root")
    bad = _post(client, "/console/admin/communities", {"slug": "Bad Slug", "name": "北苑社区"})
    assert bad.status_code == 400
    assert 'value="北苑社区"' in bad.get_data(as_text=True)
    made = _post(client, "/console/admin/communities", {"slug": "beiyuan", "name": "北苑社区"})
    assert made.status_code == 303
    assert (
        _post(
            client, "/console/admin/categories/electrical/deadline", {"minutes": "20"}
        ).status_code
        == 303
    )
    with app.app_context():
        assert (
            db.session.execute(
                sa.select(Category.deadline_minutes).where(Category.code == "electrical")
            ).scalar_one()
            == 20
        )
    assert "category electrical: deadline 20 min" in _audits(app, world.community["feicui"])


def test_the_admin_screens_speak_english_one_click_away(client: FlaskClient, world: World) -> None:
    login(client, "admin_lanqiao")
    c = world.community["lanqiao"]
    assert "社区设置" in client.get(f"/console/admin/{c}/settings").get_data(as_text=True)
    client.set_cookie("lang", "en")
    page = client.get(f"/console/admin/{c}/settings").get_data(as_text=True)
    assert "Community settings" in page
    assert "Points per hour" in page


def test_on_a_new_install_an_all_communities_admin_makes_the_first_community(
    app: Flask, client: FlaskClient
) -> None:
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("root", PASSWORD, "admin", [], "城市管理员", all_communities=True)
        db.session.commit()
    login(client, "root")
    page = client.get("/console/admin/").get_data(as_text=True)
    assert "还没有社区" in page
    assert 'href="/console/admin/">管理</a>' in page  # in the menu already
    made = _post(client, "/console/admin/communities", {"slug": "lanqiao", "name": "蓝桥社区"})
    assert made.status_code == 303
    assert "蓝桥社区" in client.get("/console/admin/").get_data(as_text=True)
