"""`POST /api/v1/requests`: an integration (the city's 12345 hotline, a call centre) files a
request for a room of its token's communities, once per Idempotency-Key; a retry answers the
first answer, another body under the key is a conflict, a bad field a 400 naming it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World

URL = "/api/v1/requests"


def _body(**fields: Any) -> dict[str, Any]:
    return {
        "community": "lanqiao",
        "room": "3-2-301",
        "category": "electrical",
        "channel": "hotline",
        "details": "12345 转来：客厅灯不亮",
        "phone": "13800000001",
        "reporter": {"kind": "family", "name": "王女士"},
        "on_behalf": True,
        **fields,
    }


def _headers(world: World, key: str | None = "key-1", slug: str = "lanqiao") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {world.tokens[slug]}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def _entered(app: Flask) -> list[Any]:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        return list(
            db.session.execute(
                sa.select(HelpRequest).where(HelpRequest.channel != "kiosk")
            ).scalars()
        )


def test_a_retry_with_one_key_makes_one_request(
    client: FlaskClient, world: World, app: Flask
) -> None:
    first = client.post(URL, json=_body(), headers=_headers(world))
    assert first.status_code == 201, first.get_json()
    answer = first.get_json()
    assert answer["ticket"] == "O-0001"
    assert (answer["community"], answer["room"], answer["category"]) == (
        "lanqiao",
        "3-2-301",
        "electrical",
    )
    assert (answer["channel"], answer["status"]) == ("hotline", "received")
    for _ in range(2):
        again = client.post(URL, json=_body(), headers=_headers(world))
        assert again.status_code == 200
        assert again.get_json() == answer
    [req] = _entered(app)
    assert req.id == answer["id"]
    assert (req.phone, req.reporter_kind, req.reporter_name) == ("13800000001", "family", "王女士")
    assert req.is_on_behalf
    assert req.resident_id == world.residents["lanqiao"]
    listed = client.get(f"{URL}?community=lanqiao", headers=_headers(world)).get_json()["items"]
    assert {i["ticket"]: i["channel"] for i in listed}["O-0001"] == "hotline"
    # Another key is another request.
    other = client.post(URL, json=_body(), headers=_headers(world, "key-2"))
    assert other.status_code == 201
    assert other.get_json()["ticket"] == "O-0002"
    assert len(_entered(app)) == 2


def test_another_body_under_the_same_key_is_a_conflict(
    client: FlaskClient, world: World, app: Flask
) -> None:
    assert client.post(URL, json=_body(), headers=_headers(world)).status_code == 201
    changed = client.post(URL, json=_body(details="别的事"), headers=_headers(world))
    assert changed.status_code == 409
    assert changed.get_json()["error"] == "idempotency_conflict"
    assert set(changed.get_json()) >= {"error", "detail"}
    assert len(_entered(app)) == 1


def test_a_key_belongs_to_its_token(client: FlaskClient, world: World, app: Flask) -> None:
    assert client.post(URL, json=_body(), headers=_headers(world)).status_code == 201
    theirs = _body(community="feicui", room="7-1-101")
    answer = client.post(URL, json=theirs, headers=_headers(world, slug="feicui"))
    assert answer.status_code == 201
    assert answer.get_json()["ticket"] == "O-0001"  # numbered per community
    assert len(_entered(app)) == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"room": "9-9-999"}, "room"),
        ({"room": 301}, "room"),
        ({"room": None}, "room"),
        ({"category": "nothing"}, "category"),
        ({"channel": "kiosk"}, "channel"),
        ({"channel": "fax"}, "channel"),
        ({"phone": "call me"}, "phone"),
        ({"phone": 13800000001}, "phone"),
        ({"details": "x" * 2001}, "details"),
        ({"details": "a\x00b"}, "details"),
        ({"reporter": {"kind": "neighbour", "name": "李"}}, "reporter_kind"),
        ({"reporter": {"kind": "family", "name": "李" * 101}}, "reporter_name"),
        ({"reporter": {"kind": 3}}, "reporter.kind"),
        ({"reporter": "王女士"}, "reporter"),
        ({"on_behalf": "yes"}, "on_behalf"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(
    client: FlaskClient, world: World, app: Flask, fields: dict[str, Any], field: str
) -> None:
    # A program may ask for English (Accept-Language); the detail names the field in it.
    english = {**_headers(world), "Accept-Language": "en"}
    answer = client.post(URL, json=_body(**fields), headers=english)
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()
    assert error["field"] == field
    assert field.split(".")[0].split("_")[0] in error["detail"]
    assert isinstance(error["error"], str)
    assert error["error"]
    assert _entered(app) == []
    # The key was not spent on the refusal: the corrected body is filed under it.
    assert client.post(URL, json=_body(), headers=_headers(world)).status_code == 201


def test_the_key_and_the_body_are_required(client: FlaskClient, world: World, app: Flask) -> None:
    missing = client.post(URL, json=_body(), headers=_headers(world, key=None))
    assert missing.status_code == 400
    assert missing.get_json()["field"] == "Idempotency-Key"
    long = client.post(URL, json=_body(), headers=_headers(world, key="k" * 201))
    assert long.status_code == 400
    not_json = client.post(URL, data="room=3-2-301", headers=_headers(world))
    assert not_json.status_code == 400
    assert not_json.get_json()["error"] == "bad_body"
    listed = client.post(URL, json=[_body()], headers=_headers(world))
    assert listed.status_code == 400
    anonymous = client.post(URL, json=_body(), headers={"Idempotency-Key": "k"})
    assert anonymous.status_code == 401
    assert _entered(app) == []


def test_a_token_files_only_in_its_communities(
    client: FlaskClient, world: World, app: Flask
) -> None:
    answer = client.post(
        URL, json=_body(community="feicui", room="7-1-101"), headers=_headers(world)
    )
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "unknown_community"
    assert _entered(app) == []


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_concurrent_retries_with_one_key_make_one_request(world: World, app: Flask) -> None:
    """Retries racing on PostgreSQL answer one request (they queue on the token's row, and
    the key's unique constraint stands behind that)."""
    answers: list[tuple[int, Any]] = []

    def retry() -> None:
        answer = app.test_client().post(URL, json=_body(), headers=_headers(world))
        answers.append((answer.status_code, answer.get_json()))

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201], answers
    assert len({str(body) for _, body in answers}) == 1
    assert len(_entered(app)) == 1


def test_a_retry_that_lost_the_race_answers_the_winners_answer(
    client: FlaskClient, world: World, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry that looked before the first one committed files too; the key's unique
    constraint refuses it, its work is undone and it answers the stored answer."""
    from server.staffapi import services

    first = client.post(URL, json=_body(), headers=_headers(world))
    assert first.status_code == 201
    lookup = services._stored
    lookups: list[int] = []

    def too_early(token_id: int, key: str) -> Any:
        lookups.append(1)
        return None if len(lookups) == 1 else lookup(token_id, key)

    monkeypatch.setattr(services, "_stored", too_early)
    late = client.post(URL, json=_body(), headers=_headers(world))
    assert (late.status_code, late.get_json()) == (200, first.get_json())
    assert len(lookups) == 2
    assert len(_entered(app)) == 1
    different = client.post(URL, json=_body(details="别的事"), headers=_headers(world))
    assert different.status_code == 409
    assert len(_entered(app)) == 1
    monkeypatch.undo()
    assert (
        client.post(URL, json=_body(), headers=_headers(world, "key-2")).get_json()["ticket"]
        == "O-0002"
    )  # the undone filing's ticket number was given back
