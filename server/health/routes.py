"""GET /healthz: the database answers and its migrations are current. GET /metrics: Prometheus."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, jsonify

from server.health.metrics import render
from server.health.queries import database_state

bp = Blueprint("health", __name__)


HEADS_KEY = "linli_migration_heads"


def migration_heads() -> frozenset[str]:
    """The head revisions of the migrations shipped with this code, read once per app."""
    heads = current_app.extensions.get(HEADS_KEY)
    if heads is None:
        directory = current_app.extensions["migrate"].directory
        heads = frozenset(ScriptDirectory(str(Path(directory))).get_heads())
        current_app.extensions[HEADS_KEY] = heads
    return frozenset(heads)


def _down(error: str, detail: str) -> Response:
    response = jsonify({"status": "down", "error": error, "detail": detail})
    response.status_code = 503
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """200 when the database answers and is at the migrations' head, else 503.

    One query per call (the database's revision); the code's heads are read once per process.
    """
    heads = migration_heads()
    state = database_state()
    if state.unreachable is not None:
        return _down("database_unreachable", state.unreachable)
    if state.revisions != heads:
        return _down(
            "migrations_pending",
            f"database at {sorted(state.revisions)}, code at {sorted(heads)}; "
            "run 'linli server db upgrade'",
        )
    return jsonify({"status": "ok", "database": state.dialect, "migrations": sorted(heads)})


METRICS_KEY = "linli_metrics"
METRICS_FRESH_SECONDS = 5.0
"""A rendering is reused this long: however often /metrics is called, each process runs its
aggregate queries at most once per interval (Prometheus scrapes every 15 s or so)."""


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics (restrict to the monitoring network in nginx)."""
    cache = current_app.extensions.setdefault(
        METRICS_KEY, {"lock": threading.Lock(), "at": -math.inf, "text": ""}
    )
    with cache["lock"]:
        if time.monotonic() - cache["at"] >= METRICS_FRESH_SECONDS:
            cache["text"] = render()
            cache["at"] = time.monotonic()
        text = cache["text"]
    return Response(text, mimetype="text/plain; version=0.0.4")
