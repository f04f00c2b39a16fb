"""Importing volunteer lists (CSV and XLSX): preview, row-by-row errors, all or nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.cli import invoke
from tests.server.seed import Seed, csrf_token, login

GOOD = (
    "姓名,手机号,性别,技能,可服务时间,服务队,在册,加入日期\n"
    "赵电工,139 1111 0001,男,电工、水暖,周末,小蜜蜂 lanqiao,是,2024-03-01\n"
    "钱阿姨,13911110002,女,陪伴;读报,工作日上午,,是,\n"
    "孙同学,13911110003,,,,,否,2025/09/01\n"
)
BROKEN = (
    "name,phone,gender,team,active,joined\n"
    "赵电工,13911110001,男,小蜜蜂 lanqiao,yes,2024-03-01\n"
    ",13911110002,女,,yes,\n"  # line 3: no name
    "孙同学,call me,,,yes,\n"  # line 4: not a phone number
    "李师傅,13911110004,x,,maybe,2024-13-01\n"  # line 5: gender, active, joined
    "周阿姨,13911110001,女,,yes,\n"  # line 6: phone of line 2 again
    "吴师傅,13911110006,男,no such team,yes,\n"  # line 7: unknown team
)


def _count(app: Flask) -> int:
    from server.extensions import db
    from server.volunteers.models import Volunteer

    with app.app_context():
        return int(
            db.session.execute(sa.select(sa.func.count()).select_from(Volunteer)).scalar_one()
        )


def _xlsx(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_every_broken_row_is_reported_and_nothing_is_saved() -> None:
    from server.volunteers.imports import parse_volunteers

    parsed = parse_volunteers("volunteers.csv", BROKEN.encode(), {"小蜜蜂 lanqiao"})
    found = [(e.line, e.field) for e in parsed.errors]
    assert found == [
        (3, "name"),
        (4, "phone"),
        (5, "gender"),
        (5, "active"),
        (5, "joined"),
        (6, "phone"),
        (7, "team"),
    ]
    assert not parsed.ok
    assert parsed.errors[5].describe("volunteers.csv") == (
        "volunteers.csv:6: phone: 13911110001 已在第 2 行出现"
    )


def test_a_gbk_csv_and_an_xlsx_with_numbers_read_the_same() -> None:
    from server.volunteers.imports import parse_volunteers

    csv_rows = parse_volunteers("v.csv", GOOD.encode("gb18030"), {"小蜜蜂 lanqiao"}).rows
    xlsx = _xlsx(
        [
            ["姓名", "手机号", "性别", "技能", "可服务时间", "服务队", "在册", "加入日期"],
            [
                "赵电工",
                13911110001,
                "男",
                "电工、水暖",
                "周末",
                "小蜜蜂 lanqiao",
                "是",
                "2024-03-01",
            ],
            ["钱阿姨", 13911110002.0, "女", "陪伴;读报", "工作日上午", None, "是", None],
            ["孙同学", "13911110003", None, None, None, None, "否", "2025/09/01"],
        ]
    )
    xlsx_rows = parse_volunteers("v.xlsx", xlsx, {"小蜜蜂 lanqiao"}).rows
    assert csv_rows == xlsx_rows
    assert [r.phone for r in csv_rows] == ["13911110001", "13911110002", "13911110003"]
    assert csv_rows[0].skills == ("电工", "水暖")
    assert csv_rows[1].skills == ("陪伴", "读报")
    assert [r.is_active for r in csv_rows] == [True, True, False]


def test_files_that_are_not_lists_are_refused() -> None:
    from server.volunteers.imports import parse_volunteers

    for name, data, message in (
        ("v.xlsx", b"PK\x03\x04 not really a zip", "不是可读的 XLSX 工作簿"),
        ("v.csv", b"", "文件是空的"),
        ("v.csv", "姓名,邮箱\n张三,a@b\n".encode(), "缺少列"),
        ("v.csv", b"\xff\xfe\x00\x00\xff", "不是 UTF-8 或 GB18030"),
    ):
        parsed = parse_volunteers(name, data, set())
        assert not parsed.ok
        assert any(message in e.message for e in parsed.errors), (name, parsed.errors)


def test_preview_then_import_through_the_console(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    login(client, "social_worker_lanqiao")
    before = _count(app)
    token = csrf_token(client, "/volunteers/import")
    answer = client.post(
        "/volunteers/import",
        data={
            "csrf_token": token,
            "community": seed.community["lanqiao"],
            "file": (io.BytesIO(BROKEN.encode()), "volunteers.csv"),
        },
        content_type="multipart/form-data",
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "有错误，未导入" in page
    assert "已在第 2 行出现" in page
    assert "import/confirm" not in page
    assert _count(app) == before

    answer = client.post(
        "/volunteers/import",
        data={
            "csrf_token": token,
            "community": seed.community["lanqiao"],
            "file": (io.BytesIO(GOOD.encode()), "volunteers.csv"),
        },
        content_type="multipart/form-data",
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "3 行有效，0 处错误" in page
    assert _count(app) == before, "a preview saved something"
    import re

    content = re.search(r'name="content" value="([^"]+)"', page)
    assert content
    confirmed = client.post(
        "/volunteers/import/confirm",
        data={
            "csrf_token": token,
            "community": seed.community["lanqiao"],
            "filename": "volunteers.csv",
            "content": content.group(1),
        },
    )
    assert confirmed.status_code == 303
    assert _count(app) == before + 3
    again = client.post(
        "/volunteers/import/confirm",
        data={
            "csrf_token": token,
            "community": seed.community["lanqiao"],
            "filename": "volunteers.csv",
            "content": content.group(1),
        },
        follow_redirects=True,
    )
    assert "新增 0 位志愿者，3 位已登记" in again.get_data(as_text=True)
    assert _count(app) == before + 3


def test_the_import_command(app: Flask, seed: Seed, database_url: str, tmp_path: Path) -> None:
    env = {"LINLI_DATABASE_URL": database_url, "LINLI_INSTANCE_DIR": str(tmp_path / "cli")}
    broken = tmp_path / "broken.csv"
    broken.write_text(BROKEN, encoding="utf-8")
    before = _count(app)
    command = ("server", "volunteers", "import", "--community", "lanqiao")
    result = invoke(*command, str(broken), env=env, check=False)
    assert result.returncode == 1
    assert f"{broken}:4: phone: 'call me' 不是电话号码" in result.stderr
    assert f"{broken}:7: team: 没有名为 'no such team' 的服务队" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {broken}：6 行中有 5 行出错，共 7 处；什么也没有导入"
    )
    assert _count(app) == before
    good = tmp_path / "good.xlsx"
    good.write_bytes(_xlsx([["name", "phone"], ["甲", "13922220001"], ["乙", "13922220002"]]))
    result = invoke(*command, str(good), env=env)
    assert result.stdout.strip().splitlines()[-1] == (
        f"{good}: 2 rows, 2 volunteers added, 0 already present"
    )
    assert _count(app) == before + 2


def test_adding_and_correcting_one_volunteer(app: Flask, client: FlaskClient, seed: Seed) -> None:
    from server.extensions import db
    from server.volunteers.models import Volunteer

    login(client, "social_worker_lanqiao")
    before = _count(app)
    fields = {
        "community": seed.community["lanqiao"],
        "name": "郑师傅",
        "phone": "not a phone",
        "gender": "男",
        "skills": "电工、木工",
        "birth_year": "1970",
    }
    token = csrf_token(client, "/volunteers/new")
    bad = client.post("/volunteers/new", data={**fields, "csrf_token": token})
    assert bad.status_code == 400
    assert "phone: &#39;not a phone&#39; 不是电话号码" in bad.get_data(as_text=True)
    assert _count(app) == before
    made = client.post(
        "/volunteers/new", data={**fields, "phone": "13933330001", "csrf_token": token}
    )
    assert made.status_code == 303
    assert _count(app) == before + 1
    with app.app_context():
        volunteer = db.session.execute(
            sa.select(Volunteer).where(Volunteer.phone == "13933330001")
        ).scalar_one()
        assert (volunteer.skills, volunteer.gender, volunteer.birth_year) == (
            ["电工", "木工"],
            "male",
            1970,
        )
        taken = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0]).phone
    clash = client.post(
        f"/volunteers/{volunteer.id}/edit",
        data={**fields, "phone": taken, "availability": "周末", "csrf_token": token},
    )
    assert clash.status_code == 409
    assert f"另一位志愿者的手机号是 {taken}" in clash.get_data(as_text=True)
    fixed = client.post(
        f"/volunteers/{volunteer.id}/edit",
        data={**fields, "phone": "13933330009", "availability": "周末", "csrf_token": token},
    )
    assert fixed.status_code == 303
    with app.app_context():
        again = db.session.get_one(Volunteer, volunteer.id)
        assert (again.phone, again.availability) == ("13933330009", "周末")


def test_team_focus_and_members(app: Flask, client: FlaskClient, seed: Seed) -> None:
    from server.extensions import db
    from server.volunteers.models import TeamFocus, TeamMember

    login(client, "social_worker_lanqiao")
    team = seed.team["lanqiao"]
    token = csrf_token(client, "/volunteers/teams")
    base = f"/volunteers/teams/{team}"
    focus = "3号楼独居老人\n  \n每周二测血压\n"
    saved = client.post(f"{base}/focus", data={"focus": focus, "csrf_token": token})
    assert saved.status_code == 303
    outsider = seed.volunteers["feicui"][2]
    refused = client.post(f"{base}/add", data={"volunteer": outsider, "csrf_token": token})
    assert refused.status_code == 404  # another community's volunteer does not exist here
    third = seed.volunteers["lanqiao"][2]
    added = client.post(
        f"{base}/add", data={"volunteer": third, "is_lead": "yes", "csrf_token": token}
    )
    assert added.status_code == 303
    gone = client.post(
        f"{base}/remove", data={"volunteer": seed.volunteers["lanqiao"][1], "csrf_token": token}
    )
    assert gone.status_code == 303
    again = client.post(
        f"{base}/remove", data={"volunteer": seed.volunteers["lanqiao"][1], "csrf_token": token}
    )
    assert again.status_code == 400
    assert " 不在 " in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.get_one(TeamFocus, team).items == ["3号楼独居老人", "每周二测血压"]
        members = db.session.execute(
            sa.select(TeamMember.volunteer_id, TeamMember.is_lead).where(TeamMember.team_id == team)
        ).all()
        assert sorted(members) == sorted([(seed.volunteers["lanqiao"][0], False), (third, True)])
