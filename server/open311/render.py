"""Open311 answers in JSON or XML, with the element names the specification uses."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from flask import Response, jsonify


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
    """`body` as JSON, or as XML under `root` with list items named `item`."""
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
