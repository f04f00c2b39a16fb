"""Every CSV export neutralises cells a spreadsheet would run as a formula, in every column.

Residents, volunteers and staff type the text that ends up in an export (team names, building
codes, tickets, volunteers' names, what was done, who decided). A cell starting with `=`, `+`,
`-`, `@`, tab or carriage return is run by Excel or LibreOffice as a formula (`=HYPERLINK(...)`
sends data away); each must reach the sheet as text, with a leading `'`.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import login, make_request

DANGEROUS = ("=1+2", "+1+2", "-1+2", "@SUM(1)", "\t=1+2", "\r=1+2")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def exported(app: Flask, community: dict[str, Any]) -> dict[str, Any]:
    """Per dangerous value: a team, a building, unit and room, a request with that ticket sent
    to that team, and a volunteer of that name whose approved hours say it and were decided by
    it; plus an admin to download the exports."""
    from server.auth.services import create_user
    from server.communities.models import Building, Room
    from server.dispatch.services import create_team
    from server.extensions import db
    from server.requests.models import HelpRequest
    from server.timeutil import utcnow
    from server.volunteers.models import ServiceRecord, Volunteer

    with app.app_context():
        create_user("admin_x", "correct horse battery", "admin", ["lanqiao"], "admin")
        now = utcnow()
        for n, value in enumerate(DANGEROUS):
            team = create_team("lanqiao", f"{value}{n}", ["electrical"])
            building = Building(community_id=community["id"], code=value)
            db.session.add(building)
            db.session.flush()
            db.session.add(
                Room(
                    community_id=community["id"],
                    building_id=building.id,
                    unit=value,
                    number=value,
                    code=f"x{n}",
                )
            )
            db.session.flush()
            req = db.session.get_one(HelpRequest, make_request(community["id"], f"x{n}"))
            req.ticket = value[:8]
            req.team_id = team.id
            volunteer = Volunteer(community_id=community["id"], name=value, phone=f"13900000{n}")
            db.session.add(volunteer)
            db.session.flush()
            db.session.add(
                ServiceRecord(
                    community_id=community["id"],
                    volunteer_id=volunteer.id,
                    team_id=team.id,
                    source="manual",
                    content=value,
                    started_at=now - timedelta(minutes=30),
                    ended_at=now,
                    minutes=30,
                    status="approved",
                    recorded_by="social worker",
                    decided_by=value,
                    decided_at=now,
                )
            )
        db.session.commit()
    return community


def _rows(client: FlaskClient, path: str) -> list[list[str]]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    text = answer.get_data(as_text=True).removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("export", "columns"),
    [
        ("requests.csv", ("小票号", "楼栋", "单元", "房间", "服务队")),
        ("hours.csv", ("志愿者", "服务队", "内容", "审核人")),
    ],
)
def test_every_export_neutralises_formula_cells(
    client: FlaskClient, exported: dict[str, Any], export: str, columns: tuple[str, ...]
) -> None:
    """No cell of any row starts a formula; each dangerous value arrives as `'value`."""
    from datetime import UTC, datetime

    login(client, "admin_x")
    # A period around now: the current local month alone missed the records of 30 minutes ago
    # in the first half hour of a month.
    today = datetime.now(UTC).date()
    period = f"start={today - timedelta(days=2)}&end={today + timedelta(days=1)}"
    header, *rows = _rows(client, f"/reports/{exported['id']}/{export}?{period}")
    assert len(rows) == len(DANGEROUS), rows
    runnable = [
        (header[i], cell)
        for row in rows
        for i, cell in enumerate(row)
        if cell.startswith(FORMULA_STARTS)
    ]
    assert not runnable, f"{len(runnable)} cells a spreadsheet would run: {runnable}"
    quoted = {cell for row in rows for cell in row if cell.startswith("'")}
    for column in columns:
        values = {row[header.index(column)] for row in rows}
        assert values <= quoted, f"{column}: {values - quoted} not neutralised"
    print(f"{export}: {len(quoted)} distinct quoted cells in {len(rows)} rows")


def test_numbers_stay_numbers() -> None:
    """Numbers written by the exports stay numeric (a negative number is not quoted); text that
    merely looks like a negative number is quoted, as a spreadsheet would evaluate it."""
    from decimal import Decimal

    from server.inputs import safe_cell

    assert [safe_cell(v) for v in (-3, -2.5, Decimal("-1.5"), 0)] == [-3, -2.5, Decimal("-1.5"), 0]
    assert safe_cell("-3") == "'-3"
    assert safe_cell(None) == ""
    assert safe_cell(True) == "True"
    assert safe_cell("A-0001") == "A-0001"


def test_a_row_is_made_safe_cell_by_cell() -> None:
    """`safe_row`, which the exports use, treats every cell as `safe_cell` does."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from server.inputs import safe_cell, safe_row

    class Text(str):
        __slots__ = ()

    cells = [
        *DANGEROUS, "A-0001", "", None, True, False, -3, 2.5, Decimal("-1.5"),
        datetime(2026, 11, 30, tzinfo=UTC), Text("=1"), "'=1", "1-1", 0,
    ]  # fmt: skip
    assert safe_row(cells) == [safe_cell(cell) for cell in cells]
