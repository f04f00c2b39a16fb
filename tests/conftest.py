"""Shared fixtures: databases (SQLite and PostgreSQL), the app, and real processes."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings

from tests.procs import KioskProc, ServerProc, linli

# CI replays the same examples on every run, so a red CI is the change's fault, not the draw's;
# a developer's run explores new ones (`--hypothesis-seed=N` replays a failure found that way).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

POSTGRES_URL = os.environ.get(
    "LINLI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ROOMS = "building,unit,room\n3,2,301\n3,2,302\n3,1,101\n1,1,101\n1,1,102\n"


def _postgres_reason() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"no PostgreSQL server answers at {POSTGRES_URL}: {type(exc).__name__}"
    return None


def _pg_admin(statement: str, **params: str) -> None:
    engine = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()


def _pg_url(name: str) -> str:
    return sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests in a browser and tests in tests/system/, which `make test-fast` leaves out."""
    system = Path(__file__).resolve().parent / "system"
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if system in item.path.resolve().parents:
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite server database migrated once per session; tests copy it."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.sqlite3"
    linli(
        "server",
        "db",
        "upgrade",
        env={"LINLI_DATABASE_URL": f"sqlite:///{path}", "LINLI_INSTANCE_DIR": str(folder)},
    )
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per session, used as a CREATE DATABASE template."""
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    name = f"linli_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        linli(
            "server",
            "db",
            "upgrade",
            env={"LINLI_DATABASE_URL": _pg_url(name), "LINLI_INSTANCE_DIR": "/tmp"},
        )
        yield name
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test on each server database backend."""
    return str(request.param)


