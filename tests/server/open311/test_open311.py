"""Open311 GeoReport v2: discovery, services, requests in JSON and XML, keys and scope."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from flask.testing import FlaskClient

from tests.server.conftest import World


def _xml(data: bytes) -> ET.Element:
    """Parse the server's own answer (trusted here, so no defusedxml needed)."""
    return ET.fromstring(data)  # noqa: S314


FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def test_every_call_needs_a_valid_key(client: FlaskClient, world: World) -> None:
    for path in ("discovery", "services", "requests", f"requests/{world.requests['lanqiao']}"):
        missing = client.get(f"/open311/v2/{path}.json")
        assert missing.status_code == 401, path
        assert missing.get_json() == [{"code": 401, "description": "a valid api_key is required"}]
        wrong = client.get(f"/open311/v2/{path}.xml?api_key=lt_nope")
        assert wrong.status_code == 403
        error = _xml(wrong.data)
        assert error.tag == "errors"
        assert error.find("error/code").text == "403"


def test_discovery_and_services(client: FlaskClient, world: World) -> None:
    key = world.tokens["lanqiao"]
    discovery = client.get(f"/open311/v2/discovery.json?api_key={key}").get_json()
    assert discovery["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    services = client.get(f"/open311/v2/services.json?api_key={key}").get_json()
    codes = [s["service_code"] for s in services]
    assert "electrical" in codes
    assert "emergency" in codes
    assert set(services[0]) >= {"service_code", "service_name", "metadata", "type", "group"}
    xml = _xml(client.get(f"/open311/v2/services.xml?api_key={key}").data)
    assert xml.tag == "services"
    assert len(xml.findall("service")) == len(services)
    one = client.get(f"/open311/v2/services/plumbing.json?api_key={key}").get_json()
    assert one == {"service_code": "plumbing", "attributes": []}
    assert client.get(f"/open311/v2/services/nope.json?api_key={key}").status_code == 404
    assert client.get(f"/open311/v2/services.yaml?api_key={key}").status_code == 400


def test_requests_json_and_xml_without_names_or_phones(
    client: FlaskClient, world: World, app
) -> None:
    from server.extensions import db
    from server.requests.models import HelpRequest

    key = world.tokens["lanqiao"]
    rid = world.requests["lanqiao"]
    with app.app_context():
        db.session.get_one(HelpRequest, rid).details = "call me on 138 0000 0001 please"
        db.session.commit()
    one = client.get(f"/open311/v2/requests/{rid}.json?api_key={key}")
    body = one.get_json()
    assert isinstance(body, list)
    assert len(body) == 1
    item = body[0]
    assert set(item) == FIELDS
    assert item["status"] == "open"
    assert item["address_id"] == "3-2-301"
    assert item["expected_datetime"] is not None
    text = one.get_data(as_text=True)
    for secret in ("13800000001", "138 0000 0001", "RESIDENT-LANQIAO"):
        assert secret not in text
    xml = _xml(client.get(f"/open311/v2/requests/{rid}.xml?api_key={key}").data)
    assert xml.tag == "service_requests"
    assert xml.find("request/service_request_id").text == str(rid)
    assert xml.find("request/status").text == "open"
    closed = client.get(f"/open311/v2/requests.json?api_key={key}&status=closed").get_json()
    assert closed == []
    filtered = client.get(
        f"/open311/v2/requests.json?api_key={key}&service_code=electrical&start_date=2000-01-01T00:00:00Z"
    ).get_json()
    assert [r["service_request_id"] for r in filtered] == [str(rid)]
    bad = client.get(f"/open311/v2/requests.json?api_key={key}&start_date=yesterday")
    assert bad.status_code == 400


def test_post_files_a_request_and_the_token_finds_it(client: FlaskClient, world: World) -> None:
    key = world.tokens["lanqiao"]
    created = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": key,
            "service_code": "plumbing",
            "address_id": "3-1-101",
            "description": "<b>leak</b>",
        },
    )
    assert created.status_code == 201, created.get_json()
    [answer] = created.get_json()
    rid, token = answer["service_request_id"], answer["token"]
    found = client.get(f"/open311/v2/tokens/{token}.json?api_key={key}").get_json()
    assert found == [{"service_request_id": rid, "token": token}]
    [item] = client.get(f"/open311/v2/requests/{rid}.json?api_key={key}").get_json()
    assert (item["service_code"], item["address_id"], item["description"]) == (
        "plumbing",
        "3-1-101",
        "<b>leak</b>",
    )
    other = client.get(f"/open311/v2/tokens/{token}.json?api_key={world.tokens['feicui']}")
    assert other.status_code == 404
    wrong_room = client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "plumbing", "address_id": "7-1-101"},
    )
    assert wrong_room.status_code == 400
    foreign = client.post(
        "/open311/v2/requests.xml",
        data={
            "api_key": key,
            "service_code": "plumbing",
            "address_id": "7-1-101",
            "jurisdiction_id": "feicui",
        },
    )
    assert foreign.status_code == 404
    assert _xml(foreign.data).tag == "errors"


