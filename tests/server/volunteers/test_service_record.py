"""The printable service record (志愿服务记录证明): the approved records of a period (by default
the last twelve months), the period's totals and the all-time totals by source."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.audit.actor import Actor
from tests.server.seed import Seed, login


@pytest.fixture
def served(app: Flask, seed: Seed) -> int:
    """The first lanqiao volunteer: approved service 400, 100 and 2 days ago (by hand, by hand,
    checked in and out), and 45 minutes 5 days ago still awaiting approval."""
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    vid = seed.volunteers["lanqiao"][0]
    with app.app_context():
        volunteer = db.session.get_one(Volunteer, vid)
        now = utcnow()
        for days, minutes, content in ((400, 60, "去年的服务"), (100, 90, "百日前的服务")):
            record = services.add_manual(
                volunteer,
                Actor("社工"),
                started_at=now - timedelta(days=days),
                minutes=minutes,
                content=content,
            )
            services.approve(record, Actor("社工"), 10)
        record = services.check_in(
            volunteer, Actor("队长"), at=now - timedelta(days=2), content="最近的服务"
        )
        services.check_out(
            record, Actor("队长"), at=now - timedelta(days=2) + timedelta(minutes=30)
        )
        services.approve(record, Actor("社工"), 10)
        services.add_manual(
            volunteer,
            Actor("社工"),
            started_at=now - timedelta(days=5),
            minutes=45,
            content="待审核的服务",
        )
        db.session.commit()
    return vid


def _today(app: Flask) -> date:
    from server.localtime import local_today

    with app.app_context():
        return local_today()


def test_by_default_the_last_twelve_months_with_all_time_totals(
    app: Flask, client: FlaskClient, served: int
) -> None:
    login(client, "social_worker_lanqiao")
    page = client.get(f"/volunteers/{served}/record").get_data(as_text=True)
    assert "最近的服务" in page
    assert "百日前的服务" in page
    assert "去年的服务" not in page
    assert "待审核的服务" not in page
    assert re.search(r'id="total-hours">3.00<', page)
    assert "（签到记录 0.50 小时；手工补录 2.50 小时）" in page
    today = _today(app)
    leap_day = (today.month, today.day) == (2, 29)
    year_ago = (today.replace(day=28) if leap_day else today).replace(year=today.year - 1)
    since = year_ago + timedelta(days=1)
    assert f"{since} 至 {today}：服务 2 次，共 2.00 小时" in page
    assert "（签到记录 0.50 小时；手工补录 1.50 小时）" in page


def test_a_period_asked_for_lists_its_records_and_ends_today_at_the_latest(
    app: Flask, client: FlaskClient, served: int
) -> None:
    login(client, "social_worker_lanqiao")
    today = _today(app)
    start, end = today - timedelta(days=450), today - timedelta(days=300)
    page = client.get(f"/volunteers/{served}/record?start={start}&end={end}")
    text = page.get_data(as_text=True)
    assert "去年的服务" in text
    assert "最近的服务" not in text
    assert f"{start} 至 {end}：服务 1 次，共 1.00 小时" in text
    assert re.search(r'id="total-hours">3.00<', text)
    future = client.get(f"/volunteers/{served}/record?start={start}&end=9999-12-31")
    assert f"{start} 至 {today}：服务 3 次" in future.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("start=2026-02-30", "开始日期 '2026-02-30' 不是 2026-03-01 这样的日期"),
        ("start=2026-03-02&end=2026-03-01", "时段的结束早于开始"),
        ("start=9999-12-31", "时段的结束早于开始"),
    ],
)
def test_a_bad_period_is_refused(client: FlaskClient, served: int, query: str, words: str) -> None:
    login(client, "social_worker_lanqiao")
    answer = client.get(f"/volunteers/{served}/record?{query}")
    assert answer.status_code == 400
    assert words in answer.get_data(as_text=True)


def test_a_start_before_any_record_is_read_as_1900(client: FlaskClient, served: int) -> None:
    login(client, "social_worker_lanqiao")
    page = client.get(f"/volunteers/{served}/record?start=0001-01-01").get_data(as_text=True)
    assert "1900-01-01 至" in page
    assert "服务 3 次，共 3.00 小时" in page
