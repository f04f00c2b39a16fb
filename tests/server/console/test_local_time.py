"""Console pages show times in the configured local zone (LINLI_TIMEZONE) and name it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login

RECEIVED = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
"""Half past eleven at night in UTC: already the next morning in Shanghai (UTC+8)."""
NOTED = datetime(2026, 3, 1, 23, 45, tzinfo=UTC)
TEMPLATES = Path(__file__).parents[3] / "server" / "templates"


def _place_at_known_times(app: Flask, world: World) -> None:
    """Lanqiao's request received at RECEIVED, dispatched to its team, with a note at NOTED;
    a kiosk last seen then; a viewer last signed in then; an audit row on the resident then."""
    from server.audit.models import AuditEntry
    from server.auth.models import User
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code
    from server.requests.models import HelpRequest, RequestEvent

    with app.app_context():
        req = db.session.get_one(HelpRequest, world.requests["lanqiao"])
        req.received_at = RECEIVED
        req.device_created_at = RECEIVED
        req.status = "dispatched"
        req.team_id = world.teams["lanqiao"]
        db.session.add(
            RequestEvent(request_id=req.id, actor="sw", note="打过电话", at=NOTED, kind="note")
        )
        kiosk, _ = new_enrollment_code("lanqiao", "hall-clock", 24)
        kiosk.enrolled_at = RECEIVED
        kiosk.token_hash = "c" * 64
        kiosk.last_seen_at = RECEIVED
        kiosk.health_at = NOTED
        kiosk.health = {
            "queued": 2,
            "integrity": "ok",
            "free_bytes": 2**30,
            "oldest_queued_at": "2026-03-01T23:30:00Z",  # as the kiosk reports it (JSON)
        }
        viewer = db.session.execute(
            db.select(User).where(User.username == "viewer_lanqiao")
        ).scalar_one()
        viewer.last_login_at = RECEIVED
        db.session.add(
            AuditEntry(
                at=RECEIVED,
                actor="clock test",
                community_id=world.community["lanqiao"],
                action="view",
                resident_id=world.residents["lanqiao"],
                what="profile",
                why="clock test",
            )
        )
        db.session.commit()


def _pages(client: FlaskClient, world: World) -> dict[str, str]:
    paths = {
        "queue": "/console/queue?view=all",
        "rows": "/console/queue/rows?view=all",
        "request": f"/console/requests/{world.requests['lanqiao']}",
        "jobs": "/console/jobs",
        "job": f"/console/jobs/{world.requests['lanqiao']}",
        "kiosks": "/console/kiosks",
        "users": "/console/users",
        "profile": f"/console/residents/{world.residents['lanqiao']}?why=clock",
    }
    out = {}
    for name, path in paths.items():
        answer = client.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        out[name] = answer.get_data(as_text=True)
    return out


def test_times_are_shown_in_the_local_zone_and_the_zone_is_named(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _place_at_known_times(app, world)
    login(client, "admin_lanqiao")
    pages = _pages(client, world)
    # On screen a day reads 3月2日 (2 Mar in English) and the clock is 24-hour.
    assert "3月2日 07:30" in pages["queue"]
    assert "3月2日 07:30" in pages["rows"]
    assert "3月2日 07:30" in pages["request"], "received, in Shanghai wall time"
    assert "3月2日 07:45" in pages["request"], "the timeline's note, in Shanghai wall time"
    assert "3月2日 07:30" in pages["jobs"]
    assert "3月2日 07:30" in pages["job"]
    kiosk_row = pages["kiosks"].split("hall-clock", 1)[1].split("</tr>", 1)[0]
    assert kiosk_row.count("3月2日 07:30") == 2, "last sync and oldest queued"
    assert "3月2日 07:45" in kiosk_row, "health report"
    viewer_row = pages["users"].split('data-user="viewer_lanqiao"', 1)[1].split("</tr>", 1)[0]
    assert "3月2日 07:30" in viewer_row
    assert "3月2日 07:30" in pages["profile"], "audit trail"
    for name, html in pages.items():
        if name == "rows":
            continue  # a fragment inside the queue page, which names the zone
        assert "时间按 中国标准时间 (Asia/Shanghai)" in html, name
        assert not re.search(r">[^<]*\b23:(30|45)\b", html), f"{name} shows a UTC clock"


def test_the_configured_zone_is_used(app: Flask, client: FlaskClient, world: World) -> None:
    app.config["LINLI_TIMEZONE"] = "Europe/Berlin"
    _place_at_known_times(app, world)
    login(client, "social_worker_lanqiao")
    page = client.get(f"/console/requests/{world.requests['lanqiao']}").get_data(as_text=True)
    assert "3月2日 00:30" in page, "UTC+1 in March"
    assert "(Europe/Berlin)" in page
    client.set_cookie("lang", "en")
    page = client.get(f"/console/requests/{world.requests['lanqiao']}").get_data(as_text=True)
    assert "2 Mar 00:30" in page
    assert "times in Central European Time (Europe/Berlin)" in page


def test_an_unknown_zone_stops_the_app_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server import create_app

    monkeypatch.setenv("LINLI_INSTANCE_DIR", str(tmp_path / "instance"))
    with pytest.raises(ValueError, match="LINLI_TIMEZONE 'Mars/Olympus' is not a known time zone"):
        create_app(
            {
                "LINLI_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                "LINLI_TIMEZONE": "Mars/Olympus",
            }
        )


def test_templates_format_times_only_through_the_localtime_filter() -> None:
    """One filter for every console time: no template formats a time or says "UTC" itself."""
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) >= 10
    for template in templates:
        text = template.read_text()
        assert "strftime" not in text, template.name
        assert " UTC" not in text, template.name
