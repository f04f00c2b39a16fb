"""The central Linli server: `create_app` builds a Flask app; nothing is created at import."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from flask import Flask, Response

from server.config import Settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from `LINLI_*` settings, overridden by `config` (used by tests)."""
    from sync import scrub

    scrub.install()  # every log line of this process (gunicorn's access log too) is scrubbed
    settings = Settings.from_env()
    app = Flask(__name__, instance_path=str(Path(settings.INSTANCE_DIR).resolve()))
    from server.inputs import StrictIntConverter

    app.url_map.converters["int"] = StrictIntConverter
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    from sync import statuses

    app.jinja_env.globals["request_statuses"] = statuses  # the status groups, in every page
    from server.audit.words import audit_words
    from server.auth.words import role_words
    from server.people.words import mobility_words
    from server.requests import words
    from server.synclog.rejections import reason_words
    from server.volunteers.words import hours_words

    # codes in the reader's words, in every page
    app.jinja_env.globals.update(
        status_words=words.status_words,
        priority_words=words.priority_words,
        event_words=words.event_words,
        delivery_words=words.delivery_words,
        mobility_words=mobility_words,
        role_words=role_words,
        audit_words=audit_words,
        hours_words=hours_words,
        reason_words=reason_words,
    )
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    app.config.update(settings.as_flask())
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    _configure_secret_key(app)
    _configure_database(app)
    logging.getLogger("server").setLevel(app.config["LINLI_LOG_LEVEL"].upper())
    hops = int(app.config["LINLI_PROXY_HOPS"])
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind nginx: trust exactly `hops` proxies for the client address and scheme.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )

    from server.extensions import db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    _register_sqlite_pragmas(app)

    from server import (
        i18n,
        localtime,
        models,  # noqa: F401  (the whole schema, for Alembic)
    )
    from server.admin.routes import bp as admin_bp
    from server.auth.routes import bp as auth_bp
    from server.carewatch.routes import bp as carewatch_bp
    from server.console.home import bp as home_bp
    from server.console.routes import bp as console_bp
    from server.dispatch import services as _dispatch  # noqa: F401  (registers its outbox kind)
    from server.errors import register_error_handlers
    from server.field.routes import bp as field_bp
    from server.field.routes import console_bp as field_console_bp
    from server.health.routes import bp as health_bp
    from server.minsheng.routes import bp as minsheng_bp
    from server.notify import services as _notify  # noqa: F401  (registers its outbox kinds)
    from server.notify.routes import bp as notify_bp
    from server.open311.routes import bp as open311_bp
    from server.outbox import delivery as outbox_delivery
    from server.outbox import services as outbox
    from server.passbook.routes import bp as passbook_bp
    from server.people.routes import bp as people_bp
    from server.replies.routes import bp as replies_bp
    from server.replies.routes import console_bp as replies_console_bp
    from server.reports.routes import bp as reports_bp
    from server.staffapi.routes import bp as staff_bp
    from server.subchoices.routes import bp as subchoices_bp
    from server.syncapi.routes import bp as sync_bp
    from server.volunteers.routes import bp as volunteers_bp

    app.register_blueprint(sync_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(people_bp)
    app.register_blueprint(carewatch_bp)
    app.register_blueprint(open311_bp)
    app.register_blueprint(volunteers_bp)
    app.register_blueprint(passbook_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(field_bp)
    app.register_blueprint(field_console_bp)
    app.register_blueprint(subchoices_bp)
    app.register_blueprint(notify_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(replies_bp)
    app.register_blueprint(minsheng_bp)
    app.register_blueprint(replies_console_bp)
    register_error_handlers(app)
    localtime.init_app(app)
    i18n.init_app(app)
    outbox.init_app(app)
    _install_hooks(app)
    _configure_console_security(app)
    _configure_input_checks(app)

    from server.audit.services import restore_kept

    @app.after_request
    def _commit(response: Response) -> Response:
        """The one place a request's work is committed: only for successful answers, and
        for failures only the audit rows of a page shown again (see `keep_on_failure`).
        Outbound messages the work recorded are sent after the commit, holding no lock."""
        if response.status_code < 400:
            db.session.commit()
            outbox_delivery.send_committed()
        else:
            db.session.rollback()
            if restore_kept():
                db.session.commit()
        return response

    return app


def _install_hooks(app: Flask) -> None:
    """Where a lower feature calls a higher one (see `server.hooks`)."""
    from server.auth.access import VOLUNTEER_SESSION
    from server.carewatch.services import CareRecords, note_room
    from server.communities.services import COMMUNITY_CHOICES, SEED_CHOICES
    from server.dispatch.services import DELIVERY_NOTES
    from server.field import queries as field_queries
    from server.field.routes import phone_session
    from server.passbook.services import post_hours
    from server.people.services import CARE_RECORDS, RESIDENT_RECORDS
    from server.replies.services import erase_replies
    from server.requests.erasure import REPLY_ERASURE, RequestRecords
    from server.requests.services import ROOM_SEEN, ROSTER, Roster, note_delivery
    from server.subchoices.queries import wire_choices
    from server.subchoices.services import seed_new_community
    from server.volunteers import queries as volunteer_queries
    from server.volunteers.services import POST_HOURS

    DELIVERY_NOTES.install(app, note_delivery)
    RESIDENT_RECORDS.install(app, RequestRecords())
    REPLY_ERASURE.install(app, erase_replies)
    ROSTER.install(
        app,
        Roster(
            volunteer_queries.skilled_members,
            field_queries.category_words,
            field_queries.captain_members,
        ),
    )
    POST_HOURS.install(app, post_hours)
    VOLUNTEER_SESSION.install(app, phone_session)
    COMMUNITY_CHOICES.install(app, wire_choices)
    SEED_CHOICES.install(app, seed_new_community)
    ROOM_SEEN.install(app, note_room)
    CARE_RECORDS.install(app, CareRecords())


def _configure_console_security(app: Flask) -> None:
    """Sessions, CSRF, sign-in rate limits, the access policy and security headers."""
    from datetime import timedelta

    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address
    from flask_login import LoginManager

    from server.auth import access
    from server.auth.headers import security_headers
    from server.auth.services import HASH_COSTS, HASH_SLOTS, load_session_user

    cost = app.config["LINLI_PASSWORD_HASH_COST"]
    if cost not in HASH_COSTS:
        raise ValueError(f"LINLI_PASSWORD_HASH_COST {cost!r} is not one of {', '.join(HASH_COSTS)}")
    app.config.update(
        SESSION_COOKIE_NAME="linli_session",
        SESSION_COOKIE_SECURE=bool(app.config["LINLI_COOKIE_SECURE"]),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["LINLI_SESSION_MAX_HOURS"]),
        WTF_CSRF_CHECK_DEFAULT=False,  # access.enforce() checks CSRF per the policy
        WTF_CSRF_TIME_LIMIT=None,  # the session's own limits bound the token's life
        RATELIMIT_STORAGE_URI=app.config["LINLI_RATELIMIT_STORAGE_URI"],
        # No budget headers on every answer (they guide an attacker); a refusal says Retry-After.
        RATELIMIT_HEADERS_ENABLED=False,
    )
    login_manager = LoginManager()
    login_manager.session_protection = None  # sessions are renewed at sign-in and time out
    login_manager.user_loader(load_session_user)
    login_manager.init_app(app)
    access.csrf.init_app(app)
    app.before_request(access.enforce)
    app.after_request(security_headers)

    # One limiter per app (tests build many apps); counters are per worker with memory://.
    limiter = Limiter(get_remote_address, default_limits=[])
    limiter.init_app(app)

    def _user_key() -> str:
        from flask import request

        return f"{get_remote_address()}|{request.form.get('username', '').strip().lower()}"

    def _rate(name: str) -> Callable[[], str]:
        return lambda: str(app.config[name])

    # Per address and name, and per address whatever the name: spraying names is limited too.
    login_view = app.view_functions["auth.login"]
    limited = limiter.limit(_rate("LINLI_LOGIN_RATE_LIMIT"), methods=["POST"], key_func=_user_key)(
        login_view
    )
    limited = limiter.limit(
        _rate("LINLI_LOGIN_ADDRESS_RATE_LIMIT"), methods=["POST"], key_func=get_remote_address
    )(limited)
    app.view_functions["auth.login"] = cast(Callable[..., Any], limited)
    # The agency's reply page has no account: guessing links is limited per address.
    for endpoint in ("replies.answer_page", "replies.answer"):
        view = limiter.limit(_rate("LINLI_REPLY_RATE_LIMIT"), key_func=get_remote_address)(
            app.view_functions[endpoint]
        )
        app.view_functions[endpoint] = cast(Callable[..., Any], view)
    app.extensions[HASH_SLOTS] = threading.BoundedSemaphore(
        int(app.config["LINLI_LOGIN_HASH_SLOTS"])
    )


def _configure_input_checks(app: Flask) -> None:
    """NUL characters refused in every request; bounded columns checked before every flush."""
    import sqlalchemy as sa
    from flask_sqlalchemy.session import Session

    from server.inputs import check_columns, refuse_nul

    app.before_request(refuse_nul)
    if not sa.event.contains(Session, "before_flush", check_columns):
        sa.event.listen(Session, "before_flush", check_columns)


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
    # hide_parameters: an SQL error (logged, or shown in a traceback) never carries the values
    # bound to it, which are residents' phone numbers and words.
    if url.startswith("sqlite"):
        app.config.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS",
            {
                "connect_args": {"timeout": app.config["LINLI_SQLITE_BUSY_TIMEOUT"]},
                "hide_parameters": True,
            },
        )
    else:
        app.config.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True, "hide_parameters": True}
        )


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
