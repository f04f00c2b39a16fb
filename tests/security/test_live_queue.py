"""The live queue cannot exhaust a worker: streams are capped per session and per process,
a waiting stream holds no database connection, one listener per process fans changes out,
and a closed stream frees its slot."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def viewers(app: Flask, community: dict[str, Any]) -> list[str]:
    """Three viewers of lanqiao."""
    from server.auth.services import create_user
    from server.extensions import db

    names = ["v1", "v2", "v3"]
    with app.app_context():
        for name in names:
            create_user(name, PASSWORD, "viewer", ["lanqiao"])
        db.session.commit()
    return names


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303
    return client


def _open(client: FlaskClient) -> Any:
    return client.get(
        "/console/queue/stream", buffered=False, headers={"Accept": "application/json"}
    )


def test_streams_are_capped_per_session_and_per_process(app: Flask, viewers: list[str]) -> None:
    from server.console.live import hub

    app.config["LINLI_LIVE_MAX_STREAMS_PER_PROCESS"] = 4
    a, b, c = (_signed_in(app, name) for name in viewers)
    opened = [_open(a), _open(a)]
    third = _open(a)
    print("one session's third stream:", third.status_code, third.get_json())
    assert [s.status_code for s in opened] == [200, 200]
    assert third.status_code == 429
    assert third.headers["Retry-After"] == "60"
    assert third.get_json()["error"] == "live_streams_full"
    assert "2 live pages open already" in third.get_json()["detail"]

    opened += [_open(b), _open(b)]
    assert [s.status_code for s in opened] == [200] * 4
    full = _open(c)
    assert full.status_code == 429
    assert "as many live pages open as it serves" in full.get_json()["detail"]
    assert hub(app).open_count() == 4

    # A closed stream (a tab closed, a browser gone) frees its slot at once.
    opened.pop(0).close()
    assert hub(app).open_count() == 3
    again = _open(c)
    assert again.status_code == 200
    opened.append(again)
    for stream in opened:
        stream.close()
    assert hub(app).open_count() == 0
    # The queue's rows, which the refused page polls, still answer.
    assert c.get("/console/queue/rows").status_code == 200


def _listeners(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_waiting_streams_share_one_listener_and_hold_no_pooled_connection(
    app: Flask, viewers: list[str], community: dict[str, Any], backend: str, database_url: str
) -> None:
    from server.extensions import db
    from tests.server.conftest import make_request

    app.config["LINLI_LIVE_STREAM_SECONDS"] = 8
    app.config["LINLI_LIVE_HEARTBEAT_SECONDS"] = 1
    clients = [_signed_in(app, name) for name in viewers]
    streams = [_open(client) for client in clients for _ in range(2)]
    assert [s.status_code for s in streams] == [200] * 6
    received: list[bytes] = [b""] * len(streams)
    first_beat = [threading.Event() for _ in streams]

    def read(i: int) -> None:
        for chunk in streams[i].response:
            received[i] += chunk
            if b"keep-alive" in chunk:
                first_beat[i].set()

    readers = [threading.Thread(target=read, args=(i,)) for i in range(len(streams))]
    for reader in readers:
        reader.start()
    try:
        for beat in first_beat:
            assert beat.wait(timeout=30)
        with app.app_context():
            checked_out = db.engine.pool.checkedout()
        listeners = _listeners(database_url) if backend == "postgresql" else None
        print(f"6 waiting streams: {checked_out} pooled connections out, LISTEN: {listeners}")
        assert checked_out == 0
        if backend == "postgresql":
            assert listeners == 1
        with app.app_context():
            make_request(community["id"], "3-1-101", details="NEW", phone=None)
            db.session.commit()
    finally:
        for reader in readers:
            reader.join(timeout=30)
        for stream in streams:
            stream.close()
    assert all(b"event: changed\n" in r for r in received), received


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_lost_listener_connection_is_replaced(
    app: Flask, viewers: list[str], community: dict[str, Any], database_url: str
) -> None:
    from server.extensions import db
    from tests.server.conftest import make_request

    app.config["LINLI_LIVE_STREAM_SECONDS"] = 10
    app.config["LINLI_LIVE_HEARTBEAT_SECONDS"] = 1
    stream = _open(_signed_in(app, viewers[0]))
    assert stream.status_code == 200
    chunks = iter(stream.response)
    try:
        assert next(chunks) == b"retry: 1000\n\n"
        # A heartbeat: the listener is up (its first act is one `changed` to every stream).
        assert b": keep-alive\n\n" in (next(chunks), next(chunks))
        engine = sa.create_engine(database_url)
        try:
            with engine.connect() as conn:
                ended = conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
                    )
                ).scalar_one()
        finally:
            engine.dispose()
        assert ended == 1
        with app.app_context():
            make_request(community["id"], "3-1-101", details="NEW", phone=None)
            db.session.commit()
        rest = b"".join(chunks)
    finally:
        stream.close()
    assert b"event: changed\n" in rest
    # The last stream closed: so does the listener (it looks once a second).
    for _ in range(50):
        if _listeners(database_url) == 0:
            break
        time.sleep(0.2)
    assert _listeners(database_url) == 0


def test_a_page_refused_a_stream_polls_instead(
    app: Flask,
    viewers: list[str],
    community: dict[str, Any],
    database_url: str,
    tmp_path: Any,
    browser: Any,
) -> None:
    from playwright.sync_api import expect

    from server.extensions import db
    from tests.procs import ServerProc
    from tests.server.conftest import make_request

    # No stream slots at all: every page is refused one and must poll.
    server = ServerProc(tmp_path, database_url, {"LINLI_LIVE_MAX_STREAMS_PER_PROCESS": "0"})
    server.start()
    context = browser.new_context()
    try:
        page = context.new_page()
        streams: list[int] = []
        polls: list[int] = []

        def seen(response: Any) -> None:
            if "/console/queue/stream" in response.url:
                streams.append(response.status)
            elif "/console/queue/rows" in response.url:
                polls.append(response.status)

        page.on("response", seen)
        page.goto(server.url + "/login")
        page.fill("input[name=username]", viewers[0])
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#queue-rows")).to_contain_text("没有记录。")
        with app.app_context():
            make_request(community["id"], "3-1-101", details="POLLED", phone=None)
            db.session.commit()
        expect(page.locator("#queue-rows tr[data-id]")).to_have_count(1, timeout=15_000)
    finally:
        context.close()
        server.stop()
    print(f"stream answers {streams}, rows polled {len(polls)} times")
    assert streams
    assert set(streams) == {429}
    assert polls
    assert set(polls) == {200}
