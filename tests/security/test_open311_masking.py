"""Open311 masks phone numbers however they are written, in every text field, JSON and XML."""

from __future__ import annotations

import re
import unicodedata

from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World

SPELLINGS = [
    "13912345678",
    "139.1234.5678",
    "139 1234 5678",
    "139-1234-5678",
    "１３９１２３４５６７８",
    "１３９－１２３４－５６７８",
    "+86 13912345678",
    "+86-139-1234-5678",
    "＋８６ １３９ １２３４ ５６７８",
    "0086 139 1234 5678",
    "(139)1234-5678",
    "139. 1234. 5678",
]


def _leaks(text: str) -> bool:
    """Whether the number's digits survive anywhere, ignoring every separator and script."""
    digits = re.sub(r"[^0-9]", "", unicodedata.normalize("NFKC", text))
    return "12345678" in digits


def _plant(app: Flask, world: World) -> int:
    """Write the number in every spelling into the request's words, public note and the
    name of the agency it was escalated to."""
    from server.dispatch.models import Agency, Escalation
    from server.extensions import db
    from server.requests.models import HelpRequest

    rid = world.requests["lanqiao"]
    with app.app_context():
        req = db.session.get_one(HelpRequest, rid)
        req.details = "请回电 " + "；".join(SPELLINGS)
        req.public_note = "已派单，联系 139.1234.5678"
        agency = db.session.get_one(Agency, world.agencies["lanqiao"])
        agency.name = "供电所 139 1234 5678"
        db.session.add(
            Escalation(request_id=rid, agency_id=agency.id, delivery_status="pending", payload={})
        )
        db.session.commit()
    return rid


def test_phone_numbers_are_masked_in_every_field_json_and_xml(
    app: Flask, client: FlaskClient, world: World
) -> None:
    rid = _plant(app, world)
    key = world.tokens["lanqiao"]
    for fmt in ("json", "xml"):
        for path in (f"requests.{fmt}", f"requests/{rid}.{fmt}", f"requests.{fmt}?status=open"):
            sep = "&" if "?" in path else "?"
            answer = client.get(f"/open311/v2/{path}{sep}api_key={key}")
            assert answer.status_code == 200, answer.data
            text = answer.get_data(as_text=True)
            assert "请回电" in text, "the words are there, only the numbers are masked"
            assert "[number removed]" in text
            assert not _leaks(text), (path, text)
        one = client.get(f"/open311/v2/requests/{rid}.{fmt}?api_key={key}").get_data(as_text=True)
        assert "3-2-301" in one, "room codes are not phone numbers"
        assert re.search(r"requested_datetime\W+\d{4}-\d\d-\d\dT", one), "times stay intact"


def test_an_error_echoing_the_input_masks_it_too(client: FlaskClient, world: World) -> None:
    key = world.tokens["lanqiao"]
    for fmt in ("json", "xml"):
        answer = client.get(f"/open311/v2/requests/139.1234.5678.{fmt}?api_key={key}")
        assert answer.status_code == 404
        assert not _leaks(answer.get_data(as_text=True))
        tokens = client.get(f"/open311/v2/tokens/+86%20139%201234%205678.{fmt}?api_key={key}")
        assert tokens.status_code == 404
        assert not _leaks(tokens.get_data(as_text=True))
