"""The live queue's event stream: SQLite is polled; PostgreSQL wakes on LISTEN/NOTIFY.

One connection per open stream, outside the request's session, so a stream never holds a
transaction open. A stream ends after LINLI_LIVE_STREAM_SECONDS; the browser reconnects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import sqlalchemy as sa
from flask import Response, current_app

from server.extensions import db
from server.requests.queries import live_marker

CHANNEL = "linli_requests"
HEARTBEAT_SECONDS = 15


def stream(scope: frozenset[int]) -> Response:
    """A text/event-stream answer sending `changed` whenever the scope's requests change."""
    engine = db.engine
    poll = current_app.config["LINLI_LIVE_POLL_SECONDS"]
    lasts = current_app.config["LINLI_LIVE_STREAM_SECONDS"]
    events = _notified if engine.dialect.name == "postgresql" else _polled

    def generate() -> Iterator[str]:
        yield "retry: 1000\n\n"
        yield from events(engine, scope, poll, lasts)

    response = Response(generate(), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events on at once
    return response


def _marker(engine: sa.Engine, scope: frozenset[int]) -> str:
    with engine.connect() as conn:
        return live_marker(conn, scope)


def _polled(engine: sa.Engine, scope: frozenset[int], poll: int, lasts: int) -> Iterator[str]:
    marker = _marker(engine, scope)
    deadline = time.monotonic() + lasts
    beat = time.monotonic() + HEARTBEAT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(poll)
        latest = _marker(engine, scope)
        if latest != marker:
            marker = latest
            yield f"event: changed\ndata: {marker}\n\n"
        elif time.monotonic() > beat:
            beat = time.monotonic() + HEARTBEAT_SECONDS
            yield ": keep-alive\n\n"


def _notified(engine: sa.Engine, scope: frozenset[int], poll: int, lasts: int) -> Iterator[str]:
    import psycopg

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    wanted = {str(c) for c in scope}
    deadline = time.monotonic() + lasts
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        while (left := deadline - time.monotonic()) > 0:
            hit = False
            for note in conn.notifies(timeout=min(HEARTBEAT_SECONDS, left), stop_after=1):
                hit = note.payload in wanted
            if hit:
                # Let a burst of changes settle, then send one event for all of them.
                for _ in conn.notifies(timeout=0.05):
                    pass
                yield "event: changed\ndata: notify\n\n"
            else:
                yield ": keep-alive\n\n"
