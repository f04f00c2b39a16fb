"""The console's kiosks page flags silent kiosks and stuck queues, within the user's scope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login


def _enrol(
    app: Flask, community: str, name: str, seen_minutes_ago: int | None, queued: int
) -> None:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code
    from server.timeutil import utcnow

    with app.app_context():
        kiosk, _ = new_enrollment_code(community, name, 24)
        now = utcnow()
        kiosk.enrolled_at = now - timedelta(days=3)
        kiosk.token_hash = f"{name:0<64}"[:64]
        kiosk.last_seen_at = (
            None if seen_minutes_ago is None else now - timedelta(minutes=seen_minutes_ago)
        )
        kiosk.health = {"queued": queued, "integrity": "ok", "free_bytes": 2**30}
        kiosk.health_at = now - timedelta(minutes=30)
        db.session.commit()


def test_silent_and_stuck_kiosks_are_flagged_and_scoped(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _enrol(app, "lanqiao", "hall-ok", 2, 0)
    _enrol(app, "lanqiao", "hall-silent", 600, 0)
    _enrol(app, "lanqiao", "hall-stuck", 45, 7)
    _enrol(app, "feicui", "elsewhere", 5, 0)
    login(client, "social_worker_lanqiao")
    page = client.get("/console/kiosks")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "elsewhere" not in html, "another community's kiosks stay hidden"
    rows = {
        name: html.split(name, 1)[1].split("</tr>", 1)[0]
        for name in ("hall-ok", "hall-silent", "hall-stuck")
    }
    assert "未同步" not in rows["hall-ok"]
    assert "积压" not in rows["hall-ok"]
    assert "未同步" in rows["hall-silent"]
    assert "积压" in rows["hall-stuck"]
    assert html.index("hall-silent") < html.index("hall-ok"), "flagged kiosks come first"


def test_copied_cards_parked_ops_and_lost_requests_are_shown(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from server.extensions import db
    from server.kiosks.models import Kiosk
    from server.timeutil import utcnow

    _enrol(app, "lanqiao", "hall-ok", 2, 0)
    _enrol(app, "lanqiao", "hall-copied", 2, 0)
    _enrol(app, "lanqiao", "hall-parked", 2, 0)
    _enrol(app, "lanqiao", "hall-lost", 2, 0)
    with app.app_context():
        kiosks = {k.name: k for k in db.session.query(Kiosk).all()}
        kiosks["hall-copied"].cloned_at = utcnow()
        kiosks["hall-parked"].health = {**kiosks["hall-parked"].health, "parked": 2}
        kiosks["hall-lost"].health = {
            **kiosks["hall-lost"].health,
            "lost": [{"id": "01955013-7c2a-7e41-9b3d-5f2a8c6e1d07", "ticket": "A-0042"}],
        }
        db.session.commit()
    login(client, "social_worker_lanqiao")
    html = client.get("/console/kiosks").get_data(as_text=True)
    rows = {
        name: html.split(f"<td>{name}</td>", 1)[1].split("</tr>", 1)[0]
        for name in ("hall-ok", "hall-copied", "hall-parked", "hall-lost")
    }
    assert 'data-flag="cloned"' in rows["hall-copied"]
    assert "2 条搁置" in rows["hall-parked"]
    assert "A-0042" in rows["hall-lost"]
    assert "data-flag" not in rows["hall-ok"]
    assert html.index("hall-lost") < html.index("hall-ok"), "flagged kiosks come first"


def test_a_city_wide_board_comes_in_pages_and_one_community_can_be_chosen(
    app: Flask, client: FlaskClient, world: World, monkeypatch: Any
) -> None:
    """Flagged kiosks first, a page at a time by a keyset; the chooser narrows to one
    community; a user of one community sees no chooser and gets 404 for another."""
    import re

    from server.auth.services import create_user
    from server.console import routes
    from server.extensions import db
    from tests.server.conftest import PASSWORD

    monkeypatch.setattr(routes, "KIOSKS_SHOWN", 2)
    for name, seen in (("a-ok", 2), ("b-silent", 600), ("c-ok", 3)):
        _enrol(app, "lanqiao", name, seen, 0)
    _enrol(app, "feicui", "d-ok", 1, 0)
    with app.app_context():
        create_user("city_admin", PASSWORD, "admin", [], all_communities=True)
        db.session.commit()
    login(client, "city_admin")
    names: list[str] = []
    path = "/console/kiosks"
    while path:
        html = client.get(path).get_data(as_text=True)
        names += re.findall(r"<td>([a-d]-\w+)</td>", html)
        link = re.search(r'class="next" href="([^"]+)"', html)
        path = link.group(1).replace("&amp;", "&") if link else ""
    assert names == ["b-silent", "d-ok", "a-ok", "c-ok"], "flagged first, then by community"
    feicui = world.community["feicui"]
    one = client.get(f"/console/kiosks?community={feicui}").get_data(as_text=True)
    assert re.findall(r"<td>([a-d]-\w+)</td>", one) == ["d-ok"]
    assert client.get("/console/kiosks?after=bm90LWEta2V5").status_code == 400
    login(client, "social_worker_lanqiao")
    mine = client.get("/console/kiosks").get_data(as_text=True)
    assert 'name="community"' not in mine
    assert client.get(f"/console/kiosks?community={feicui}").status_code == 404
