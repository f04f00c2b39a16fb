"""The central Linli server: `create_app` builds a Flask app; nothing is created at import."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response

from server.config import Settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from `LINLI_*` settings, overridden by `config` (used by tests)."""
    settings = Settings.from_env()
    app = Flask(__name__, instance_path=str(Path(settings.INSTANCE_DIR).resolve()))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    app.config.update(settings.as_flask())
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    _configure_secret_key(app)
    _configure_database(app)
    logging.getLogger("server").setLevel(app.config["LINLI_LOG_LEVEL"].upper())

    from server.extensions import db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    _register_sqlite_pragmas(app)

    from server import models  # noqa: F401  (the whole schema, for Alembic)
    from server.errors import register_error_handlers
    from server.health.routes import bp as health_bp
    from server.staffapi.routes import bp as staff_bp
    from server.syncapi.routes import bp as sync_bp

    app.register_blueprint(sync_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(health_bp)
    register_error_handlers(app)

    @app.after_request
    def _commit(response: Response) -> Response:
        """The one place a request's work is committed: only for successful answers."""
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        return response

    return app


def _configure_secret_key(app: Flask) -> None:
    if app.config.get("LINLI_SECRET_KEY"):
        app.config["SECRET_KEY"] = app.config["LINLI_SECRET_KEY"]
        return
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def _configure_database(app: Flask) -> None:
    url = app.config.get("LINLI_DATABASE_URL") or (
        "sqlite:///" + str(Path(app.instance_path) / "linli.sqlite3")
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("sqlite"):
        app.config.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS",
            {"connect_args": {"timeout": app.config["LINLI_SQLITE_BUSY_TIMEOUT"]}},
        )
    else:
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})


def _register_sqlite_pragmas(app: Flask) -> None:
    """WAL and synchronous=FULL on every SQLite connection: an answer follows a durable commit."""
    import sqlalchemy as sa

    from server.extensions import db

    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "sqlite":
            return

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
