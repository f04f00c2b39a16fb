"""Numbers from URLs, query strings and forms: only ASCII digits within the database's range.

Python's `int()` reads `\u0661` (Arabic-Indic one) as 1 and `str.isdigit()` says yes to `²`, and
Flask's `<int:...>` converter matches `\\d+`, which takes every Unicode digit. So `/console/
requests/\u0661` opened request 1, `²` crashed `int()` after an `isdigit()` check, and thirty nines
overflowed the database: each of these must now be a 400 in the usual error shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import (
    World,
    csrf_token,
    login,
    post,
    world,
)

__all__ = ["world"]  # fixtures shared with the console's tests

BAD = ("²", "١", "٣", "9" * 30)
"""Superscript two, Arabic-Indic one and three, and a number no column holds."""


@dataclass
class Extra:
    """What the number tests need beyond the console's `world`."""

    volunteer: int
    merchant: int
    request: int


@pytest.fixture
def extra(app: Flask, world: World) -> Extra:
    """A volunteer and a merchant in lanqiao; the admin signs in to use them."""
    from server.extensions import db
    from server.passbook.services import register_merchant
    from server.volunteers.models import Volunteer

    with app.app_context():
        volunteer = Volunteer(
            community_id=world.community["lanqiao"], name="张", phone="13900000001"
        )
        db.session.add(volunteer)
        merchant, _ = register_merchant(world.community["lanqiao"], "面包房", "1号楼")
        db.session.commit()
        return Extra(volunteer.id, merchant.id, world.requests["lanqiao"])


def _problem(answer: Any, expected: int = 400) -> str | None:
    """What is wrong with the answer to a bad number (None when it is right)."""
    body = answer.get_data(as_text=True)
    if answer.status_code != expected:
        return f"status {answer.status_code}: {body[:120]!r}"
    data = answer.get_json(silent=True)
    shaped = isinstance(data, dict) and data.get("error") and data.get("detail")
    open311 = isinstance(data, list) and data and data[0].get("description")
    if data is not None and not (shaped or open311):
        return f"JSON without error and detail: {data}"
    if data is None and "<html" not in body.lower():
        return f"neither a JSON error nor a page: {body[:120]!r}"
    return None


PATHS = (
    "/console/requests/{}",
    "/console/jobs/{}",
    "/console/residents/{}",
    "/volunteers/{}",
    "/volunteers/{}/record",
    "/passbook/{}",
    "/passbook/merchants/{}",
    "/reports/{}",
    "/reports/{}/requests.csv",
)


def test_numbers_in_the_path_are_refused(client: FlaskClient, extra: Extra) -> None:
    """Every `<int:...>` in a page's address refuses non-ASCII digits and overflowing ids
    (400); `²` is no digit in any script, so like `abc` it matches no route (404)."""
    login(client, "admin_lanqiao")
    failures = []
    for path in PATHS:
        for value in BAD:
            expected = 404 if value == "²" else 400
            problem = _problem(client.get(path.format(value)), expected)
            if problem:
                failures.append(f"GET {path.format(value)!r}: {problem}")
    assert not failures, f"{len(failures)} of {len(PATHS) * len(BAD)}:\n" + "\n".join(failures)


