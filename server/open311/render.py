"""Open311 answers in JSON or XML, with the element names the specification uses.

Every text field is masked for phone numbers however they are written (server/privacy.py),
except fields the server makes itself from codes, ids and clocks.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from flask import Response, jsonify

from server.privacy import mask_phones

MACHINE_FIELDS = frozenset(
    {"service_request_id", "token", "address", "address_id", "service_code", "changeset", "url"}
)
"""Fields holding ids, codes or URLs the server makes (a room code is not a phone number)."""


def masked(value: Any, key: str | None = None) -> Any:
    """`value` with phone numbers masked in every text field but the machine-made ones."""
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if (
        isinstance(value, str)
        and key not in MACHINE_FIELDS
        and not (key or "").endswith("_datetime")
    ):
        return mask_phones(value)
    return value


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, inner in value.items():
            _xml_value(child, key, inner)
    elif isinstance(value, list):
        singular = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute"}
        for item in value:
            _xml_value(child, singular.get(name, "item"), item)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = str(value)


def render(body: Any, root: str, item: str | None, fmt: str, status: int = 200) -> Response:
    """`body` (phone numbers masked) as JSON, or as XML under `root` with items named `item`."""
    body = masked(body)
    if fmt == "json":
        response = jsonify(body)
        response.status_code = status
        return response
    top = ET.Element(root)
    if isinstance(body, list):
        for entry in body:
            element = ET.SubElement(top, item or "item")
            for key, value in entry.items():
                _xml_value(element, key, value)
    else:
        for key, value in body.items():
            _xml_value(top, key, value)
    text = ET.tostring(top, encoding="unicode", xml_declaration=False)
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>' + text,
        status=status,
        mimetype="text/xml",
    )
