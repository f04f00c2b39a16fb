"""Report figures on a small fixture data set, checked against values worked out by hand.

Community lanqiao has rooms 3-2-301, 3-2-302, 3-1-101, 1-1-101, 1-1-102. The period is the
first quarter of 2026 (China time). T0 = 2026-02-10 09:00 CST. Minutes after receipt:

| req | category  | room    | received         | ack | disp | arrive | done | close | now          |
|-----|-----------|---------|------------------|-----|------|--------|------|-------|--------------|
| R1  | electric  | 3-2-301 | T0               | 4   | 10   | 25     | 70   | 1500  | closed_fixed |
| R2  | electric  | 3-2-301 | T0 + 1 d         | 6   | 20   | 45     | 90   |       | completed    |
| R3  | plumbing  | 3-2-302 | T0 + 2 d         | 2   |      |        |      |       | triaged      |
| R4  | plumbing  | 1-1-101 | T0 + 3 d         | 10  | 30   | 60     |      |       | on_site      |
| R5  | electric  | 3-1-101 | T0 + 4 d         | 5   |      |        |      |       | cancelled    |
| R6  | electric  | 3-2-301 | T0 + 5 d         | 8   |      |        |      |       | duplicate    |
| R8  | meals     | 1-1-102 | 03-31 23:30      |     |      |        |      |       | received     |
| R7  | electric  | 3-2-301 | 04-01 00:10      |     |      |        |      |       | (outside)    |
| R9  | electric  | 3-2-301 | 2025-12-31 23:59 |     |      |        |      |       | (outside)    |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.server.seed import Seed, add_request, add_resident, login

CST_OFFSET = timedelta(hours=8)
T0 = datetime(2026, 2, 10, 9, 0, tzinfo=UTC) - CST_OFFSET
Q1 = {"start": "2026-01-01", "end": "2026-03-31"}


def cst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A China Standard Time wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - CST_OFFSET


@dataclass
class Data:
    """Ids of the fixture's requests, residents and volunteers."""

    requests: dict[str, int] = field(default_factory=dict)
    volunteers: list[int] = field(default_factory=list)


def add_hours(
    seed: Seed,
    volunteer: int,
    started: datetime,
    minutes: int,
    status: str = "approved",
    source: str = "recorded",
    team: bool = True,
) -> None:
    """A decided service record."""
    from server.extensions import db
    from server.volunteers.models import ServiceRecord

    db.session.add(
        ServiceRecord(
            community_id=seed.community["lanqiao"],
            volunteer_id=volunteer,
            team_id=seed.team["lanqiao"] if team else None,
            source=source,
            content="服务",
            started_at=started,
            ended_at=started + timedelta(minutes=minutes),
            minutes=minutes,
            status=status,
            recorded_by="t",
        )
    )
    db.session.flush()


