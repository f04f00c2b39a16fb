"""The live refresh by change cursor: only rows changed since the page's cursor come back."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login, make_request


def _ids(html: str, gone: bool = False) -> set[int]:
    rows = re.findall(r"<tr [^>]*>", html)
    return {
        int(m.group(1))
        for row in rows
        if (m := re.search(r'data-id="(\d+)"', row)) and ("data-gone" in row) == gone
    }


def test_the_live_refresh_sends_what_changed_since_the_cursor(
    client: FlaskClient, world: World, app: Flask
) -> None:
    from server.extensions import db
    from server.requests.models import HelpRequest
    from server.timeutil import utcnow

    cid = world.community["lanqiao"]
    with app.app_context():
        old = make_request(cid, "3-2-302", details="OLD")
        closing = make_request(cid, "3-1-101", details="CLOSING")
        for rid in (old, closing):  # changed long before the page was opened
            db.session.get_one(HelpRequest, rid).updated_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    login(client, "social_worker_lanqiao")
    whole = client.get("/console/queue/rows")
    assert whole.headers.get("X-Live-Delta") is None
    assert {old, closing} <= _ids(whole.get_data(as_text=True))
    cursor = whole.headers["X-Live-Cursor"]

    quiet = client.get("/console/queue/rows", query_string={"since": cursor})
    assert quiet.headers["X-Live-Delta"] == "1"
    assert old not in _ids(quiet.get_data(as_text=True))  # unchanged rows are not sent again
    assert "Nothing here" not in quiet.get_data(as_text=True)

    with app.app_context():
        fresh = make_request(cid, "3-2-301", details="FRESH")
        req = db.session.get_one(HelpRequest, closing)
        req.status, req.updated_at = "closed_fixed", utcnow()
        db.session.commit()
    delta = client.get("/console/queue/rows", query_string={"since": cursor})
    html = delta.get_data(as_text=True)
    assert delta.headers["X-Live-Delta"] == "1"
    assert fresh in _ids(html)
    assert old not in _ids(html)
    assert _ids(html, gone=True) == {closing}  # closed: gone from "needs action"
    assert re.search(rf'data-id="{fresh}" data-bucket="2" data-sort="2 \d+ {fresh}"', html)
    assert delta.headers["X-Live-Cursor"] >= cursor

    everything = client.get("/console/queue/rows", query_string={"since": cursor, "view": "all"})
    assert {fresh, closing} <= _ids(everything.get_data(as_text=True))  # "all" still shows it
    broken = client.get("/console/queue/rows", query_string={"since": "yesterday"})
    assert broken.status_code == 400
