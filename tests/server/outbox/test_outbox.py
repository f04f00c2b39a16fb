"""The outbox against a real agency endpoint on loopback: an escalation is sent only after its
transaction commits, never after a rollback, retried with backoff while the agency is down, and
a slow agency holds no lock on the request."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.procs import free_port
from tests.server.conftest import World, login, post


@dataclass
class Agency:
    """An agency's endpoint: what it received; `gate` (when set) holds each answer back."""

    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)
    committed_when_received: list[int] = field(default_factory=list)
    gate: threading.Event | None = None
    answering: threading.Event = field(default_factory=threading.Event)
    database_url: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/escalations"


def _escalations_committed(database_url: str) -> int:
    """Escalation rows another connection sees: only committed ones."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM escalation")).scalar_one())
    finally:
        engine.dispose()


def _handler(agency: Agency) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            agency.received.append(body)
            agency.keys.append(self.headers.get("Idempotency-Key"))
            if agency.database_url:
                agency.committed_when_received.append(_escalations_committed(agency.database_url))
            agency.answering.set()
            if agency.gate is not None:
                agency.gate.wait(30)
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    return Handler


@pytest.fixture
def run_agency() -> Iterator[Any]:
    """Start an agency endpoint on a port (a fresh one by default); stopped at the end."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(agency: Agency) -> Agency:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", agency.port), _handler(agency))
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return agency

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _point_agency_at(app: Flask, world: World, url: str) -> None:
    from server.dispatch.models import Agency as AgencyRow
    from server.extensions import db

    with app.app_context():
        db.session.get_one(AgencyRow, world.agencies["lanqiao"]).endpoint_url = url
        db.session.commit()


def _escalation(app: Flask, rid: int) -> dict[str, Any]:
    from server.dispatch.models import Escalation
    from server.extensions import db
    from server.outbox.models import OutboxMessage

    with app.app_context():
        escalation = db.session.execute(
            sa.select(Escalation).where(Escalation.request_id == rid)
        ).scalar_one()
        message = db.session.execute(
            sa.select(OutboxMessage).where(OutboxMessage.ref_id == escalation.id)
        ).scalar_one()
        return {
            "id": escalation.id,
            "status": escalation.delivery_status,
            "attempts": (escalation.attempts, message.attempts),
            "next": message.next_attempt_at,
            "delivered": message.delivered_at is not None,
            "error": message.last_error,
        }


def _escalate(client: FlaskClient, world: World) -> Any:
    rid = world.requests["lanqiao"]
    form = {"agency": str(world.agencies["lanqiao"]), "note": "整栋楼停电"}
    return post(client, f"/console/requests/{rid}/escalate", form)


def test_an_escalation_is_delivered_after_its_commit(
    app: Flask, client: FlaskClient, world: World, database_url: str, run_agency: Any
) -> None:
    agency = run_agency(Agency(free_port(), database_url=database_url))
    _point_agency_at(app, world, agency.url)
    login(client, "social_worker_lanqiao")
    assert _escalate(client, world).status_code == 303
    state = _escalation(app, world.requests["lanqiao"])
    assert (state["status"], state["attempts"], state["delivered"]) == ("delivered", (1, 1), True)
    assert agency.committed_when_received == [1], "the agency was called after the commit"
    assert agency.keys == [f"linli-escalation-{state['id']}"]
    assert agency.received[0]["note"] == "整栋楼停电"
    assert agency.received[0]["idempotency_key"] == agency.keys[0]
    page = client.get(f"/console/requests/{world.requests['lanqiao']}").get_data(as_text=True)
    assert '<strong class="delivery" data-delivery="delivered">已送达</strong>' in page
    # Nothing is due any more: the timer does not send it twice.
    with app.app_context():
        from server.outbox.delivery import deliver_due

        assert deliver_due() == 0
    assert len(agency.received) == 1