@pytest.fixture
def data(app: Flask, seed: Seed) -> Data:
    """The data set of the module docstring, plus residents and service hours."""
    from server.extensions import db

    d = Data()
    cid = seed.community["lanqiao"]
    with app.app_context():
        a = add_resident(cid, 1940, alone=True)  # 86 in 2026: elder, alone
        b = add_resident(cid, 1950, alone=False)  # 76: elder
        c = add_resident(cid, 1980, alone=True)  # 46: not an elder
        dd = add_resident(cid, 1930, alone=True)  # only a cancelled request: not served
        e = add_resident(cid, None, alone=True)  # birth year unknown: not counted as elder
        d.requests["R1"] = add_request(
            cid, "3-2-301", "electrical", T0, "closed_fixed",
            [(4, "received", "triaged"), (10, "triaged", "dispatched"),
             (20, "dispatched", "accepted"), (25, "accepted", "on_site"),
             (70, "on_site", "completed"), (800, "completed", "followed_up"),
             (1500, "followed_up", "closed_fixed")],
            arrived_after=25, resident_id=a,
        )  # fmt: skip
        d.requests["R2"] = add_request(
            cid, "3-2-301", "electrical", T0 + timedelta(days=1), "completed",
            [(6, "received", "triaged"), (20, "triaged", "dispatched"),
             (30, "dispatched", "accepted"), (45, "accepted", "on_site"),
             (90, "on_site", "completed")],
            arrived_after=45, resident_id=a,
        )  # fmt: skip
        d.requests["R3"] = add_request(
            cid, "3-2-302", "plumbing", T0 + timedelta(days=2), "triaged",
            [(2, "received", "triaged")], resident_id=b,
        )  # fmt: skip
        d.requests["R4"] = add_request(
            cid, "1-1-101", "plumbing", T0 + timedelta(days=3), "on_site",
            [(10, "received", "triaged"), (30, "triaged", "dispatched"),
             (40, "dispatched", "accepted"), (60, "accepted", "on_site")],
            arrived_after=60, resident_id=c,
        )  # fmt: skip
        d.requests["R5"] = add_request(
            cid, "3-1-101", "electrical", T0 + timedelta(days=4), "cancelled",
            [(5, "received", "cancelled")], resident_id=dd,
        )  # fmt: skip
        d.requests["R6"] = add_request(
            cid, "3-2-301", "electrical", T0 + timedelta(days=5), "duplicate",
            [(8, "received", "duplicate")],
        )  # fmt: skip
        d.requests["R8"] = add_request(
            cid, "1-1-102", "meals", cst(2026, 3, 31, 23, 30), "received", resident_id=e
        )
        d.requests["R7"] = add_request(
            cid, "3-2-301", "electrical", cst(2026, 4, 1, 0, 10), "received"
        )
        d.requests["R9"] = add_request(
            cid, "3-2-301", "electrical", cst(2025, 12, 31, 23, 59), "received"
        )
        v1, v2, v3 = seed.volunteers["lanqiao"]
        d.volunteers = [v1, v2, v3]
        # 2025 Q4: V1, V2, V3 active.
        add_hours(seed, v1, cst(2025, 11, 5, 10), 60)
        add_hours(seed, v2, cst(2025, 11, 6, 10), 60)
        add_hours(seed, v3, cst(2025, 12, 1, 10), 30, team=False)
        # 2026 Q1: V1 (recorded 90 and 120 by hand, in the team), V3 (45, no team); V2's
        # hours were declined and V2's pending record does not count either.
        add_hours(seed, v1, cst(2026, 2, 10, 9, 30), 90)
        add_hours(seed, v1, cst(2026, 3, 1, 14), 120, source="manual")
        add_hours(seed, v3, cst(2026, 3, 5, 8), 45, team=False)
        add_hours(seed, v2, cst(2026, 2, 11, 9), 60, status="declined")
        add_hours(seed, v2, cst(2026, 2, 12, 9), 60, status="pending")
        # 2026-04-01 00:30 CST: outside the period.
        add_hours(seed, v1, cst(2026, 4, 1, 0, 30), 600)
        db.session.commit()
    return d


def _period() -> Any:
    from server.reports.queries import Period

    return Period(date(2026, 1, 1), date(2026, 3, 31))


def test_requests_by_category_and_state(ctx: None, seed: Seed, data: Data) -> None:
    from server.reports.queries import requests_by_category_and_state

    states = requests_by_category_and_state(seed.community["lanqiao"], _period())
    by_code = {c.code: (counts, total) for c, counts, total in states.rows}
    assert by_code["electrical"] == (
        {"closed fixed": 1, "awaiting close": 1, "cancelled": 1, "duplicate": 1},
        4,
    )
    assert by_code["plumbing"] == ({"new": 1, "in progress": 1}, 2)
    assert by_code["meals"] == ({"new": 1}, 1)  # 03-31 23:30 CST is inside the period
    assert states.total == 7  # R7 (04-01 00:10 CST) and R9 (2025-12-31) are outside


def test_response_measures(ctx: None, seed: Seed, data: Data) -> None:
    from server.reports.queries import response_measures

    result = response_measures(seed.community["lanqiao"], _period())
    got = {m.name: (m.n, m.median, m.p90) for m in result.overall}
    # acknowledge: [2, 4, 5, 6, 8, 10] -> median (5 + 6) / 2, p90 rank ceil(5.4) = 6 -> 10
    assert got["acknowledge"] == (6, 5.5, 10)
    assert got["queue"] == (3, 20, 30)  # [10, 20, 30], p90 rank ceil(2.7) = 3
    assert got["response"] == (3, 45, 60)  # arrival - received: [25, 45, 60]
    assert got["resolve"] == (2, 80, 90)  # [70, 90]: median 80, p90 rank ceil(1.8) = 2
    assert got["close"] == (1, 1500, 1500)
    electrical = dict((c.code, ms) for c, ms in result.by_category)["electrical"]
    ack = electrical[0]
    assert (ack.n, ack.enough) == (4, False)  # [4, 6, 5, 8]: too few to show per category


def test_service_by_team_keeps_hand_added_hours_apart(ctx: None, seed: Seed, data: Data) -> None:
    from server.reports.queries import service_by_team

    rows = {t.team: t for t in service_by_team(seed.community["lanqiao"], _period())}
    team = rows["小蜜蜂 lanqiao"]
    assert (team.services, team.volunteers, team.recorded_hours, team.manual_hours) == (
        2,
        1,
        1.5,
        2.0,
    )
    none = rows["(no team)"]
    assert (none.services, none.volunteers, none.recorded_hours, none.manual_hours) == (
        1,
        1,
        0.75,
        0.0,
    )
    assert set(rows) == {"小蜜蜂 lanqiao", "(no team)"}


