"""GET /healthz: the database answers and its migrations are current. GET /metrics: Prometheus."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, jsonify

from server.extensions import db

bp = Blueprint("health", __name__)


def migration_heads() -> set[str]:
    """The head revisions of the migrations shipped with this code."""
    directory = current_app.extensions["migrate"].directory
    return set(ScriptDirectory(str(Path(directory))).get_heads())


@bp.get("/healthz")
def healthz() -> Response:
    """200 when the database answers and is at the migrations' head, else 503."""
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
    except sa.exc.SQLAlchemyError as exc:
        response = jsonify(
            {
                "status": "down",
                "error": "database_unreachable",
                "detail": str(exc.__class__.__name__),
            }
        )
        response.status_code = 503
        return response
    heads = migration_heads()
    if current != heads:
        response = jsonify(
            {
                "status": "down",
                "error": "migrations_pending",
                "detail": f"database at {sorted(current)}, code at {sorted(heads)}; "
                "run 'linli server db upgrade'",
            }
        )
        response.status_code = 503
        return response
    return jsonify(
        {"status": "ok", "database": db.engine.dialect.name, "migrations": sorted(heads)}
    )


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics (restrict to the monitoring network in nginx)."""
    from server.health.metrics import render

    return Response(render(), mimetype="text/plain; version=0.0.4")
