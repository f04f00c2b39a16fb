"""`linli server ...` commands. Each runs in an app context and commits once at the end."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask

from server.errors import LinliError

F = TypeVar("F", bound=Callable[..., Any])


def _app() -> Flask:
    from server import create_app

    return create_app()


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def in_app(func: F) -> F:
    """Run the command in an app context; commit on success, one clear line on failure."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from server.extensions import db

        try:
            app = _app()
        except ValueError as exc:
            _fail(str(exc))
        with app.app_context():
            try:
                result = func(*args, **kwargs)
                db.session.commit()
                return result
            except LinliError as exc:
                db.session.rollback()
                _fail(exc.detail)
            except Exception as exc:
                db.session.rollback()
                from sqlalchemy.exc import OperationalError

                if isinstance(exc, OperationalError):
                    _fail(
                        f"database error: {exc.orig}; is the database upgraded "
                        "('linli server db upgrade')?"
                    )
                raise

    return wrapper  # type: ignore[return-value]


@click.group("server")
def server_group() -> None:
    """The central server: database, communities, kiosks, API tokens, and running it."""


@server_group.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
def run(host: str, port: int) -> None:
    """Serve the app with a threaded server (use gunicorn behind nginx in production)."""
    from werkzeug.serving import make_server

    app = _app()
    httpd = make_server(host, port, app, threaded=True)
    click.echo(f"Linli server listening on http://{host}:{httpd.server_port}/", err=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@server_group.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (run before starting a new version)."""
    import flask_migrate

    app = _app()
    with app.app_context():
        flask_migrate.upgrade()
    click.echo("database is at the latest migration", err=True)


@server_group.group("community")
def community_group() -> None:
    """Communities."""


@community_group.command("create")
@click.option("--slug", required=True, help="Short stable id, e.g. lanqiao.")
@click.option("--name", required=True, help="Display name, e.g. 蓝桥社区.")
@click.option("--phone", default=None, help="The centre's phone number shown on kiosks.")
@in_app
def community_create(slug: str, name: str, phone: str | None) -> None:
    """Create a community."""
    from server.communities.services import create_community

    community = create_community(slug, name, phone)
    click.echo(f"created community {community.slug} ({community.name})")


@server_group.group("rooms")
def rooms_group() -> None:
    """Rooms (building-unit-room) of a community."""


@rooms_group.command("import")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@in_app
def rooms_import(slug: str, file: Path) -> None:
    """Import rooms from a CSV file with columns building,unit,room (all or nothing)."""
    from server.communities.services import community_by_slug, import_rooms, parse_rooms_csv

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LinliError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    community = community_by_slug(slug)
    rows = parse_rooms_csv(text, str(file))
    result = import_rooms(community, rows)
    click.echo(
        f"{file}: {len(rows)} rows, {result.added} rooms added, {result.present} already present"
    )


@server_group.group("kiosk")
def kiosk_group() -> None:
    """Kiosks: enrolment codes and revocation."""


@kiosk_group.command("enroll")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--name", required=True, help="A unique kiosk name, e.g. lanqiao-hall.")
@in_app
def kiosk_enroll(slug: str, name: str) -> None:
    """Print a one-time enrolment code for a kiosk (new, or re-enrolling)."""
    from flask import current_app

    from server.kiosks.services import new_enrollment_code

    hours = current_app.config["LINLI_ENROLL_CODE_HOURS"]
    kiosk, code = new_enrollment_code(slug, name, hours)
    click.echo(f"kiosk {kiosk.name}: one-time code, valid for {hours} h:")
    click.echo(code)


@kiosk_group.command("revoke")
@click.argument("name")
@in_app
def kiosk_revoke(name: str) -> None:
    """Revoke a kiosk's token (its queue is kept; enrol it again to resume)."""
    from server.kiosks.services import revoke

    kiosk = revoke(name)
    click.echo(f"kiosk {kiosk.name} revoked")


@server_group.group("api-token")
def api_token_group() -> None:
    """API tokens for staff integrations."""


@api_token_group.command("create")
@click.option("--name", required=True, help="Who or what uses the token.")
@click.option(
    "--community",
    "communities",
    multiple=True,
    help="Limit to this community (repeatable); none means all communities.",
)
@in_app
def api_token_create(name: str, communities: tuple[str, ...]) -> None:
    """Print a new API token (shown once)."""
    from server.staffapi.services import create_api_token

    token, secret = create_api_token(name, list(communities))
    scope = ", ".join(c.slug for c in token.communities) or "all communities"
    click.echo(f"API token {token.name} for {scope}:")
    click.echo(secret)
