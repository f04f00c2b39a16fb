"""The live queue's event streams: one listener per process fans changes out to every stream.

On PostgreSQL the listener holds the process's one LISTEN connection (a trigger NOTIFYs the
community id of every changed request); on SQLite it runs one grouped query per poll. A
waiting stream holds a thread and an event, never a database connection. Streams are capped
per process and per signed-in session; past a cap the stream answers 429 and the page polls
`/console/queue/rows` instead. Heartbeats (SSE comments) keep proxies from closing an idle
stream and reveal a browser that went away, whose slot is then freed. A stream ends after
LINLI_LIVE_STREAM_SECONDS; the browser reconnects.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator

import sqlalchemy as sa
from flask import Flask, Response, current_app

from server.errors import error_response
from server.extensions import db
from server.requests.models import HelpRequest

log = logging.getLogger(__name__)

CHANNEL = "linli_requests"
PER_SESSION = 2
"""Open streams one signed-in session may hold in one process (two tabs)."""
RETRY_SECONDS = 60
"""What a refused stream is told to wait before trying again (the page polls meanwhile)."""
SETTLE_SECONDS = 0.05
"""A burst of changes settles this long and becomes one event."""
HUB_KEY = "linli_live_hub"
_hub_lock = threading.Lock()


class _Listener:
    """One open stream: the communities it shows, whose session it is, and its wake-up."""

    def __init__(self, scope: frozenset[int], session_id: str) -> None:
        self.scope = scope
        self.session_id = session_id
        self.changed = threading.Event()


class Hub:
    """One process's streams and the single thread that learns of changes for all of them.

    The thread runs while at least one stream is open and stops (closing its connection) when
    the last one closes; the next stream starts it again.
    """

    def __init__(self, engine: sa.Engine, poll_seconds: float, max_streams: int) -> None:
        self._engine = engine
        self._poll_seconds = poll_seconds
        self._max_streams = max_streams
        self._lock = threading.Lock()
        self._listeners: set[_Listener] = set()
        self._thread: threading.Thread | None = None

    def open(self, scope: frozenset[int], session_id: str) -> _Listener | str:
        """A new stream's listener, or why there is no room for it."""
        with self._lock:
            if len(self._listeners) >= self._max_streams:
                return "this server has as many live pages open as it serves"
            if sum(1 for s in self._listeners if s.session_id == session_id) >= PER_SESSION:
                return f"this sign-in has {PER_SESSION} live pages open already"
            listener = _Listener(scope, session_id)
            self._listeners.add(listener)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="linli-live", daemon=True)
                self._thread.start()
        return listener

    def close(self, listener: _Listener) -> None:
        """Free a stream's slot (safe to call twice)."""
        with self._lock:
            self._listeners.discard(listener)

    def open_count(self) -> int:
        """Streams open in this process now."""
        with self._lock:
            return len(self._listeners)

    def _wake(self, communities: set[int] | None) -> None:
        """Wake the streams showing any of `communities` (None: every stream)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            if communities is None or listener.scope & communities:
                listener.changed.set()

    def _wanted(self) -> frozenset[int] | None:
        """The communities open streams show; None (and the thread is done) when none is open."""
        with self._lock:
            if not self._listeners:
                self._thread = None
                return None
            return frozenset().union(*(s.scope for s in self._listeners))

    def _run(self) -> None:
        if self._engine.dialect.name == "postgresql":
            self._listen()
        else:
            self._poll()

    def _listen(self) -> None:
        """PostgreSQL: one LISTEN connection, reopened when lost, for as long as streams are."""
        import psycopg

        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        # Once `_wanted()` says None this thread is done (a new stream starts a new one).
        while True:
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake(None)  # whatever changed while nobody listened
                    while self._wanted() is not None:
                        for note in conn.notifies(timeout=1.0):
                            if note.payload.isdigit():
                                self._wake({int(note.payload)})
                    return
            except psycopg.Error as exc:
                log.warning("live queue: listener connection lost (%s); retrying", exc)
                time.sleep(1)
                if self._wanted() is None:
                    return

    def _poll(self) -> None:
        """SQLite: one grouped query per poll for the communities open streams show."""
        seen: dict[int, tuple[int, object]] = {}
        before: frozenset[int] = frozenset()
        while (wanted := self._wanted()) is not None:
            try:
                with self._engine.connect() as conn:
                    latest = _markers(conn, wanted)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("live queue: poll failed (%s)", exc)
                latest = seen
            changed = {c for c in wanted & before if latest.get(c) != seen.get(c)}
            if changed:
                self._wake(changed)
            seen, before = latest, wanted
            time.sleep(self._poll_seconds)


def _markers(conn: sa.Connection, scope: frozenset[int]) -> dict[int, tuple[int, object]]:
    """Per community: how many requests, and the latest change (differs after any change)."""
    rows = conn.execute(
        sa.select(
            HelpRequest.community_id,
            sa.func.count(HelpRequest.id),
            sa.func.max(HelpRequest.updated_at),
        )
        .where(HelpRequest.community_id.in_(scope))
        .group_by(HelpRequest.community_id)
    )
    return {community: (count, latest) for community, count, latest in rows}


def hub(app: Flask) -> Hub:
    """This process's hub for `app` (made on first use, after gunicorn forked)."""
    with _hub_lock:
        found = app.extensions.get(HUB_KEY)
        if found is None:
            found = app.extensions[HUB_KEY] = Hub(
                db.engine,
                float(app.config["LINLI_LIVE_POLL_SECONDS"]),
                int(app.config["LINLI_LIVE_MAX_STREAMS_PER_PROCESS"]),
            )
        return found


def stream(scope: frozenset[int], session_id: str) -> Response:
    """A text/event-stream answer sending `changed` whenever the scope's requests change, or
    429 with Retry-After when this process or this session has no stream to spare."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    live = hub(app)
    listener = live.open(scope, session_id)
    if isinstance(listener, str):
        refused = error_response(429, "live_streams_full", f"{listener}: this page polls instead")
        refused.headers["Retry-After"] = str(RETRY_SECONDS)
        return refused
    events = _events(
        listener,
        float(app.config["LINLI_LIVE_HEARTBEAT_SECONDS"]),
        float(app.config["LINLI_LIVE_STREAM_SECONDS"]),
    )
    response = Response(events, mimetype="text/event-stream")
    # Called when the server closes the answer: the stream ended, or the browser went away.
    response.call_on_close(functools.partial(live.close, listener))
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events on at once
    return response


def _events(listener: _Listener, heartbeat: float, lasts: float) -> Iterator[str]:
    yield "retry: 1000\n\n"
    deadline = time.monotonic() + lasts
    while (left := deadline - time.monotonic()) > 0:
        if listener.changed.wait(timeout=min(heartbeat, left)):
            time.sleep(SETTLE_SECONDS)
            listener.changed.clear()
            yield "event: changed\ndata: changed\n\n"
        else:
            yield ": keep-alive\n\n"