def test_old_requests_need_a_start_date_and_agency_is_named(
    client: FlaskClient, world: World, app
) -> None:
    from datetime import timedelta

    from server.dispatch.models import Agency
    from server.extensions import db
    from server.requests import services as lc
    from server.requests.models import HelpRequest

    key = world.tokens["lanqiao"]
    rid = world.requests["lanqiao"]
    with app.app_context():
        req = db.session.get_one(HelpRequest, rid)
        lc.escalate(req, lc.Actor("t"), db.session.get_one(Agency, world.agencies["lanqiao"]), None)
        req.received_at = lc.utcnow() - timedelta(days=100)
        db.session.commit()
    assert client.get(f"/open311/v2/requests.json?api_key={key}").get_json() == []
    since = client.get(
        f"/open311/v2/requests.json?api_key={key}&start_date=2000-01-01T00:00:00Z"
    ).get_json()
    assert [(r["service_request_id"], r["agency_responsible"]) for r in since] == [
        (str(rid), "供电所 lanqiao")
    ]


def test_post_records_its_channel_phone_and_reporter_but_never_shows_them(
    client: FlaskClient, world: World, app
) -> None:
    from server.extensions import db
    from server.requests.models import HelpRequest

    key = world.tokens["lanqiao"]
    created = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": key,
            "service_code": "electrical",
            "address_id": "3-2-301",
            "description": "灯不亮，请回电 13912345678",
            "phone": "13800000001",
            "first_name": "秀英",
            "last_name": "王",
        },
    )
    assert created.status_code == 201, created.get_json()
    rid = int(created.get_json()[0]["service_request_id"])
    with app.app_context():
        req = db.session.get_one(HelpRequest, rid)
        assert (req.channel, req.phone, req.reporter_name) == ("open311", "13800000001", "秀英 王")
        assert req.ticket == "O-0001"
        assert req.status == "received"
        assert req.resident_id == world.residents["lanqiao"]  # room and phone match a profile
    for path in (f"requests/{rid}", "requests"):
        as_json = client.get(f"/open311/v2/{path}.json?api_key={key}").get_json()
        as_xml = client.get(f"/open311/v2/{path}.xml?api_key={key}").get_data(as_text=True)
        for text in (json.dumps(as_json, ensure_ascii=False), as_xml):
            assert "灯不亮" in text  # the words are there, masked
            for secret in ("13800000001", "13912345678", "秀英", "王"):
                assert secret not in text, (secret, text)
    bad_phone = client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "electrical", "address_id": "3-2-301",
              "phone": "ring me"},
    )  # fmt: skip
    assert bad_phone.status_code == 400
    assert "电话" in bad_phone.get_json()[0]["description"]
