"""A volunteer's phone pages are a separate audience: route by route, a volunteer sees and acts
only on their own jobs; a console session is no credential there and a phone's cookie none on
the console; changes need the field header (no cross-site form can send it); cards are issued
only by staff of the volunteer's community, and every issue and revocation is audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from server.auth.access import POLICY
from tests.server.field.conftest import (
    HEADERS,
    Jobs,
    action,
    care,
    dispatch,
    issue_card,
    jobs,
    phone_of,
    send,
    watch,
)
from tests.server.seed import csrf_token, login

__all__ = ["jobs"]

VOLUNTEER_ENDPOINTS = sorted(e for e, rule in POLICY.items() if rule.kind == "volunteer")


def _url(app: Flask, endpoint: str, request_id: int, resident_id: int = 1) -> tuple[str, str]:
    """(method, URL) of a volunteer endpoint, pointing at `request_id` or `resident_id` where
    it takes one."""
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules(endpoint):
            given = {"request_id": request_id, "resident_id": resident_id}
            args = {k: v for k, v in given.items() if k in rule.arguments}
            method = "POST" if "POST" in (rule.methods or ()) else "GET"
            return method, url_for(endpoint, **args)
    raise AssertionError(f"no route for {endpoint}")


def test_every_volunteer_route_is_covered_here() -> None:
    assert VOLUNTEER_ENDPOINTS == [
        "field.actions",
        "field.code",
        "field.elder",
        "field.hours",
        "field.job_page",
        "field.pin_check",
        "field.pin_page",
        "field.pin_set",
        "field.record",
        "field.sign_out",
        "field.tasks",
        "field.tasks_json",
        "field.today",
        "field.watch",
    ]


@pytest.mark.parametrize("endpoint", VOLUNTEER_ENDPOINTS)
def test_without_a_phone_every_volunteer_route_refuses_even_a_signed_in_admin(
    app: Flask, jobs: Jobs, endpoint: str
) -> None:
    method, url = _url(app, endpoint, jobs.requests["lanqiao"], jobs.residents["lanqiao"])
    admin = app.test_client()
    login(admin, "admin_lanqiao")
    for client in (app.test_client(), admin):
        answer = client.open(url, method=method, json={}, headers=HEADERS)
        assert answer.status_code == 401, (endpoint, answer.status_code)
        assert answer.get_json()["error"] == "not_signed_in"
        assert "SECRET-" not in answer.get_data(as_text=True)


CHANGES = [
    "field.actions",
    "field.code",
    "field.pin_check",
    "field.pin_set",
    "field.sign_out",
    "field.today",
]


@pytest.mark.parametrize("endpoint", CHANGES)
def test_a_change_without_the_field_header_is_refused(
    app: Flask, jobs: Jobs, endpoint: str
) -> None:
    method, url = _url(app, endpoint, jobs.requests["lanqiao"])
    assert method == "POST"
    phone = phone_of(app, jobs.seed.volunteers["lanqiao"][0])
    answer = phone.open(url, method=method, json={}, headers={"Accept": "application/json"})
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "no_header"


def test_a_volunteer_sees_and_acts_only_on_their_own_jobs(app: Flask, jobs: Jobs) -> None:
    from server.extensions import db
    from server.field.models import FieldAction

    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    feicui_zhang = jobs.seed.volunteers["feicui"][0]
    rid = jobs.requests["lanqiao"]
    dispatch(app, rid, jobs.seed.team["lanqiao"], [zhang])
    dispatch(app, jobs.requests["feicui"], jobs.seed.team["feicui"], [feicui_zhang])
    send(phone_of(app, zhang), action("accept", rid))
    for intruder in (li, feicui_zhang):
        phone = phone_of(app, intruder)
        page = phone.get(f"/v/jobs/{rid}")
        assert page.status_code == 404
        assert "SECRET-LANQIAO" not in page.get_data(as_text=True)
        assert "SECRET-LANQIAO" not in phone.get("/v/").get_data(as_text=True)
        (result,) = send(phone, action("arrive", rid)).get_json()["results"]
        assert result["status"] == "rejected"
        assert result["error"] in ("not_found", "reassigned")
        assert "13800000001" not in str(result)
    own = phone_of(app, feicui_zhang).get(f"/v/jobs/{jobs.requests['feicui']}")
    assert "SECRET-FEICUI" in own.get_data(as_text=True)
    with app.app_context():
        applied = db.session.execute(
            sa.select(FieldAction.kind).where(FieldAction.status == "applied")
        ).scalars()
        assert list(applied) == ["accept"]


def test_only_the_volunteers_in_an_elders_plan_see_them_or_record_their_visits(
    app: Flask, jobs: Jobs
) -> None:
    from server.carewatch.models import SignOfLife
    from server.extensions import db

    zhang, li, outside = jobs.seed.volunteers["lanqiao"]
    feicui_zhang = jobs.seed.volunteers["feicui"][0]
    resident = jobs.residents["lanqiao"]
    watch(app, resident, zhang)
    watch(app, jobs.residents["feicui"], feicui_zhang)
    for intruder in (li, outside, feicui_zhang):
        phone = phone_of(app, intruder)
        page = phone.get(f"/v/watch/{resident}")
        assert page.status_code == 404
        assert "RESIDENT-LANQIAO" not in page.get_data(as_text=True)
        assert "RESIDENT-LANQIAO" not in phone.get("/v/watch").get_data(as_text=True)
        for kind in ("visit", "call"):
            (result,) = send(phone, care(kind, resident, "ok")).get_json()["results"]
            assert result["status"] == "rejected"
            assert result["error"] == "not_found"
            assert "RESIDENT" not in str(result)
    assert phone_of(app, zhang).get(f"/v/watch/{jobs.residents['feicui']}").status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SignOfLife)) == 0


def test_a_volunteer_taken_off_a_plan_no_longer_sees_or_records(app: Flask, jobs: Jobs) -> None:
    zhang, li, _ = jobs.seed.volunteers["lanqiao"]
    resident = jobs.residents["lanqiao"]
    watch(app, resident, zhang)
    phone = phone_of(app, zhang)
    assert phone.get(f"/v/watch/{resident}").status_code == 200
    watch(app, resident, li)  # the social worker names another building captain
    assert phone.get(f"/v/watch/{resident}").status_code == 404
    assert "我的守望" not in phone.get("/v/").get_data(as_text=True)
    (result,) = send(phone, care("visit", resident, "ok")).get_json()["results"]
    assert result["error"] == "not_found"


def test_a_phones_cookie_is_no_credential_on_the_console(app: Flask, jobs: Jobs) -> None:
    phone = phone_of(app, jobs.seed.volunteers["lanqiao"][0])
    queue = phone.get("/console/queue", headers={"Accept": "application/json"})
    assert queue.status_code == 401
    assert phone.get("/console/volunteers/1/card").status_code in (302, 401)


def test_cards_are_issued_only_by_staff_of_the_volunteers_community_and_audited(
    app: Flask, jobs: Jobs
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    lanqiao_volunteer = jobs.seed.volunteers["lanqiao"][0]
    url = f"/console/volunteers/{lanqiao_volunteer}/card"
    outsider = app.test_client()
    login(outsider, "social_worker_feicui")
    token = csrf_token(outsider, "/login")
    assert outsider.get(url).status_code == 404
    assert outsider.post(f"{url}/issue", data={"csrf_token": token}).status_code == 404
    lead = app.test_client()
    login(lead, "team_lead_lanqiao")
    assert lead.get(url).status_code == 403
    worker = app.test_client()
    login(worker, "social_worker_lanqiao")
    token = csrf_token(worker, url)
    issued = worker.post(f"{url}/issue", data={"csrf_token": token})
    assert issued.status_code == 200
    page = issued.get_data(as_text=True)
    assert "<svg" in page
    assert "/v/k/" in page
    assert "/v/k/" not in worker.get(url).get_data(as_text=True)  # shown once, kept hashed
    assert worker.post(f"{url}/revoke", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.actor, AuditEntry.what).where(AuditEntry.what.like("volunteer #%"))
        ).all()
    assert [what.rsplit(": ", 1)[1] for _, what in rows] == [
        "sign-in link issued",
        "sign-in link revoked",
    ]
    assert {actor for actor, _ in rows} == {"social_worker lanqiao"}


def test_a_card_link_is_stored_only_as_its_hash(app: Flask, jobs: Jobs) -> None:
    from server.extensions import db
    from server.field.models import VolunteerLink

    token = issue_card(app, jobs.seed.volunteers["lanqiao"][0])
    with app.app_context():
        stored = db.session.execute(sa.select(VolunteerLink.token_hash)).scalar_one()
    assert token not in stored
    assert len(stored) == 64


def test_a_wrong_pin_counts_although_the_answer_rolls_back(
    app: Flask, jobs: Jobs, client: FlaskClient
) -> None:
    from server.extensions import db
    from server.field.models import VolunteerPin

    zhang = jobs.seed.volunteers["lanqiao"][0]
    phone_of(app, zhang).post("/v/pin/set", json={"pin": "2468"}, headers=HEADERS)
    new = phone_of(app, zhang)
    assert new.post("/v/pin", json={"pin": "1111"}, headers=HEADERS).status_code == 403
    with app.app_context():
        assert db.session.get_one(VolunteerPin, zhang).failures == 1
