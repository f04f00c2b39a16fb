"""Intake by staff (新建求助): a request told by phone, at the desk or by a building captain is
entered from the queue in one click, follows the kiosk's lifecycle, shows its channel and
reporter on the queue, its page and the report, and is audited; only staff of the community."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.procs import linli
from tests.security.test_roles import empty_database_url
from tests.server.conftest import World, csrf_token, login, post

__all__ = ["empty_database_url"]  # the fixture of an empty database, reused

NEW = "/console/requests/new"


def _form(world: World, slug: str = "lanqiao", **fields: str) -> dict[str, str]:
    return {
        "community": str(world.community[slug]),
        "room": "3-2-301" if slug == "lanqiao" else "7-1-101",
        "category": "electrical",
        "details": "王大爷来电：客厅灯不亮",
        "phone": "13800000001",
        "channel": "phone",
        "reporter_kind": "family",
        "reporter_name": "王女士",
        "on_behalf": "yes",
        **fields,
    }


def _made(app: Flask, **where: Any) -> list[Any]:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        return list(db.session.execute(sa.select(HelpRequest).filter_by(**where)).scalars())


def _entered(app: Flask) -> list[Any]:
    """Requests not made at a kiosk (the world's own request came from one)."""
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        return list(
            db.session.execute(
                sa.select(HelpRequest).where(HelpRequest.channel != "kiosk")
            ).scalars()
        )


def test_a_phone_request_for_a_known_resident_joins_the_queue(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db
    from server.requests.models import RequestEvent

    login(client, "social_worker_lanqiao")
    queue = client.get("/console/queue").get_data(as_text=True)
    assert f'href="{NEW}"' in queue
    assert "新建求助" in queue
    page = client.get(NEW).get_data(as_text=True)
    assert 'list="intake-rooms"' in page
    assert 'value="phone" selected' in page
    found = client.get(f"/console/rooms?community={world.community['lanqiao']}&q=RESIDENT")
    assert found.get_json() == [{"value": "3-2-301", "label": "3-2-301 RESIDENT-LANQIAO …0001"}]
    by_phone = client.get(f"/console/rooms?community={world.community['lanqiao']}&q=0000001")
    assert [c["value"] for c in by_phone.get_json()] == ["3-2-301"]
    by_code = client.get(f"/console/rooms?community={world.community['lanqiao']}&q=3-2-3")
    assert "3-2-301" in [c["value"] for c in by_code.get_json()]

    answer = post(client, NEW, _form(world), NEW)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    [req] = _made(app, channel="phone")
    assert answer.headers["Location"].endswith(f"/console/requests/{req.id}")
    assert (req.ticket, req.status, req.kiosk_id) == ("O-0001", "received", None)
    assert (req.reporter_kind, req.reporter_name, req.is_on_behalf) == ("family", "王女士", True)
    assert req.resident_id == world.residents["lanqiao"]  # room and phone match one profile
    assert req.community_id == world.community["lanqiao"]
    with app.app_context():
        events = db.session.execute(
            sa.select(RequestEvent.to_status, RequestEvent.kind, RequestEvent.actor).where(
                RequestEvent.request_id == req.id
            )
        ).all()
        assert ("received", "status", "social_worker lanqiao") in events
        [audit] = db.session.execute(
            sa.select(AuditEntry).where(
                AuditEntry.request_id == req.id, AuditEntry.action == "create"
            )
        ).scalars()
        assert audit.user_id == world.users["lanqiao"]

    rows = client.get("/console/queue").get_data(as_text=True)
    row = rows[rows.index(f'data-id="{req.id}"') :].split("</tr>")[0]
    assert 'data-channel="phone"' in row
    assert ">电话 · " in row
    assert "王女士" in row
    kiosk_row = rows[rows.index(f'data-id="{world.requests["lanqiao"]}"') :].split("</tr>")[0]
    assert "data-channel" not in kiosk_row
    shown = client.get(f"/console/requests/{req.id}").get_data(as_text=True)
    assert '<dd id="channel">电话</dd>' in shown
    assert "家属 王女士" in shown

    # The kiosk's lifecycle and deadlines: triage, dispatch as for any request.
    assert post(client, f"/console/requests/{req.id}/triage", {"category": "electrical",
                "priority": "normal"}).status_code == 303  # fmt: skip
    [req] = _made(app, id=req.id)
    assert (req.status, req.priority) == ("triaged", "high")  # an elder living alone

    second = post(client, NEW, _form(world, channel="walk_in", reporter_kind=""), NEW)
    assert second.status_code == 303
    [walk_in] = _made(app, channel="walk_in")
    assert (walk_in.ticket, walk_in.reporter_kind) == ("O-0002", None)


def test_a_staff_ticket_never_meets_a_kiosk_ticket() -> None:
    from server.requests.models import STAFF_TICKET_PREFIX
    from sync.ids import ticket_prefix

    prefixes = {ticket_prefix(n) for n in range(24 + 24 * 24)}
    assert not any(STAFF_TICKET_PREFIX in p for p in prefixes)


def test_the_counter_skips_a_ticket_an_older_request_holds(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        old = db.session.get_one(HelpRequest, world.requests["lanqiao"])
        old.ticket = "O-0001"  # as Open311 once gave at random
        db.session.commit()
    login(client, "social_worker_lanqiao")
    assert post(client, NEW, _form(world), NEW).status_code == 303
    assert [r.ticket for r in _made(app, channel="phone")] == ["O-0002"]


def test_bad_input_shows_the_form_again_and_makes_nothing(
    client: FlaskClient, world: World, app: Flask
) -> None:
    login(client, "social_worker_lanqiao")
    for fields, words in [
        ({"room": "9-9-999"}, "房间须为本社区的房间号"),
        ({"channel": "kiosk"}, "渠道：请选择求助来源"),
        ({"channel": "carrier_pigeon"}, "渠道：请选择求助来源"),
        ({"phone": "call me"}, "电话须为"),
        ({"reporter_kind": "neighbour"}, "报告人："),
        ({"category": "nothing"}, "类别：没有启用的类别"),
    ]:
        answer = post(client, NEW, _form(world, **fields), NEW)
        assert answer.status_code == 400, fields
        body = answer.get_data(as_text=True)
        assert words in body, (fields, body[-2000:])
        assert "新建求助" in body  # the form again, with what was typed
    assert _entered(app) == []


def test_only_staff_of_the_community_may_enter_a_request(
    client: FlaskClient, world: World, app: Flask
) -> None:
    for role in ("viewer", "team_lead"):
        other = app.test_client()
        login(other, f"{role}_lanqiao")
        assert other.get(NEW).status_code == 403
        assert (
            other.get(f"/console/rooms?community={world.community['lanqiao']}").status_code == 403
        )
        token = csrf_token(other, "/login")
        answer = other.post(NEW, data={**_form(world), "csrf_token": token})
        assert answer.status_code == 403
        assert "新建求助" not in other.get("/console/").get_data(as_text=True)
    login(client, "social_worker_lanqiao")
    assert post(client, NEW, _form(world, "feicui"), NEW).status_code == 404
    rooms = client.get(f"/console/rooms?community={world.community['feicui']}&q=RESIDENT")
    assert rooms.status_code == 404
    assert "RESIDENT-FEICUI" not in rooms.get_data(as_text=True)
    assert _entered(app) == []
    admin = app.test_client()
    login(admin, "admin_feicui")
    assert post(admin, NEW, _form(world, "feicui"), NEW).status_code == 303
    assert [r.community_id for r in _entered(app)] == [world.community["feicui"]]


def test_the_report_counts_requests_by_channel(
    client: FlaskClient, world: World, app: Flask
) -> None:
    login(client, "social_worker_lanqiao")
    for channel in ("phone", "phone", "building_captain"):
        assert post(client, NEW, _form(world, channel=channel), NEW).status_code == 303
    page = client.get(f"/reports/{world.community['lanqiao']}").get_data(as_text=True)
    table = page[page.index('id="by-channel"') :].split("</section>")[0]
    counts = {
        cell.split('"')[0]: cell.split("<td>")[2].split("</td>")[0]
        for cell in table.split('data-channel="')[1:]
    }
    assert counts["kiosk"] == "1"  # the world's request
    assert counts["phone"] == "2"
    assert counts["building_captain"] == "1"
    assert counts["hotline"] == "0"
    assert 'id="channels-total">4<' in table


def test_the_migration_marks_stored_requests_by_where_they_came_from(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Requests stored before 0011_channels: a kiosk's stay `kiosk`, Open311's (no kiosk,
    random `O-` ticket) become `open311`; communities start their ticket counter at 0."""
    env = {"LINLI_DATABASE_URL": empty_database_url, "LINLI_INSTANCE_DIR": str(tmp_path)}
    linli("server", "db", "upgrade", "0010_city", env=env)
    engine = sa.create_engine(empty_database_url)
    now = "2026-11-01 08:00:00+00:00"
    try:
        with engine.begin() as conn:
            for statement in (
                "INSERT INTO community (id, slug, name, created_at) VALUES (1, 'a', 'A', :now)",
                "INSERT INTO building (id, community_id, code) VALUES (1, 1, '3')",
                "INSERT INTO room (id, community_id, building_id, unit, number, code) "
                "VALUES (1, 1, 1, '2', '301', '3-2-301')",
            ):
                conn.execute(sa.text(statement), {"now": now})
            category = conn.execute(
                sa.text("SELECT id FROM category WHERE code = 'electrical'")
            ).scalar()
            for rid, ticket in [(1, "A-0001"), (2, "O-1A2B"), (3, "B-0007")]:
                conn.execute(
                    sa.text(
                        "INSERT INTO help_request (id, client_id, community_id, category_id, "
                        "room_id, ticket, is_on_behalf, status, is_urgent, "
                        "is_cancel_requested, device_created_at, received_at, updated_at) "
                        "VALUES (:id, :client, 1, :category, 1, :ticket, false, 'received', "
                        "false, false, :now, :now, :now)"
                    ),
                    {
                        "id": rid,
                        "client": uuid.uuid4().hex,
                        "ticket": ticket,
                        "now": now,
                        "category": category,
                    },
                )
    finally:
        engine.dispose()
    linli("server", "db", "upgrade", env=env)
    engine = sa.create_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT ticket, channel, reporter_kind FROM help_request ORDER BY id")
            ).all()
            counter = conn.execute(sa.text("SELECT last_staff_ticket FROM community")).scalar()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("A-0001", "kiosk", None),
        ("O-1A2B", "open311", None),
        ("B-0007", "kiosk", None),
    ]
    assert counter == 0


def test_the_requests_export_names_each_requests_channel(client: FlaskClient, world: World) -> None:
    import csv
    import io

    login(client, "social_worker_lanqiao")
    assert post(client, NEW, _form(world, channel="suggestion_box"), NEW).status_code == 303
    answer = client.get(f"/reports/{world.community['lanqiao']}/requests.csv")
    header, *rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    at = header.index("渠道")  # later columns (sub-choice, preferred time) follow it
    assert sorted((row[1], row[at]) for row in rows) == [
        ("A-0001", "kiosk"),
        ("O-0001", "suggestion_box"),
    ]