def test_numbers_in_query_strings_are_refused(
    client: FlaskClient, world: World, enrolled: dict[str, Any]
) -> None:
    """Queue and volunteer filters and the sync API's page size; Open311 ids never crash or
    name another request."""
    failures = []
    sync_headers = {"Linli-Protocol": "1", "Authorization": f"Bearer {enrolled['token']}"}
    for value in BAD:
        problem = _problem(client.get(f"/api/sync/v1/pull?limit={value}", headers=sync_headers))
        if problem:
            failures.append(f"pull limit={value!r}: {problem}")
        token = world.tokens["lanqiao"]
        for path in (f"/open311/v2/requests/{value}.json", "/open311/v2/requests.json"):
            answer = client.get(path, query_string={"api_key": token, "service_request_id": value})
            items = answer.get_json(silent=True)
            if answer.status_code >= 500 or (answer.status_code == 200 and items):
                failures.append(f"{path} id={value!r}: {answer.status_code} {items}")
    login(client, "admin_lanqiao")
    for path in (
        "/console/queue?community={}",
        "/console/queue?team={}",
        "/volunteers/?community={}",
    ):
        for value in BAD:
            problem = _problem(client.get(path.format(value)))
            if problem:
                failures.append(f"GET {path.format(value)!r}: {problem}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)


def test_numbers_in_forms_are_refused(client: FlaskClient, world: World, extra: Extra) -> None:
    """Merge target, resident, escalation, satisfaction, points, minutes, volunteer, team,
    community and birth year: each bad number is a 400 that changes nothing."""
    login(client, "admin_lanqiao")
    rid, vid, mid = extra.request, extra.volunteer, extra.merchant
    lanqiao = world.community["lanqiao"]
    forms: list[tuple[str, dict[str, str], str]] = [
        (f"/console/requests/{rid}/merge", {}, "into"),
        (f"/console/requests/{rid}/link", {}, "resident"),
        (f"/console/requests/{rid}/retry", {}, "escalation"),
        (f"/console/requests/{rid}/follow_up", {"outcome": "fixed"}, "satisfaction"),
        (f"/passbook/{vid}/bonus", {"reason": "thanks", "key": "k1"}, "points"),
        (f"/passbook/{vid}/code", {}, "points"),
        (f"/passbook/merchants/{mid}/redeem", {"points": "1", "key": "k2"}, "volunteer"),
        ("/passbook/merchants", {"name": "店"}, "community"),
        (
            "/volunteers/hours/manual",
            {"volunteer": str(vid), "started_at": "2026-01-05T09:00"},
            "minutes",
        ),
        ("/volunteers/hours/manual", {"minutes": "30"}, "volunteer"),
        ("/volunteers/hours/check-in", {"volunteer": str(vid)}, "team"),
        (
            "/console/residents/new",
            {"room": "3-2-301", "name": "王", "mobility": "independent"},
            "community",
        ),
        (
            "/console/residents/new",
            {"room": "3-2-301", "name": "王", "mobility": "independent", "community": str(lanqiao)},
            "birth_year",
        ),
    ]
    failures = []
    token = csrf_token(client, "/console/jobs")
    for path, data, field in forms:
        for value in BAD:
            answer = client.post(path, data={**data, field: value, "csrf_token": token})
            problem = _problem(answer)
            if problem:
                failures.append(f"POST {path} {field}={value!r}: {problem}")
    assert not failures, f"{len(failures)} of {len(forms) * len(BAD)}:\n" + "\n".join(failures)
    assert post(client, f"/console/requests/{rid}/note", {"text": "still here"}).status_code == 303


def test_times_out_of_range_are_refused(client: FlaskClient, world: World, extra: Extra) -> None:
    """A date and time that cannot be moved to UTC (year 1 in China) is a 400, not an
    OverflowError: the hours forms and Open311's date filters."""
    token = world.tokens["lanqiao"]
    failures = []
    for name in ("start_date", "end_date"):
        answer = client.get(
            "/open311/v2/requests.json",
            query_string={"api_key": token, name: "0001-01-01T00:00:00+08:00"},
        )
        if answer.status_code != 400:
            failures.append(f"open311 {name}: {answer.status_code}")
    login(client, "admin_lanqiao")
    early = "0001-01-01T00:00"
    forms = [
        (
            "/volunteers/hours/manual",
            {"volunteer": str(extra.volunteer), "minutes": "30"},
            "started_at",
        ),
        ("/volunteers/hours/check-in", {"volunteer": str(extra.volunteer)}, "at"),
    ]
    token = csrf_token(client, "/console/jobs")
    for path, data, field in forms:
        answer = client.post(path, data={**data, field: early, "csrf_token": token})
        if answer.status_code != 400:
            failures.append(f"POST {path} {field}: {answer.status_code}")
    assert not failures, "\n".join(failures)
