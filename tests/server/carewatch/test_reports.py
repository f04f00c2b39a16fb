"""The care watch in the reports: per month (watched, share on rhythm, time from a missed
rhythm to a completed contact), on the needs map (counts per unit) and the meeting sheet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login

START = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def _two_missed_rhythms(app: Flask, world: World) -> None:
    """A daily plan from 1 November: missed on the 2nd at 10:00 (UTC), answered by a visit 3 h
    later; missed again 30 h after that, answered by a kiosk check-in 5 h later."""
    from server.audit.actor import Actor
    from server.carewatch.services import PlanInput, Sign, evaluate, record_sign, set_plan
    from server.extensions import db
    from server.people.models import Resident

    community = world.community["lanqiao"]
    resident_id = world.residents["lanqiao"]
    with app.test_request_context():
        resident = db.session.get_one(Resident, resident_id)
        plan = set_plan(
            resident,
            PlanInput(True, "living_alone", "daily", "given", "本人同意"),
            Actor("setup"),
            "setup",
        )
        plan.watched_since = START
        first = START + timedelta(hours=30)
        evaluate(first)
        answered = first + timedelta(hours=3)
        record_sign(Sign(community, "visit", answered, "v1", "captain", resident_id=resident_id))
        second = answered + timedelta(hours=30)
        evaluate(second)
        late = second + timedelta(hours=5)
        record_sign(Sign(community, "kiosk", late, "k1", "kiosk", resident_id=resident_id))
        db.session.commit()


def test_a_month_gives_watched_share_on_rhythm_median_and_p90(app: Flask, world: World) -> None:
    from server.reports.queries import Period, care_months

    _two_missed_rhythms(app, world)
    with app.test_request_context():
        november, december = care_months(
            world.community["lanqiao"], Period(date(2026, 11, 1), date(2026, 12, 31))
        )
        assert november.label == "2026-11"
        assert november.summary.watched == 1
        assert november.summary.on_rhythm_share == 0
        assert november.summary.episodes == 2
        assert sorted(november.summary.contact_hours) == [3.0, 5.0]
        assert (november.contact_median, november.contact_p90) == (4.0, 5.0)
        assert november.first_follow_up == 0.0
        assert (december.summary.episodes, december.summary.on_rhythm_share) == (0, 1)


def test_the_report_pages_show_the_watch_with_counts_only(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _two_missed_rhythms(app, world)
    login(client, "viewer_lanqiao")
    community = world.community["lanqiao"]
    overview = client.get(f"/reports/{community}?start=2026-11-01&end=2026-11-30")
    text = overview.get_data(as_text=True)
    assert overview.status_code == 200
    assert 'id="care-watch"' in text
    assert "<td>2026-11</td><td>1</td><td>0%</td><td>2</td>" in text
    assert "P90（最近秩）" in text
    needs = client.get(f"/reports/{community}/needs-map").get_data(as_text=True)
    assert 'data-watched="1"' in needs
    meeting = client.get(f"/reports/{community}/meeting").get_data(as_text=True)
    assert 'id="care-week"' in meeting
    for page in (text, needs, meeting):
        assert "RESIDENT-LANQIAO" not in page  # a viewer reads counts, never who
