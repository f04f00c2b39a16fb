"""Sub-choices on the server (issue 13.5): seeded per community, edited with their rules and
published to the kiosks, carried by every channel in, shown in words, counted in reports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from server.localtime import local_today
from sync.choices import DEFAULT_CHOICES
from tests.server.conftest import World, login, post


def _community_change(app: Flask, slug: str) -> tuple[int, dict[str, Any]]:
    from server.extensions import db
    from server.synclog.models import Change

    with app.app_context():
        row = db.session.execute(
            sa.select(Change).where(Change.entity == "community", Change.key == slug)
        ).scalar_one()
        return int(row.seq), dict(row.data or {})


def _request(app: Flask, request_id: int) -> Any:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        req = db.session.get_one(HelpRequest, request_id)
        db.session.expunge(req)
        return req


def test_a_new_community_gets_the_defaults_and_its_kiosks_learn_them(
    app: Flask, community: dict[str, Any]
) -> None:
    _, data = _community_change(app, "lanqiao")
    expected = [
        (category, code) for category, defaults in DEFAULT_CHOICES.items() for code, *_ in defaults
    ]
    assert [(c["category"], c["code"]) for c in data["choices"]] == expected
    assert data["choices"][0] == {
        "category": "electrical",
        "code": "light_out",
        "name_zh": "灯不亮",
        "name_en": "A light is out",
        "sort": 10,
    }


def test_edits_keep_their_rules_are_audited_and_republished(
    app: Flask, community: dict[str, Any]
) -> None:
    from server.audit.actor import Actor
    from server.audit.models import AuditEntry
    from server.communities.services import community_by_slug
    from server.errors import Conflict
    from server.extensions import db
    from server.subchoices.queries import choices_of
    from server.subchoices.services import category_by_code, edit_choices

    actor = Actor("tests")
    with app.app_context():
        lanqiao = community_by_slug("lanqiao")
        meals = category_by_code("meals")

        def edit(action: str, **form: str) -> str:
            return edit_choices(lanqiao, meals, action, form, actor)

        before, _ = _community_change(app, "lanqiao")
        assert edit("add", name_zh="早餐", name_en="Breakfast") == "已添加：早餐"
        added = choices_of(lanqiao.id, meals.id)[-1]
        assert (added.code, added.sort_order) == ("own_4", 40)
        edit("up", code="own_4")
        edit("rename", code="lunch", name_zh="中午饭", name_en="Lunch")
        assert [c.name_zh for c in choices_of(lanqiao.id, meals.id)] == [
            "中午饭", "晚餐", "早餐", "送餐上门",
        ]  # fmt: skip
        edit("add", name_zh="汤", name_en="Soup")
        edit("add", name_zh="水果", name_en="Fruit")
        with pytest.raises(Conflict) as full:
            edit("add", name_zh="点心", name_en="Snacks")
        assert full.value.code == "too_many_choices"
        edit("retire", code="delivery")
        edit("add", name_zh="点心", name_en="Snacks")
        with pytest.raises(Conflict):
            edit("restore", code="delivery")
        edit("remove", code="own_4")
        db.session.commit()
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(
                    AuditEntry.community_id == lanqiao.id,
                    AuditEntry.what.like("sub-choice meals/%"),
                )
            )
            == 8
        )  # the two refused edits are not recorded
    after, data = _community_change(app, "lanqiao")
    assert after > before
    meals_on_kiosk = [c["name_zh"] for c in data["choices"] if c["category"] == "meals"]
    assert meals_on_kiosk == ["中午饭", "晚餐", "汤", "水果", "点心"]


def test_a_sub_choice_that_requests_use_is_only_retired(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.audit.actor import Actor
    from server.communities.services import community_by_slug
    from server.errors import Conflict
    from server.subchoices.services import category_by_code, edit_choices

    login(client, "social_worker_lanqiao")
    answer = post(
        client,
        "/console/requests/new",
        {
            "community": str(world.community["lanqiao"]),
            "room": "3-2-301",
            "category": "electrical",
            "channel": "phone",
            "choice": "power_trip",
            "preferred_time": "tomorrow",
        },
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    with app.app_context():
        lanqiao = community_by_slug("lanqiao")
        electrical = category_by_code("electrical")
        with pytest.raises(Conflict) as refused:
            edit_choices(lanqiao, electrical, "remove", {"code": "power_trip"}, Actor("t"))
        assert refused.value.code == "choice_in_use"


def test_every_channel_carries_the_choice_and_the_console_shows_it_in_words(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "social_worker_lanqiao")
    form = {
        "community": str(world.community["lanqiao"]),
        "room": "3-2-301",
        "category": "electrical",
        "channel": "phone",
        "choice": "light_out",
        "preferred_time": "today_pm",
    }
    assert "灯不亮" in client.get("/console/requests/new").get_data(as_text=True)
    console = post(client, "/console/requests/new", form)
    assert console.status_code == 303
    page = client.get(console.headers["Location"]).get_data(as_text=True)
    assert '<dd id="choice">灯不亮</dd>' in page
    order = client.get(console.headers["Location"] + "/work-order").get_data(as_text=True)
    assert '<td id="choice">灯不亮</td>' in order
    assert "下午</dd>" in page
    bad = post(client, "/console/requests/new", {**form, "choice": "lunch"})
    assert bad.status_code == 400
    assert "这个类别没有这个细分选项" in bad.get_data(as_text=True)
    headers = {"Authorization": f"Bearer {world.tokens['lanqiao']}", "Idempotency-Key": "k-1"}
    body = {
        "community": "lanqiao",
        "room": "3-2-301",
        "category": "meals",
        "channel": "hotline",
        "choice": "delivery",
        "preferred_time": "any",
    }
    api = client.post("/api/v1/requests", json=body, headers=headers)
    assert api.status_code == 201, api.get_json()
    wrong = client.post(
        "/api/v1/requests",
        json={**body, "preferred_time": "yesterday"},
        headers={**headers, "Idempotency-Key": "k-2"},
    )
    assert (wrong.status_code, wrong.get_json()["error"]) == (400, "bad_preferred_time")
    open311 = client.post(
        f"/open311/v2/requests.json?api_key={world.tokens['lanqiao']}",
        data={
            "service_code": "plumbing",
            "address_id": "3-2-301",
            "attribute[choice]": "leak",
            "attribute[preferred_time]": "today_am",
        },
    )
    assert open311.status_code == 201, open311.get_data(as_text=True)
    made = [
        _request(app, int(console.headers["Location"].rsplit("/", 1)[-1])),
        _request(app, api.get_json()["id"]),
        _request(app, int(open311.get_json()[0]["service_request_id"])),
    ]
    assert [(r.choice_code, r.preferred_time) for r in made] == [
        ("light_out", "today_pm"),
        ("delivery", "any"),
        ("leak", "today_am"),
    ]
    rows = client.get("/console/queue").get_data(as_text=True)
    assert "送餐上门 · 都可以" in rows
    assert "漏水 · " in rows


def test_a_kiosk_push_keeps_a_known_choice_and_drops_an_unknown_one(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    from tests.sync.test_contract import golden
    from tests.sync.test_contract import post as push

    body = golden("push_request_choice.json")
    answer = push(client, "/push", body, enrolled["token"])
    assert answer.status_code == 200, answer.get_json()
    unknown = golden("push_request_choice.json")
    op = unknown["ops"][0]
    op.update(op_id="01955020-1a2b-7c3d-8e4f-5a6b7c8d9e02", seq=2)
    op["payload"].update(ticket="A-0002", choice="no_such_thing")
    assert push(client, "/push", unknown, enrolled["token"]).status_code == 200
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        got = db.session.execute(
            sa.select(
                HelpRequest.ticket, HelpRequest.choice_code, HelpRequest.preferred_time
            ).order_by(HelpRequest.ticket)
        ).all()
    assert [tuple(r) for r in got] == [
        ("A-0001", "light_out", "today_pm"),
        ("A-0002", None, "today_pm"),
    ]


def test_reports_count_requests_per_sub_choice_with_zeros(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "social_worker_lanqiao")
    base = {
        "community": str(world.community["lanqiao"]),
        "room": "3-2-301",
        "category": "electrical",
        "channel": "phone",
    }
    for choice in ("light_out", "light_out", "other"):
        assert post(client, "/console/requests/new", {**base, "choice": choice}).status_code == 303
    with app.app_context():
        today = local_today().isoformat()  # the reports' days are local days
    cid = world.community["lanqiao"]
    page = client.get(f"/reports/{cid}?start={today}&end={today}").get_data(as_text=True)
    section = page[page.index('data-category="electrical"') :]
    section = section[: section.index("</table>")]
    assert '<tr data-choice="light_out"><td>灯不亮</td><td>2</td></tr>' in section
    assert '<tr data-choice="socket_switch"><td>插座/开关</td><td>0</td></tr>' in section
    assert '<tr data-choice="other"><td>其他</td><td>1</td></tr>' in section
    # The world's own request was made without a sub-choice: not stated.
    assert '<tr data-choice="none"><td>未说明</td><td>1</td></tr>' in section
    export = client.get(f"/reports/{cid}/requests.csv?start={today}&end={today}")
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert sorted(r["具体问题"] for r in rows) == ["", "其他", "灯不亮", "灯不亮"]


def test_the_command_line_lists_and_edits(app: Flask, community: dict[str, Any]) -> None:
    from server.cli import choices_edit, choices_list

    runner = CliRunner()
    env = {"LINLI_DATABASE_URL": app.config["LINLI_DATABASE_URL"]}
    listed = runner.invoke(choices_list, ["--community", "lanqiao", "--category", "meals"], env=env)
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[0] == "meals\tlunch\t午餐\tLunch\tactive"
    retired = runner.invoke(
        choices_edit,
        ["--community", "lanqiao", "--category", "meals", "retire", "--code", "dinner"],
        env=env,
    )
    assert retired.exit_code == 0, retired.output
    listed = runner.invoke(choices_list, ["--community", "lanqiao", "--category", "meals"], env=env)
    assert "meals\tdinner\t晚餐\tDinner\tretired" in listed.output


def test_the_migration_gives_existing_communities_the_defaults_and_republishes_them(
    tmp_path: Path,
) -> None:
    """A database at 0013 with a community: after 0014 its kiosks pull the sub-choices."""
    from tests.procs import linli

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    env = {"LINLI_DATABASE_URL": url, "LINLI_INSTANCE_DIR": str(tmp_path)}
    linli("server", "db", "upgrade", "0013_signs", env=env)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO community (id, slug, name, phone, last_staff_ticket, created_at)"
                    " VALUES (5, 'beiyuan', '北苑社区', NULL, 0, '2026-01-01 00:00:00')"
                )
            )
            conn.execute(sa.text("UPDATE sync_state SET last_change_seq = last_change_seq + 1"))
            conn.execute(
                sa.text(
                    "INSERT INTO change (seq, entity, key, community_id, data, changed_at) "
                    "SELECT last_change_seq, 'community', 'beiyuan', 5, "
                    '\'{"slug": "beiyuan", "name": "北苑社区", "phone": null}\', '
                    "'2026-01-01 00:00:00' FROM sync_state"
                )
            )
            before = conn.execute(sa.text("SELECT last_change_seq FROM sync_state")).scalar_one()
        linli("server", "db", "upgrade", env=env)
        with engine.connect() as conn:
            seeded = conn.execute(
                sa.text("SELECT count(*) FROM sub_choice WHERE community_id = 5")
            ).scalar_one()
            seq, data = conn.execute(
                sa.text("SELECT seq, data FROM change WHERE entity = 'community'")
            ).one()
            last = conn.execute(sa.text("SELECT last_change_seq FROM sync_state")).scalar_one()
    finally:
        engine.dispose()
    assert seeded == sum(len(v) for v in DEFAULT_CHOICES.values())
    published = json.loads(data) if isinstance(data, str) else data
    assert published["choices"][0]["code"] == "light_out"
    assert seq == last == before + 1


def test_the_staff_api_lists_what_and_when(client: FlaskClient, world: World) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['lanqiao']}"}
    body = {
        "community": "lanqiao",
        "room": "3-2-301",
        "category": "errands",
        "channel": "phone",
        "choice": "bills",
        "preferred_time": "tomorrow",
    }
    made = client.post("/api/v1/requests", json=body, headers={**headers, "Idempotency-Key": "a"})
    assert made.status_code == 201
    items = client.get("/api/v1/requests", headers=headers).get_json()["items"]
    mine = next(i for i in items if i["ticket"] == made.get_json()["ticket"])
    assert (mine["choice"], mine["preferred_time"]) == ("bills", "tomorrow")
    assert {(i["choice"], i["preferred_time"]) for i in items if i is not mine} == {(None, None)}
