"""The national volunteer platform's roster export imports as it is: its column names, its
dates, its team names written loosely (confirmed in the preview), its extra columns ignored."""

from __future__ import annotations

import io
import re
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.cli import invoke
from tests.server.seed import Seed, csrf_token, login
from tests.server.volunteers.test_import import _count, _xlsx

HEADER = [
    "序号", "姓名", "性别", "证件号码", "手机号码", "出生日期", "政治面貌", "技能特长",
    "所属队伍", "志愿者编号", "注册时间", "服务时长",
]  # fmt: skip
ROWS = [
    [1, "赵电工", "男", "210000195803020011", 13911110001, "1958-03-02", "群众", "电工、水电维修",
     "小蜜蜂", "31010000001", "2023-05-01 10:22:33", "120.5"],
    [2, "钱阿姨", "女", "210000196201150022", "13911110002", "1962年1月15日", "党员", "陪伴",
     "", "31010000002", "2023/6/1", "8"],
]  # fmt: skip


def _roster(team: str = "小蜜蜂") -> bytes:
    rows = [list(r) for r in ROWS]
    rows[0][8] = team
    return _xlsx([HEADER, *rows])


def test_the_national_roster_reads_with_its_own_column_names() -> None:
    from server.volunteers.imports import parse_volunteers

    parsed = parse_volunteers("花名册.xlsx", _roster(), {"小蜜蜂维修队", "帮帮团"})
    assert parsed.errors == []
    assert parsed.ok
    assert parsed.ignored == ["序号", "证件号码", "政治面貌", "服务时长"]
    assert parsed.team_matches == {"小蜜蜂": "小蜜蜂维修队"}
    first, second = parsed.rows
    assert (first.name, first.phone, first.gender, first.birth_year) == (
        "赵电工", "13911110001", "male", 1958,
    )  # fmt: skip
    assert first.skills == ("电工", "水电维修")
    assert first.team == "小蜜蜂维修队"
    assert first.registration_no == "31010000001"
    assert str(first.joined_on) == "2023-05-01"
    assert (second.gender, second.birth_year, str(second.joined_on)) == (
        "female",
        1962,
        "2023-06-01",
    )
    assert "210000195803020011" not in repr(parsed), "an ID number is never read"


def test_a_team_that_could_mean_several_or_none_is_an_error_naming_file_line_and_field() -> None:
    from server.volunteers.imports import parse_volunteers

    teams = {"小蜜蜂维修队", "小蜜蜂志愿服务队", "帮帮团"}
    parsed = parse_volunteers("花名册.xlsx", _roster("小蜜蜂"), teams)
    [error] = parsed.errors
    assert error.describe("花名册.xlsx").startswith("花名册.xlsx:2: team: ")
    assert "小蜜蜂维修队" in error.message
    assert "小蜜蜂志愿服务队" in error.message
    parsed = parse_volunteers("花名册.xlsx", _roster("健康使者"), teams)
    assert [e.describe("花名册.xlsx") for e in parsed.errors] == [
        "花名册.xlsx:2: team: 没有名为 '健康使者' 的服务队"
    ]
    bad_birth = [list(r) for r in ROWS]
    bad_birth[1][5] = "1962-02-30"
    parsed = parse_volunteers("花名册.xlsx", _xlsx([HEADER, *bad_birth]), {"小蜜蜂维修队"})
    assert [(e.line, e.field) for e in parsed.errors] == [(3, "birth_date")]


def test_the_preview_asks_to_confirm_the_team_match(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    from server.dispatch.models import Team
    from server.extensions import db

    with app.app_context():
        team = (
            db.session.execute(
                sa.select(Team).where(Team.community_id == seed.community["lanqiao"])
            )
            .scalars()
            .first()
        )
        assert team is not None
        team.name = "小蜜蜂维修队"
        team_id = team.id
        db.session.commit()
    login(client, "social_worker_lanqiao")
    before = _count(app)
    token = csrf_token(client, "/volunteers/import")
    answer = client.post(
        "/volunteers/import",
        data={
            "csrf_token": token,
            "community": seed.community["lanqiao"],
            "file": (io.BytesIO(_roster()), "花名册.xlsx"),
        },
        content_type="multipart/form-data",
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page
    assert "2 行有效，0 处错误" in page
    assert re.search(r"<td>小蜜蜂</td><td>小蜜蜂维修队</td>", page)
    assert "序号、证件号码、政治面貌、服务时长" in page
    assert 'name="confirm_teams"' in page
    content = re.search(r'name="content" value="([^"]+)"', page)
    assert content
    form = {
        "csrf_token": token,
        "community": seed.community["lanqiao"],
        "filename": "花名册.xlsx",
        "content": content.group(1),
    }
    unconfirmed = client.post("/volunteers/import/confirm", data=form)
    assert unconfirmed.status_code == 400
    assert _count(app) == before
    confirmed = client.post("/volunteers/import/confirm", data={**form, "confirm_teams": "yes"})
    assert confirmed.status_code == 303
    assert _count(app) == before + 2
    from server.volunteers.models import TeamMember, Volunteer

    with app.app_context():
        members = (
            db.session.execute(
                sa.select(Volunteer.name)
                .join(TeamMember, TeamMember.volunteer_id == Volunteer.id)
                .where(TeamMember.team_id == team_id, Volunteer.name == "赵电工")
            )
            .scalars()
            .all()
        )
        assert members == ["赵电工"]


def test_the_import_command_names_ignored_columns_and_asks_for_team_matches(
    app: Flask, seed: Seed, database_url: str, tmp_path: Path
) -> None:
    from server.dispatch.models import Team
    from server.extensions import db

    with app.app_context():
        team = (
            db.session.execute(
                sa.select(Team).where(Team.community_id == seed.community["lanqiao"])
            )
            .scalars()
            .first()
        )
        assert team is not None
        team.name = "小蜜蜂维修队"
        db.session.commit()
    sheet = tmp_path / "花名册.xlsx"
    sheet.write_bytes(_roster())
    before = _count(app)
    env = {"LINLI_DATABASE_URL": database_url, "LINLI_INSTANCE_DIR": str(tmp_path / "cli")}
    args = ("server", "volunteers", "import", "--community", "lanqiao", str(sheet))
    refused = invoke(*args, env=env, check=False)
    assert refused.returncode == 1
    assert "ignored columns: 序号, 证件号码, 政治面貌, 服务时长" in refused.stderr
    assert "team '小蜜蜂' matched to '小蜜蜂维修队'" in refused.stderr
    assert _count(app) == before
    done = invoke(*args, "--accept-team-matches", env=env)
    assert done.returncode == 0, done.stderr
    assert _count(app) == before + 2