def test_a_rolled_back_escalation_sends_nothing(app: Flask, world: World, run_agency: Any) -> None:
    from server.dispatch.models import Agency as AgencyRow
    from server.extensions import db
    from server.outbox import delivery
    from server.outbox.models import OutboxMessage
    from server.requests import services as lc
    from server.requests.models import HelpRequest

    agency = run_agency(Agency(free_port()))
    _point_agency_at(app, world, agency.url)
    with app.app_context():
        req = db.session.get_one(HelpRequest, world.requests["lanqiao"])
        agency_row = db.session.get_one(AgencyRow, world.agencies["lanqiao"])
        lc.escalate(req, lc.Actor("sw"), agency_row, None)
        assert db.session.execute(sa.select(sa.func.count(OutboxMessage.id))).scalar_one() == 1
        db.session.rollback()
        assert delivery.send_committed() == 0
        assert delivery.deliver_due() == 0
        assert db.session.execute(sa.select(sa.func.count(OutboxMessage.id))).scalar_one() == 0
    assert agency.received == []


def _deliver_by_timer(app: Flask, monkeypatch: pytest.MonkeyPatch) -> str:
    """`linli server escalations deliver` (what the timer runs), in process on the test's app."""
    from server import cli

    monkeypatch.setattr(cli, "_app", lambda: app)
    result = CliRunner().invoke(cli.server_group, ["escalations", "deliver"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]  # after the overdue line


def _make_due(app: Flask, escalation_id: int) -> None:
    from server.extensions import db
    from server.outbox.models import OutboxMessage
    from server.timeutil import utcnow

    with app.app_context():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.ref_id == escalation_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def test_an_agency_that_was_down_gets_the_escalation_later(
    app: Flask,
    client: FlaskClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    run_agency: Any,
) -> None:
    from server.timeutil import utcnow

    port = free_port()  # nobody listens yet: the agency is down
    _point_agency_at(app, world, f"http://127.0.0.1:{port}/escalations")
    login(client, "social_worker_lanqiao")
    before = utcnow()
    assert _escalate(client, world).status_code == 303
    rid = world.requests["lanqiao"]
    first = _escalation(app, rid)
    assert (first["status"], first["attempts"], first["delivered"]) == ("pending", (1, 1), False)
    assert "ConnectionError" in first["error"]
    assert before + timedelta(minutes=5) <= first["next"] <= utcnow() + timedelta(minutes=5)
    page = client.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert '<strong class="delivery" data-delivery="pending">待发送</strong>' in page
    # Said in plain words with the next retry time, on the page and the timeline alike.
    assert "ConnectionError" not in page
    assert "连不上对方的接收地址" in page
    assert "下次重试" in page
    assert "将于" in page
    assert _deliver_by_timer(app, monkeypatch) == "0 deliveries attempted"

    _make_due(app, first["id"])
    before = utcnow()
    assert _deliver_by_timer(app, monkeypatch) == "1 deliveries attempted"
    second = _escalation(app, rid)
    assert (second["status"], second["attempts"]) == ("pending", (2, 2))
    assert second["next"] >= before + timedelta(minutes=10), "the wait doubles"

    agency = run_agency(Agency(port))
    _make_due(app, first["id"])
    assert _deliver_by_timer(app, monkeypatch) == "1 deliveries attempted"
    third = _escalation(app, rid)
    assert (third["status"], third["attempts"], third["delivered"]) == ("delivered", (3, 3), True)
    assert agency.keys == [f"linli-escalation-{first['id']}"]
    notes = client.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "已送达 " in notes


def test_a_slow_agency_does_not_hold_the_request(app: Flask, world: World, run_agency: Any) -> None:
    gate = threading.Event()
    agency = run_agency(Agency(free_port(), gate=gate))
    _point_agency_at(app, world, agency.url)
    rid = world.requests["lanqiao"]
    escalating, other = app.test_client(), app.test_client()
    login(escalating, "social_worker_lanqiao")
    login(other, "social_worker_lanqiao")
    answers: list[int] = []
    thread = threading.Thread(
        target=lambda: answers.append(_escalate(escalating, world).status_code)
    )
    thread.start()
    try:
        assert agency.answering.wait(20), "the escalation reached the agency"
        # The agency is still thinking; another change to the same request goes through.
        started = time.monotonic()
        noted = post(other, f"/console/requests/{rid}/note", {"text": "电话联系了供电所"})
        assert noted.status_code == 303, noted.get_data(as_text=True)
        assert time.monotonic() - started < 5
        assert not answers, "the escalation is still waiting for the agency"
    finally:
        gate.set()
        thread.join(30)
    assert answers == [303]
    state = _escalation(app, rid)
    assert (state["status"], state["delivered"]) == ("delivered", True)
    page = other.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "电话联系了供电所" in page