def test_retention(ctx: None, seed: Seed, data: Data) -> None:
    from server.reports.queries import Period, Quarter, retention

    rows = retention(seed.community["lanqiao"], _period())
    assert [(str(r.quarter), r.active, r.retained) for r in rows] == [("2025 Q4", 3, 2)]
    assert rows[0].share == pytest.approx(2 / 3)
    longer = retention(seed.community["lanqiao"], Period(date(2025, 10, 1), date(2026, 4, 30)))
    assert [(str(r.quarter), r.active, r.retained) for r in longer] == [
        ("2025 Q4", 3, 2),
        ("2026 Q1", 2, 1),  # V1 and V3 in Q1; only V1 serves in Q2 (04-01 00:30 CST)
    ]
    assert Quarter(2025, 4).next() == Quarter(2026, 1)
    assert Quarter(2026, 1).previous() == Quarter(2025, 4)


def test_elders_served(ctx: None, seed: Seed, data: Data) -> None:
    from server.reports.queries import elders_served

    elders = elders_served(seed.community["lanqiao"], _period())
    # Served: A (R1, R2), B (R3), C (R4), E (R8); D only had a cancelled request.
    assert (elders.residents, elders.served, elders.living_alone) == (4, 2, 1)
    assert elders.share_alone == 0.5


def test_needs_map(ctx: None, seed: Seed, data: Data) -> None:
    from server.reports.queries import needs_map

    grid = needs_map(seed.community["lanqiao"], _period())
    cells = {(b, c.unit): (c.count, c.level) for b, row in grid.rows for c in row}
    # 3-2: R1, R2, R3 (R6 is a duplicate of the same need); 1-1: R4, R8; 3-1: R5.
    assert cells == {("1", "1"): (2, 3), ("3", "1"): (1, 2), ("3", "2"): (3, 4)}
    assert [b for b, _ in grid.rows] == ["1", "3"]
    assert (grid.max_count, grid.total) == (3, 6)
    assert grid.legend() == [(0, "0"), (2, "1"), (3, "2"), (4, "3")]


def test_the_overview_page_shows_figures_and_formulas(
    client: FlaskClient, seed: Seed, data: Data
) -> None:
    login(client, "viewer_lanqiao")
    answer = client.get(f"/reports/{seed.community['lanqiao']}", query_string=Q1)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert 'id="requests-total">7<' in page
    assert '<td class="n">6</td><td class="median">5.5</td><td class="p90">10</td>' in page
    assert "最近秩法：排序后第 ceil(0.9 * n) 位的值" in page
    assert "留存率 = |Q 内活跃 ∩ Q+1 内活跃| ÷ |Q 内活跃|" in page
    assert "n=4，太少" in page
    client.set_cookie("lang", "en")
    english = client.get(f"/reports/{seed.community['lanqiao']}", query_string=Q1)
    page = english.get_data(as_text=True)
    assert "nearest rank: the value at rank ceil(0.9 * n)" in page
    assert "retention = |active in Q ∩ active in Q+1| ÷ |active in Q|" in page
    assert "n=4, too few" in page
    assert 'id="elders-alone">1 (50%)' in page
    assert "/static/vendor/chart.umd.js" in page


def test_the_needs_map_page_is_an_svg_with_counts(
    client: FlaskClient, seed: Seed, data: Data
) -> None:
    login(client, "social_worker_lanqiao")
    page = client.get(f"/reports/{seed.community['lanqiao']}/needs-map", query_string=Q1).get_data(
        as_text=True
    )
    assert '<svg id="needs-map"' in page
    assert 'data-building="3" data-unit="2" data-count="3"' in page
    assert 'fill="url(#hatch)"' in page


def test_the_csv_export_streams_the_periods_requests(
    client: FlaskClient, seed: Seed, data: Data
) -> None:
    import csv
    import io

    login(client, "social_worker_lanqiao")
    answer = client.get(f"/reports/{seed.community['lanqiao']}/requests.csv", query_string=Q1)
    assert answer.status_code == 200
    assert answer.is_streamed
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["求助编号", "小票号", "类别", "状态"]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(
        data.requests[k] for k in ("R1", "R2", "R3", "R4", "R5", "R6", "R8")
    )
    r1 = next(r for r in rows if r[0] == str(data.requests["R1"]))
    assert r1[10] == "25.0"  # response minutes
    hours = client.get(f"/reports/{seed.community['lanqiao']}/hours.csv", query_string=Q1)
    lines = hours.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 1 + 5  # Q1: 90, 120 (by hand), 45, declined 60, pending 60


