"""Forgotten check-outs: the hours page shows them and writes nothing; the nightly job, the
next check-in of the volunteer or a social worker's decision closes them, flagged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from server.audit.actor import Actor
from tests.server.seed import Seed, form_post, login


def _database(app: Flask) -> dict[str, list[str]]:
    """Every row of every table."""
    from server.extensions import db

    with app.app_context():
        return {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(sa.select(table)))
            for table in db.metadata.sorted_tables
        }


def _check_ins(app: Flask, seed: Seed, hours_ago: dict[str, float]) -> dict[str, int]:
    """Check in the first volunteer of each community (or the second, for "<slug>:2")."""
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    ids = {}
    with app.app_context():
        for key, hours in hours_ago.items():
            slug, _, nth = key.partition(":")
            volunteer_id = seed.volunteers[slug][int(nth or 1) - 1]
            volunteer = db.session.get_one(Volunteer, volunteer_id)
            at = utcnow() - timedelta(hours=hours)
            ids[key] = services.check_in(volunteer, Actor("队长"), at=at).id
        db.session.commit()
    return ids


def _record(app: Flask, record_id: int) -> Any:
    from server.extensions import db
    from server.volunteers.models import ServiceRecord

    with app.app_context():
        record = db.session.get_one(ServiceRecord, record_id)
        db.session.expunge(record)
        return record


def test_the_hours_page_shows_forgotten_check_outs_and_writes_nothing(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    ids = _check_ins(app, seed, {"lanqiao": 20, "feicui": 20, "lanqiao:2": 1})
    login(client, "social_worker_lanqiao")
    before = _database(app)
    answer = client.get("/volunteers/hours")
    assert answer.status_code == 200
    assert _database(app) == before
    page = answer.get_data(as_text=True)
    assert "忘记签退：签到已超过 12 小时" in page
    assert f'id="record-{ids["lanqiao"]}"' in page  # awaits a decision, with the minutes
    assert f"/volunteers/hours/{ids['lanqiao']}/check-out" not in page
    assert f'id="record-{ids["feicui"]}"' not in page  # another community's
    assert f"/volunteers/hours/{ids['lanqiao:2']}/check-out" in page  # checked in an hour ago
    assert f'id="record-{ids["lanqiao:2"]}"' not in page
    for record_id in ids.values():
        assert (_record(app, record_id).status, _record(app, record_id).is_auto_closed) == (
            "open",
            False,
        )


def test_the_nightly_job_closes_forgotten_check_outs_of_every_community(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    from server.extensions import db
    from server.ops.nightly import close_forgotten_checkouts
    from server.timeutil import utcnow

    ids = _check_ins(app, seed, {"lanqiao": 20, "feicui": 13, "lanqiao:2": 1})
    with app.app_context():
        assert close_forgotten_checkouts(utcnow()) == "2 forgotten check-out(s) closed and flagged"
        db.session.remove()
    for key in ("lanqiao", "feicui"):
        record = _record(app, ids[key])
        assert (record.status, record.is_auto_closed, record.minutes) == ("pending", True, None)
        assert "closed automatically: no check-out within 12 h" in (record.decision_note or "")
    assert (
        _record(app, ids["lanqiao:2"]).status,
        _record(app, ids["lanqiao:2"]).is_auto_closed,
    ) == (
        "open",
        False,
    )
    login(client, "social_worker_lanqiao")
    page = client.get("/volunteers/hours").get_data(as_text=True)
    assert "忘记签退：已自动结束" in page
    assert f'id="record-{ids["lanqiao"]}"' in page


def test_approving_a_forgotten_check_out_closes_it_and_needs_the_minutes(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    from server.passbook.services import balance

    ids = _check_ins(app, seed, {"lanqiao": 20})
    login(client, "social_worker_lanqiao")
    before = _database(app)
    path = f"/volunteers/hours/{ids['lanqiao']}/approve"
    refused = form_post(client, path, {}, "/volunteers/hours")
    assert refused.status_code == 400
    assert "请填写实际服务的分钟数" in refused.get_data(as_text=True)
    assert _database(app) == before
    approved = form_post(client, path, {"minutes": "90"}, "/volunteers/hours")
    assert approved.status_code == 303
    record = _record(app, ids["lanqiao"])
    assert (record.status, record.is_auto_closed, record.minutes) == ("approved", True, 90)
    with app.app_context():
        assert balance(record.volunteer_id) == 15


def test_declining_a_forgotten_check_out_closes_it(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    ids = _check_ins(app, seed, {"lanqiao": 20})
    login(client, "social_worker_lanqiao")
    path = f"/volunteers/hours/{ids['lanqiao']}/decline"
    answer = form_post(client, path, {"reason": "not on duty"}, "/volunteers/hours")
    assert answer.status_code == 303
    record = _record(app, ids["lanqiao"])
    assert (record.status, record.is_auto_closed, record.decision_note) == (
        "declined",
        True,
        "not on duty",
    )


def test_checking_in_again_closes_the_forgotten_check_out(ctx: None, seed: Seed) -> None:
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0])
    forgotten = services.check_in(volunteer, Actor("队长"), at=utcnow() - timedelta(hours=13))
    again = services.check_in(volunteer, Actor("队长"))
    assert (forgotten.status, forgotten.is_auto_closed) == ("pending", True)
    assert (again.status, again.is_auto_closed) == ("open", False)


def test_the_records_awaiting_approval_come_in_pages_with_a_bounded_count(
    app: Flask, client: FlaskClient, seed: Seed, monkeypatch: Any
) -> None:
    """A keyset in (source, started_at, id) order: every record once, pages of AWAITING_PAGE,
    a forgotten check-out among them in its place; the count stops at AWAITING_COUNTED."""
    import re

    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import queries, services
    from server.volunteers.models import Volunteer

    monkeypatch.setattr(queries, "AWAITING_PAGE", 3)
    monkeypatch.setattr(queries, "AWAITING_COUNTED", 5)
    forgotten = _check_ins(app, seed, {"lanqiao": 20})["lanqiao"]
    expected = [forgotten]
    with app.app_context():
        volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][1])
        for n in range(6):
            at = utcnow() - timedelta(days=n + 2)
            record = services.add_manual(
                volunteer, Actor("社工"), started_at=at, minutes=30, content=f"纸质签到 {n}"
            )
            expected.append(record.id)
        db.session.commit()
    login(client, "social_worker_lanqiao")
    seen: list[int] = []
    path = "/volunteers/hours"
    pages = 0
    while path:
        page = client.get(path).get_data(as_text=True)
        pages += 1
        assert "共 5+ 条待审核" in page
        seen += [int(i) for i in re.findall(r'id="record-(\d+)"', page)]
        link = re.search(r'class="next" href="([^"]+)"', page)
        path = link.group(1).replace("&amp;", "&") if link else ""
    assert pages == 3
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))
    assert client.get("/volunteers/hours?after=bm90LWEta2V5").status_code == 400


def test_the_volunteer_page_lists_the_latest_records_and_links_the_full_record(
    app: Flask, client: FlaskClient, seed: Seed, monkeypatch: Any
) -> None:
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import queries, services
    from server.volunteers.models import Volunteer

    monkeypatch.setattr(queries, "PROFILE_RECORDS", 2)
    volunteer_id = seed.volunteers["lanqiao"][0]
    with app.app_context():
        volunteer = db.session.get_one(Volunteer, volunteer_id)
        for n in range(3):
            services.add_manual(
                volunteer, Actor("社工"), started_at=utcnow() - timedelta(days=n + 1),
                minutes=30, content=f"纸质签到 {n}",
            )  # fmt: skip
        db.session.commit()
    login(client, "social_worker_lanqiao")
    page = client.get(f"/volunteers/{volunteer_id}").get_data(as_text=True)
    assert "纸质签到 0" in page
    assert "纸质签到 1" in page
    assert "纸质签到 2" not in page
    assert 'id="more-records"' in page
    assert f"/volunteers/{volunteer_id}/record" in page
