"""The elder hears back at the kiosk, whatever the channel: a kiosk synced with the real server
app (in process), its "my requests" tapped in Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kiosk.store import Store
from kiosk.voice import Voice
from sync.client import SyncEngine
from tests.server.conftest import make_request
from tests.sync.test_contract import SERVER, InProcessTransport
from tests.ui.checks import audit
from tests.ui.kiosk_data import COMMUNITY_PHONE, LocalKiosk, serve_kiosk
from tests.ui.test_flows import Taps

TEAM = "小蜜蜂维修队"
PHONE = "13912345678"
DETAILS = "客厅灯不亮，钥匙在门垫下"


@pytest.fixture
def backend() -> str:
    """One server database for the browser walks (tests/server runs both on each step)."""
    return "sqlite"


@dataclass
class Synced:
    """A kiosk enrolled with the in-process server, served on loopback, and its sync engine."""

    kiosk: LocalKiosk
    engine: SyncEngine
    app: Flask
    community_id: int

    def sync(self) -> None:
        """One sync, as the worker runs it after a save or on its timer."""
        outcome = self.engine.sync_once()
        assert outcome.ok, outcome.error

    def staff(self, rid: int, step: Callable[[Any, Any], None]) -> None:
        """One lifecycle step on request `rid` by a social worker, committed."""
        from server.audit.actor import Actor
        from server.extensions import db
        from server.requests.models import HelpRequest

        with self.app.app_context():
            step(db.session.get_one(HelpRequest, rid), Actor("social worker"))
            db.session.commit()


@pytest.fixture
def synced(
    app: Flask, client: FlaskClient, community: dict[str, Any], tmp_path: Path, voice_cache: Voice
) -> Iterator[Synced]:
    """A kiosk of `lanqiao` enrolled with the server app, synced once, and a team to send."""
    from server.dispatch.services import create_team
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", "hall", 24)
        create_team("lanqiao", TEAM, ["electrical", "meals"])
        db.session.commit()
    session = requests.Session()
    session.mount(SERVER, InProcessTransport(client))
    store = Store(tmp_path / "kiosk" / "kiosk.sqlite3")
    try:
        engine = SyncEngine(store, session=session)
        store.save_enrollment(SERVER, engine.enroll(SERVER, code))
        with serve_kiosk(store, voice=voice_cache) as served:
            result = Synced(served, engine, app, community["id"])
            result.sync()
            yield result
    finally:
        store.close()
        session.close()


def phone_request(synced: Synced, room: str, ticket: str, category: str = "electrical") -> int:
    """A request a social worker took by phone, published to the kiosks as intake publishes it."""
    from server.extensions import db
    from server.requests.changes import request_change
    from server.requests.models import HelpRequest
    from server.synclog.changes import record_changes

    with synced.app.app_context():
        rid = make_request(synced.community_id, room, category, details=DETAILS, phone=PHONE)
        req = db.session.get_one(HelpRequest, rid)
        req.ticket = ticket
        record_changes([request_change(req)])
        db.session.commit()
    return rid


def triage_and_dispatch(req: Any, actor: Any) -> None:
    """Triage as asked and send the team, as the console does."""
    from server.dispatch.models import Team
    from server.extensions import db
    from server.requests import services

    team = db.session.execute(sa.select(Team).where(Team.name == TEAM)).scalar_one()
    services.triage(req, actor, req.category, "normal", None)
    services.dispatch(req, actor, team, None, None)


def open_mine(page: Any, kiosk: LocalKiosk, building: str, unit: str, room: str) -> Taps:
    """From home, tap "my requests" and the room, as a resident does."""
    page.goto(kiosk.url + "/")
    taps = Taps(page)
    taps.tap("[data-category=mine]")
    if page.locator(f"a.choice:has-text('{building}号楼')").count():
        taps.tap(f"a.choice:has-text('{building}号楼')")
    if page.locator(f"a.choice:has-text('{unit}单元')").count():
        taps.tap(f"a.choice:has-text('{unit}单元')")
    assert taps.tap(f"a.choice:has-text('{room}')") == "mine"
    return taps


def test_a_phone_request_shows_at_the_kiosk_and_a_dispatch_names_the_team(
    synced: Synced, page: Any
) -> None:
    rid = phone_request(synced, "3-2-302", "P-0022")
    synced.sync()
    open_mine(page, synced.kiosk, "3", "2", "302")
    card = page.locator(".request").first
    assert "P-0022" in card.inner_text()
    assert card.locator(".state").inner_text() == "已收到"
    assert card.locator("a").count() == 0, "a phone request is cancelled by the community"
    body = page.content()
    assert PHONE not in body
    assert DETAILS not in body
    assert not audit(page)

    synced.staff(rid, triage_and_dispatch)
    synced.sync()
    page.reload()
    assert card.locator(".state").inner_text() == f"已安排 {TEAM}"
    assert "p:st_arranged" in str(page.locator("body").get_attribute("data-speak"))
    synced.staff(rid, lambda req, actor: _arrive(req, actor))
    synced.sync()
    page.reload()
    assert card.locator(".state").inner_text() == "已上门"
    who = card.locator(".who")
    assert who.inner_text() == f"来帮您的是 {TEAM}"
    size = float(who.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px"))
    assert size >= 34, "who is coming is shown in large type"
    assert not audit(page)


def _arrive(req: Any, actor: Any) -> None:
    from server.requests import services

    services.accept(req, actor)
    services.arrive(req, actor)


def test_a_merged_kiosk_request_shows_the_surviving_ones_step(synced: Synced, page: Any) -> None:
    page.goto(synced.kiosk.url + "/confirm?category=electrical&room=3-2-301")
    with page.expect_navigation():
        page.click("[data-choice=light_out]")  # the server sent its sub-choices: a tile saves
    saved = synced.kiosk.store.requests_for_room("3-2-301")[0]
    assert saved["choice"] == "light_out"
    synced.sync()
    survivor = phone_request(synced, "3-2-301", "P-0023")
    synced.staff(survivor, triage_and_dispatch)

    def merge(req: Any, actor: Any) -> None:
        from server.extensions import db
        from server.requests import services
        from server.requests.models import HelpRequest

        kiosk_made = db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.ticket == saved["ticket"])
        ).scalar_one()
        services.merge_duplicate(kiosk_made, req, actor, None)

    synced.staff(survivor, merge)
    synced.sync()
    open_mine(page, synced.kiosk, "3", "2", "301")
    merged = page.locator(f".request:has-text('{saved['ticket']}')")
    assert merged.locator(".state").inner_text() == "已合并到 P-0023"
    assert merged.locator(".then").inner_text() == f"P-0023：已安排 {TEAM}"
    assert merged.locator(".note").count() == 0, "the merge's own note is not said twice"
    speak = str(page.locator("body").get_attribute("data-speak"))
    assert "p:st_merged_into code:P-0023 p:st_arranged" in speak
    assert not audit(page)


def test_the_emergency_screen_shows_the_community_number_and_no_false_buttons(
    kiosk: LocalKiosk, page: Any
) -> None:
    page.goto(kiosk.url + "/emergency")
    assert page.locator("#duty .duty-number").inner_text() == COMMUNITY_PHONE
    numbers = page.locator(".numbers")
    assert numbers.locator("a, button, [role=button], [data-tap]").count() == 0
    looks = numbers.locator(".number-card").evaluate_all(
        "els => els.map(e => { const s = getComputedStyle(e);"
        " return [s.borderTopWidth, s.borderRadius, s.cursor, s.backgroundColor]; })"
    )
    assert len(looks) == 3
    for border, radius, cursor, fill in looks:
        assert (border, radius, cursor) == ("0px", "0px", "default")
        assert fill in ("rgba(0, 0, 0, 0)", "transparent")
    assert "centre:phone" in str(page.locator("body").get_attribute("data-speak"))
    assert not audit(page)