def test_bad_periods_are_refused(client: FlaskClient, seed: Seed) -> None:
    login(client, "viewer_lanqiao")
    base = f"/reports/{seed.community['lanqiao']}"
    answer = client.get(base, query_string={"start": "2026-03-01", "end": "2026-02-01"})
    assert answer.status_code == 400
    assert "统计期的结束早于开始" in answer.get_data(as_text=True)
    assert client.get(base, query_string={"start": "March"}).status_code == 400


def test_the_joint_meeting_sheet(app: Flask, client: FlaskClient, seed: Seed) -> None:
    from server.dispatch.models import Agency, Escalation
    from server.extensions import db
    from server.timeutil import utcnow

    cid = seed.community["lanqiao"]
    now = utcnow()
    with app.app_context():
        m1 = add_request(cid, "3-2-301", "electrical", now - timedelta(minutes=30), "triaged")
        m2 = add_request(cid, "3-2-302", "electrical", now - timedelta(hours=3), "dispatched")
        m3 = add_request(
            cid, "3-1-101", "plumbing", now - timedelta(hours=1), "escalated",
            [(5, "received", "escalated")],
        )  # fmt: skip
        m4 = add_request(cid, "1-1-101", "plumbing", now - timedelta(days=10), "on_site")
        m5 = add_request(
            cid, "1-1-102", "plumbing", now - timedelta(hours=2), "closed_fixed",
            [(5, "closed_fixed", "reopened"), (9, "reopened", "closed_fixed")],
        )  # fmt: skip
        agency = Agency(community_id=cid, name="供电所", kind="department", endpoint_url="http://x")
        db.session.add(agency)
        db.session.flush()
        db.session.add(
            Escalation(
                request_id=m3, agency_id=agency.id, delivery_status="failed", attempts=3, payload={}
            )
        )
        db.session.commit()

        from server.reports.queries import meeting_sheet

        sheet = meeting_sheet(cid)
        assert {r.id for r in sheet.complex_cases} == {m3, m4}
        assert {r.id for r in sheet.overdue} == {m2}  # electrical: 120 min to arrival
        assert [(r.id, e.delivery_status) for r, e in sheet.awaiting_feedback] == [(m3, "failed")]
        listed = {r.id for r in [*sheet.complex_cases, *sheet.overdue]}
        assert m1 not in listed  # 30 min old, not past its 120 min
        assert m5 not in listed  # reopened once, but closed now
    login(client, "viewer_lanqiao")
    page = client.get(f"/reports/{cid}/meeting").get_data(as_text=True)
    assert "失败：未送达" in page
    assert "疑难案例 (2)" in page


def test_the_meeting_sheet_shows_every_count_and_a_page_of_each_list(
    app: Flask, client: FlaskClient, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    from server.extensions import db
    from server.reports import queries
    from server.timeutil import utcnow

    monkeypatch.setattr(queries, "MEETING_PAGE", 1)
    cid = seed.community["lanqiao"]
    now = utcnow()
    with app.app_context():
        old = add_request(cid, "1-1-101", "plumbing", now - timedelta(days=10), "dispatched")
        older = add_request(cid, "1-1-102", "plumbing", now - timedelta(days=12), "on_site")
        newer = add_request(
            cid, "3-1-101", "plumbing", now - timedelta(hours=1), "escalated",
            [(5, "received", "escalated")],
        )  # fmt: skip
        db.session.commit()
        sheet = queries.meeting_sheet(cid)
        assert (sheet.complex_total, [r.id for r in sheet.complex_cases]) == (3, [older])
        assert (sheet.overdue_total, [r.id for r in sheet.overdue]) == (1, [old])
        assert sheet.overdue_next is None
        after = queries.After.parse(sheet.complex_next or "")
        second = queries.meeting_sheet(cid, complex_after=after)
        assert [r.id for r in second.complex_cases] == [old]
        third = queries.meeting_sheet(cid, complex_after=queries.After.parse(second.complex_next))
        assert ([r.id for r in third.complex_cases], third.complex_next) == ([newer], None)
        assert third.complex_total == 3
    login(client, "viewer_lanqiao")
    page = client.get(f"/reports/{cid}/meeting").get_data(as_text=True)
    assert "疑难案例 (3)" in page
    assert "超时 (1)" in page
    [link] = re.findall(r'rel="next" href="([^"]+)"', page)
    following = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert f"#{old} " in following
    assert f"#{older} " not in following
    assert "回到第一页" in following
    bad = client.get(f"/reports/{cid}/meeting", query_string={"complex_after": "x-1"})
    assert bad.status_code == 400
