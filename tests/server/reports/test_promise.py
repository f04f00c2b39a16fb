"""The 20-minute promise: the share of repair requests reached on site within 20 minutes of
dispatch and within their category's deadline, by team and month, with n and the change from
the previous month; requests still in time, withdrawn or not repairs are not counted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.server.seed import Seed, add_request, login

CST = timedelta(hours=8)
NOW = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)


def _repair(
    seed: Seed,
    received: datetime,
    arrived_after_dispatch: int | None,
    category: str = "electrical",
    status: str = "on_site",
    team: bool = True,
) -> int:
    """A request dispatched 5 minutes after receipt (to the lanqiao team), arriving that many
    minutes after the dispatch (None: nobody came)."""
    from server.extensions import db
    from server.requests.models import HelpRequest

    arrived = None if arrived_after_dispatch is None else 5 + arrived_after_dispatch
    rid = add_request(
        seed.community["lanqiao"], "3-2-301", category, received, status,
        steps=[(1, "received", "triaged"), (5, "triaged", "dispatched")],
        arrived_after=arrived,
    )  # fmt: skip
    if team:
        db.session.execute(
            sa.update(HelpRequest).where(HelpRequest.id == rid).values(team_id=seed.team["lanqiao"])
        )
    return rid


def test_shares_by_team_and_month_with_n_and_the_change(ctx: None, seed: Seed) -> None:
    from server.reports.queries import Period, Share, promise_kept

    september = datetime(2026, 9, 10, 9, 0, tzinfo=UTC) - CST
    for i in range(5):
        _repair(seed, september + timedelta(hours=i), 10)
    october = datetime(2026, 10, 10, 9, 0, tzinfo=UTC) - CST
    for i, minutes in enumerate([10, 15, 20, 25, None]):
        _repair(seed, october + timedelta(hours=i), minutes)
    _repair(seed, october, None, status="cancelled")  # withdrawn before anyone came
    _repair(seed, october, 5, category="meals")  # not a repair
    _repair(seed, NOW - timedelta(minutes=10), None, status="dispatched")  # still in time
    _repair(seed, october, 130, team=False)  # later taken off the team: its own row

    rows = promise_kept(
        seed.community["lanqiao"], Period(date(2026, 9, 1), date(2026, 10, 31)), NOW
    )
    got = {(r.month.month, r.team): r for r in rows}
    team = "小蜜蜂 lanqiao"
    assert list(got) == [(9, team), (9, None), (10, ""), (10, team), (10, None)]
    assert (got[(9, team)].promise, got[(9, team)].deadline) == (Share(5, 5), Share(5, 5))
    oct_team = got[(10, team)]
    assert oct_team.promise == Share(3, 5)  # 10, 15, 20 in time; 25 and nobody not
    assert oct_team.deadline == Share(4, 5)  # 120 min from receipt: only nobody missed it
    assert (oct_team.promise_change, oct_team.deadline_change) == (-40.0, -20.0)
    assert got[(10, "")].promise == Share(0, 1)
    assert got[(10, "")].deadline == Share(0, 1)  # on site 135 min after receipt
    assert got[(10, None)].promise == Share(3, 6)
    assert got[(10, None)].deadline == Share(4, 6)
    assert got[(9, None)].promise_change is None  # nothing before September


def test_the_page_shows_shares_n_and_the_formula(client: FlaskClient, seed: Seed) -> None:
    from server.extensions import db

    with client.application.app_context():
        now = datetime.now(UTC)
        for minutes in (10, 30):
            _repair(seed, now - timedelta(hours=2), minutes)
        db.session.commit()
    login(client, "social_worker_lanqiao")
    page = client.get(f"/reports/{seed.community['lanqiao']}/promise")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "20分钟内到场率 = 到场时间 − 首次派单时间 ≤ 20 分钟的求助数 ÷ n" in text
    assert "50%" in text
    assert "1/2" in text
    client.set_cookie("lang", "en")
    assert "20-minute promise" in client.get(
        f"/reports/{seed.community['lanqiao']}/promise"
    ).get_data(as_text=True)
