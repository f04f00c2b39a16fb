"""Text bound for a bounded column is checked before the database sees it, and no NUL gets in.

PostgreSQL refuses a value longer than its `VARCHAR(n)` and any text holding a NUL character;
both used to be 500s (a 21-character phone, a NUL in an Open311 description), while SQLite
stored them silently. Each field below, at its limit plus one and with a NUL, must be a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.audit.actor import Actor
from tests.server.conftest import World, csrf_token, login, world

__all__ = ["world"]  # fixtures shared with the console's tests

NUL = "a\x00b"


@dataclass(frozen=True)
class Field:
    """A form field, the form it is sent with, and the most its column holds."""

    path: str
    data: dict[str, str]
    name: str
    limit: int
    filler: str = "x"
    long: str = ""
    """The too-long value, when `filler` repeated is not the right shape."""

    def too_long(self) -> str:
        """A value one character over the limit."""
        return self.long or self.filler * (self.limit + 1)


@pytest.fixture
def ids(app: Flask, world: World) -> dict[str, Any]:
    """A volunteer and a merchant whose name is as long as a merchant name may be (with its
    page key)."""
    from server.extensions import db
    from server.passbook.services import register_merchant
    from server.volunteers.models import Volunteer

    with app.app_context():
        lanqiao = world.community["lanqiao"]
        volunteer = Volunteer(community_id=lanqiao, name="张", phone="13900000001")
        db.session.add(volunteer)
        merchant, key = register_merchant(lanqiao, "店" * 100, "1号楼")
        db.session.commit()
        return {
            "key": key,
            "volunteer": volunteer.id,
            "merchant": merchant.id,
            "community": lanqiao,
            "request": world.requests["lanqiao"],
        }


def _fields(ids: dict[str, Any]) -> list[Field]:
    resident = {
        "community": str(ids["community"]),
        "room": "3-2-301",
        "name": "王",
        "mobility": "independent",
    }
    volunteer = {"community": str(ids["community"]), "name": "李", "phone": "13900000099"}
    vid, mid, rid = ids["volunteer"], ids["merchant"], ids["request"]
    manual = {"volunteer": str(vid), "minutes": "30", "started_at": "2026-01-05T09:00"}
    return [
        Field("/console/residents/new", resident, "name", 100),
        Field("/console/residents/new", resident, "phone", 20, "1"),
        Field("/console/residents/new", resident, "emergency_contact_name", 100),
        Field("/console/residents/new", resident, "emergency_contact_phone", 20, "1"),
        Field("/console/residents/new", resident, "access_notes", 300),
        Field("/console/residents/new", resident, "room", 50),
        Field("/volunteers/new", volunteer, "name", 100),
        Field("/volunteers/new", volunteer, "phone", 20, "1"),
        Field("/volunteers/new", volunteer, "phone", 20, long="+" + "1" * 20),
        Field("/volunteers/new", volunteer, "registration_no", 40),
        Field("/volunteers/new", volunteer, "availability", 200),
        Field("/passbook/merchants", {"community": str(ids["community"])}, "name", 100),
        Field(
            "/passbook/merchants",
            {"community": str(ids["community"]), "name": "店"},
            "address",
            200,
        ),
        Field(f"/passbook/{vid}/bonus", {"points": "1", "key": "k1"}, "reason", 300),
        Field(
            f"/passbook/merchants/{mid}/redeem", {"points": "1", "volunteer": str(vid)}, "item", 199
        ),
        Field(
            f"/volunteers/{vid}/notes", {"kind": "training", "noted_on": "2026-01-05"}, "text", 300
        ),
        Field("/volunteers/hours/manual", manual, "content", 300),
        Field(f"/console/requests/{rid}/note", {}, "text", 2000),
        Field(f"/console/requests/{rid}/public_note", {}, "text", 200),
    ]


def test_every_bounded_field_refuses_too_long_and_nul(
    client: FlaskClient, ids: dict[str, Any], backend: str
) -> None:
    """Console forms: each field at its limit plus one, and with a NUL, is a 400."""
    login(client, "admin_lanqiao")
    token = csrf_token(client, "/console/jobs")
    fields = _fields(ids)
    failures = []
    for field in fields:
        for label, value in (("too long", field.too_long()), ("NUL", NUL)):
            data = {**field.data, field.name: value, "csrf_token": token, "key": label}
            answer = client.post(field.path, data=data)
            if answer.status_code != 400:
                failures.append(
                    f"{field.path} {field.name} {label}: {answer.status_code} "
                    f"{answer.get_data(as_text=True)[:100]!r}"
                )
    total = 2 * len(fields)
    assert not failures, f"{backend}: {len(failures)} of {total}:\n" + "\n".join(failures)


def test_apis_refuse_nul_and_too_long(client: FlaskClient, world: World, backend: str) -> None:
    """Open311's description, the staff API's filters and the sign-in form."""
    token = world.tokens["lanqiao"]
    cases: list[tuple[str, Any]] = [
        (
            "open311 description NUL",
            client.post(
                "/open311/v2/requests.json",
                data={
                    "api_key": token,
                    "service_code": "electrical",
                    "address_id": "3-2-301",
                    "description": "灯\x00坏了",
                },
            ),
        ),
        (
            "open311 address_id NUL",
            client.post(
                "/open311/v2/requests.json",
                data={"api_key": token, "service_code": "electrical", "address_id": "3\x002"},
            ),
        ),
        (
            "staff API community NUL",
            client.get(
                "/api/v1/requests",
                query_string={"community": "lan\x00qiao"},
                headers={"Authorization": f"Bearer {token}"},
            ),
        ),
        (
            "open311 service_code NUL",
            client.get(
                "/open311/v2/requests.json",
                query_string={"api_key": token, "service_code": "elec\x00"},
            ),
        ),
        (
            "login username NUL",
            client.post(
                "/login",
                data={
                    "username": "admin\x00",
                    "password": "x",
                    "csrf_token": csrf_token(client, "/login"),
                },
            ),
        ),
    ]
    failures = [
        f"{name}: {answer.status_code} {answer.get_data(as_text=True)[:100]!r}"
        for name, answer in cases
        if answer.status_code != 400
    ]
    assert not failures, f"{backend}: {len(failures)} of {len(cases)}:\n" + "\n".join(failures)


def test_labels_made_from_long_names_fit_their_columns(
    app: Flask, client: FlaskClient, world: World, ids: dict[str, Any], backend: str
) -> None:
    """A merchant or API token with the longest name allowed still works: the actor labels
    built from them (`merchant:NAME`, `open311:NAME`) are cut to their column's 100 (the
    ledger always cut its own; Open311's event did not)."""
    from server.extensions import db
    from server.passbook.services import award_bonus, issue_code
    from server.staffapi.services import create_api_token
    from server.volunteers.models import Volunteer

    with app.app_context():
        volunteer = db.session.get_one(Volunteer, ids["volunteer"])
        award_bonus(volunteer, 50, "thanks", "seed", Actor("setup"))
        _, code = issue_code(volunteer, 10, Actor("setup"))
        _, token = create_api_token("t" * 100, [])
        db.session.commit()
    client.get(f"/merchant/{ids['key']}")
    page = client.get("/merchant").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    redeemed = client.post(
        "/merchant", data={"code": code, "points": "5", "item": "面包", "csrf_token": csrf}
    )
    assert redeemed.status_code == 200, f"{backend}: {redeemed.get_data(as_text=True)[:200]}"
    filed = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": token,
            "service_code": "electrical",
            "address_id": "3-2-301",
            "jurisdiction_id": "lanqiao",
        },
    )
    assert filed.status_code == 201, f"{backend}: {filed.get_data(as_text=True)[:200]}"


def test_a_kiosk_with_the_longest_name_syncs(
    app: Flask, client: FlaskClient, community: dict[str, Any], backend: str
) -> None:
    """A kiosk named with 100 characters pushes a request: its events' actor `kiosk:NAME` is
    cut to the column's 100 characters (a 500 on PostgreSQL before)."""
    import gzip

    from server.extensions import db
    from server.kiosks.services import new_enrollment_code
    from tests.security.test_bad_input import batch, encode

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", "k" * 100, 24)
        db.session.commit()
    headers = {"Linli-Protocol": "1"}
    enrolled = client.post("/api/sync/v1/enroll", json={"code": code}, headers=headers)
    assert enrolled.status_code == 200, enrolled.get_json()
    pushed = client.post(
        "/api/sync/v1/push",
        data=gzip.compress(encode(batch())),
        headers={
            **headers,
            "Authorization": f"Bearer {enrolled.get_json()['token']}",
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert pushed.status_code == 200, f"{backend}: {pushed.get_data(as_text=True)[:200]}"
    assert [r["status"] for r in pushed.get_json()["results"]] == ["applied"]