class PgDatabase:
    """This session's PostgreSQL test database and the rows and sequences it had when migrated.

    Tests commit, run real server processes and even replace the database (restores), so a
    rolled-back transaction cannot isolate them: `reset` empties every table instead and puts
    back what the migrations wrote (categories, the sync state) and every sequence's position,
    which leaves the database as a fresh copy of the template would be. As a superuser it
    deletes the rows with triggers and foreign keys off (session_replication_role = replica:
    the audit trail refuses deletes), some 30 times faster here than TRUNCATE ... RESTART
    IDENTITY CASCADE, which it uses otherwise.
    """

    def __init__(self, name: str, template: str) -> None:
        self.name = name
        self.template = template
        self.url = _pg_url(name)
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            metadata = sa.MetaData()
            metadata.reflect(engine)
            self.tables = [t for t in metadata.sorted_tables if t.name != "alembic_version"]
            with engine.connect() as conn:
                self.rows = {
                    table.name: [dict(row._mapping) for row in conn.execute(sa.select(table))]
                    for table in self.tables
                }
                self.superuser = bool(
                    conn.execute(
                        sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                    ).scalar()
                )
                self.fingerprint = _schema_fingerprint(conn)
                self.sequences = conn.execute(
                    sa.text(
                        "SELECT sequencename, coalesce(last_value, start_value), "
                        "last_value IS NOT NULL FROM pg_sequences WHERE schemaname = 'public'"
                    )
                ).all()
        finally:
            engine.dispose()

    def reset(self) -> None:
        """Empty every table and put back the migrations' rows and sequence positions."""
        # Connections a test left behind (an undisposed engine, a killed server's backend) could
        # hold locks the reset waits for; a dropped database (a failed restore) is made again.
        _pg_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()",
            name=self.name,
        )
        if not _pg_exists(self.name):
            _pg_admin(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"')
            return
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                changed = _schema_fingerprint(conn) != self.fingerprint
            if changed:
                # A test changed the schema or its migration record (a downgrade, a dropped
                # alembic_version, a restore of an older dump): emptying tables cannot undo
                # that, a fresh copy of the template can.
                engine.dispose()
                _pg_admin(f'DROP DATABASE "{self.name}" WITH (FORCE)')
                _pg_admin(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"')
                return
            with engine.begin() as conn:
                if self.superuser:
                    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                    for table in self.tables:
                        conn.execute(table.delete())
                else:
                    names = ", ".join(f'"{table.name}"' for table in self.tables)
                    conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                for table in self.tables:
                    if self.rows[table.name]:
                        conn.execute(table.insert(), self.rows[table.name])
                for sequence, value, called in self.sequences:
                    conn.execute(
                        sa.text("SELECT setval(:s, :v, :c)"),
                        {"s": f'"{sequence}"', "v": value, "c": called},
                    )
        finally:
            engine.dispose()


def _schema_fingerprint(conn: sa.Connection) -> str:
    """The public schema's columns and its migration record, as one digest."""
    found = conn.execute(
        sa.text(
            "SELECT md5(coalesce(string_agg(table_name || '.' || column_name || ':' || data_type"
            " || ':' || is_nullable, ',' ORDER BY table_name, column_name), '')) "
            "FROM information_schema.columns WHERE table_schema = 'public'"
        )
    ).scalar_one()
    has_version = conn.execute(sa.text("SELECT to_regclass('public.alembic_version')")).scalar()
    version = (
        conn.execute(sa.text("SELECT string_agg(version_num, ',') FROM alembic_version")).scalar()
        if has_version
        else None
    )
    return f"{found}/{version}"


def _pg_exists(name: str) -> bool:
    engine = sa.create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
    finally:
        engine.dispose()
    return found is not None


@pytest.fixture(scope="session")
def pg_database(pg_template: str) -> Iterator[PgDatabase]:
    """One migrated PostgreSQL database for the whole session, reset before each test."""
    name = f"linli_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield PgDatabase(name, pg_template)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated server database holding nothing but what the migrations wrote."""
    if backend == "sqlite":
        path = tmp_path / "server.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    database: PgDatabase = request.getfixturevalue("pg_database")
    database.reset()
    return database.url


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The server app on this test's database."""
    from server import create_app
    from server.extensions import db

    os.environ.setdefault("LINLI_INSTANCE_DIR", str(tmp_path / "instance"))
    application = create_app(
        {
            "LINLI_DATABASE_URL": database_url,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            # Cheap argon2; production's cost: tests/server/auth/test_password_hash.py.
            "LINLI_PASSWORD_HASH_COST": "test",
        }
    )
    application.instance_path = str(tmp_path / "instance")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the server app."""
    return app.test_client()


@pytest.fixture
def community(app: Flask) -> dict[str, Any]:
    """Community `lanqiao` with a few rooms, created through the services."""
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.extensions import db

    with app.app_context():
        c = create_community("lanqiao", "蓝桥社区", "024-1234567")
        import_rooms(c, parse_rooms_csv(ROOMS, "rooms.csv"))
        db.session.commit()
        return {"id": c.id, "slug": c.slug}


@pytest.fixture
def enrolled(app: Flask, client: FlaskClient, community: dict[str, Any]) -> dict[str, Any]:
    """A kiosk enrolled through the API: its token and id."""
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", "hall", 24)
        db.session.commit()
    answer = client.post(
        "/api/sync/v1/enroll", json={"code": code}, headers={"Linli-Protocol": "1"}
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    return {"token": body["token"], "device_id": body["device_id"], "community": community}


@pytest.fixture
def api_token(app: Flask, community: dict[str, Any]) -> str:
    """A staff API token for every community."""
    from server.extensions import db
    from server.staffapi.services import create_api_token

    with app.app_context():
        _, secret = create_api_token("tests", [])
        db.session.commit()
    return secret


@pytest.fixture
def server_proc(database_url: str, tmp_path: Path) -> Iterator[ServerProc]:
    """A real server process with community `lanqiao` and its rooms."""
    server = ServerProc(tmp_path, database_url)
    rooms = tmp_path / "rooms.csv"
    rooms.write_text(ROOMS)
    server.cli("community", "create", "--slug", "lanqiao", "--name", "蓝桥社区")
    server.cli("rooms", "import", "--community", "lanqiao", str(rooms))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_kiosk(tmp_path: Path) -> Iterator[Callable[..., KioskProc]]:
    """Make kiosk processes (not started); all are stopped at the end."""
    made: list[KioskProc] = []

    def factory(name: str = "kiosk", **env: str) -> KioskProc:
        kiosk = KioskProc(tmp_path / name, env)
        made.append(kiosk)
        return kiosk

    yield factory
    for kiosk in made:
        kiosk.stop()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Debian Chromium for the whole session, shared by every browser test.

    Playwright's sync API allows one instance per process, so there is exactly one fixture.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--force-device-scale-factor=1", "--mute-audio"],
        )
        try:
            yield chromium
        finally:
            chromium.close()
