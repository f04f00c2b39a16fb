"""Database backups with rotation, and restores (SQLite online backup or pg_dump).

A restore never writes into the live database: it builds the restored database next to it
(a new SQLite file, or a new PostgreSQL database), brings it up to the installed migration,
gives it a new sync epoch, and only then swaps it in, keeping the replaced one aside. It
records its source as the newest restore point in the backup folder (rotation then keeps that
backup and every one taken after it up to the restore) and copies the source aside first.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from server.errors import LinliError

PREFIX = "linli-"
STAMP = "%Y%m%dT%H%M%S%fZ"
RESTORE_POINT = "restore-point.json"
ASIDE = "restored"
PG_NAME_MAX = 63
SUFFIXES = (".sqlite3", ".pgdump")

Progress = Callable[[str], None]


class BackupFailed(LinliError):
    """A backup or restore could not be made."""

    status = 500
    code = "backup_failed"


@dataclass(frozen=True)
class Restored:
    """What a restore did: where its source was copied, what it replaced, which migrations."""

    backup: Path
    aside: Path
    replaced: str
    from_revision: str | None
    to_revision: str | None
    epoch: str

    def summary(self) -> str:
        """One line for the operator."""
        return (
            f"restored {self.backup.name} (migration {self.from_revision} -> "
            f"{self.to_revision}, new sync epoch {self.epoch[:8]}); the replaced database is "
            f"kept as {self.replaced}; the backup was copied to {self.aside}"
        )


def _sqlite_path(url: sa.engine.URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupFailed("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _pg_args(url: sa.engine.URL) -> tuple[list[str], dict[str, str]]:
    args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    if url.username:
        args += ["-U", url.username]
    env = {"PGPASSWORD": url.password} if url.password else {}
    return args, env


def _stamp(path: Path) -> str | None:
    """The creation stamp in a backup's name (`linli-STAMP.ext`), or None for another name."""
    name = path.name
    if not name.startswith(PREFIX) or "." not in name:
        return None
    return name[len(PREFIX) :].split(".", 1)[0]


def make_backup(database_url: str, folder: Path, now: datetime, keep: int) -> Path:
    """Write a consistent backup into `folder`; keep the newest `keep` and the restore point's."""
    url = sa.engine.make_url(database_url)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime(STAMP)
    if url.get_backend_name() == "sqlite":
        target = folder / f"{PREFIX}{stamp}.sqlite3"
        partial = target.with_name(target.name + ".partial")
        source = sqlite3.connect(_sqlite_path(url))
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest)
            verdict = dest.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dest.close()
            source.close()
        if verdict != "ok":
            partial.unlink(missing_ok=True)
            raise BackupFailed(f"the backup failed its integrity check: {verdict}")
        partial.replace(target)
    elif url.get_backend_name() == "postgresql":
        target = folder / f"{PREFIX}{stamp}.pgdump"
        partial = target.with_name(target.name + ".partial")
        result = _pg_tool("pg_dump", url, ["-Fc", "-f", str(partial), url.database or "postgres"])
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BackupFailed(f"pg_dump failed: {_first_error(result.stderr)}")
        partial.replace(target)
    else:
        raise BackupFailed(f"backups of {url.get_backend_name()} databases are not supported")
    rotate(folder, keep)
    return target


def list_backups(folder: Path) -> list[Path]:
    """Backups in `folder`, oldest first."""
    return sorted(
        p for p in folder.glob(f"{PREFIX}*") if p.suffix in SUFFIXES and p.name.count(".") == 1
    )


def restore_point(folder: Path) -> dict[str, str] | None:
    """The newest restore point recorded in `folder`: the backup's name, stamp and time."""
    try:
        data = json.loads((folder / RESTORE_POINT).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BackupFailed(f"{folder / RESTORE_POINT}: unreadable restore point ({exc})") from exc
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete backups beyond the newest `keep`, except the restore point's and its successors.

    Protected are the backup named by the newest restore point and every backup taken after
    it up to that restore (they hold what the restore set aside). `keep` <= 0 keeps all.
    """
    if keep <= 0:
        return []
    point = restore_point(folder)
    removed = []
    for old in list_backups(folder)[:-keep]:
        stamp = _stamp(old)
        if point is not None and (
            old.name == point["backup"]
            or (stamp is not None and point["stamp"] <= stamp <= point["until"])
        ):
            continue
        old.unlink(missing_ok=True)
        removed.append(old)
    return removed


def _record_restore_point(folder: Path, backup: Path, now: datetime) -> Path:
    """Name `backup` as the newest restore point, then copy it aside (out of any rotation)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(backup) or now.strftime(STAMP)
    point = {"backup": backup.name, "stamp": stamp, "until": now.strftime(STAMP)}
    marker = folder / RESTORE_POINT
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(json.dumps(point) + "\n")
    partial.replace(marker)
    aside = folder / ASIDE / backup.name
    if aside.resolve() != backup.resolve():
        aside.parent.mkdir(exist_ok=True)
        copying = aside.with_name(aside.name + ".partial")
        shutil.copyfile(backup, copying)
        copying.replace(aside)
    return aside


def restore_backup(
    database_url: str,
    backup: Path,
    backup_dir: Path,
    now: datetime,
    progress: Progress | None = None,
) -> Restored:
    """Replace the database with `backup` (stop the server first); give it a new sync epoch.

    The new epoch makes every kiosk's pull cursor unknown, so each re-downloads current
    state instead of trusting change numbers the restored database may hand out again.
    """
    say = progress or (lambda _: None)
    url = sa.engine.make_url(database_url)
    if not backup.is_file():
        raise BackupFailed(f"{backup}: no such backup file")
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupFailed(f"restores of {backend} databases are not supported")
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    if backend == "sqlite":
        target = _sqlite_path(url)
        fresh = target.with_name(target.name + ".restoring")
        _remove_sqlite(fresh)
        say(f"copying {backup.name} to {fresh} and checking it")
        shutil.copyfile(backup, fresh)
        try:
            _check_sqlite_backup(fresh, backup)
        except BackupFailed:
            _remove_sqlite(fresh)
            raise
        fresh_url = url.set(database=str(fresh)).render_as_string(hide_password=False)
    else:
        say(f"checking {backup}")
        _check_pg_backup(url, backup)
    say(f"recording the restore point and copying {backup.name} to {backup_dir / ASIDE}")
    try:
        aside = _record_restore_point(backup_dir, backup, now)
    except OSError as exc:
        raise BackupFailed(f"{backup_dir}: cannot record the restore point ({exc})") from exc
    if backend == "postgresql":
        fresh_name = _pg_name(url.database or "postgres", "_restoring")
        fresh_url = url.set(database=fresh_name).render_as_string(hide_password=False)
        say(f"restoring {backup.name} into a new database {fresh_name}")
        _pg_restore_fresh(url, fresh_name, backup)
    try:
        before = _revision(fresh_url)
        say(f"bringing the restored database from migration {before} to the installed one")
        _upgrade(fresh_url, backup)
        after = _revision(fresh_url)
        epoch = uuid.uuid4().hex
        _set_epoch(fresh_url, epoch)
    except BaseException:
        if backend == "sqlite":
            _remove_sqlite(fresh)
        else:
            _pg_drop(url, fresh_name)
        raise
    say("swapping the restored database in")
    if backend == "sqlite":
        replaced = _swap_sqlite(target, fresh, stamp)
    else:
        replaced = _swap_pg(url, fresh_name, stamp)
    return Restored(backup, aside, replaced, before, after, epoch)


def _check_sqlite_backup(copy: Path, backup: Path) -> None:
    """Check the restored copy (reading the backup itself would leave -shm files next to it)."""
    try:
        check = sqlite3.connect(copy)
        try:
            verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            check.close()
    except sqlite3.DatabaseError as exc:
        raise BackupFailed(f"{backup}: not a readable SQLite backup ({exc})") from exc
    if verdict != "ok":
        raise BackupFailed(f"{backup}: integrity check failed: {verdict}")


def _check_pg_backup(url: sa.engine.URL, backup: Path) -> None:
    result = _pg_tool("pg_restore", url, ["--list", str(backup)], connect=False)
    if result.returncode != 0:
        raise BackupFailed(
            f"{backup}: not a readable pg_dump backup: {_first_error(result.stderr)}"
        )


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _swap_sqlite(target: Path, fresh: Path, stamp: str) -> str:
    """Move the live database (with its -wal and -shm) aside, then the restored one in."""
    kept = target.with_name(f"{target.name}.replaced-{stamp}")
    if target.exists():
        for suffix in ("", "-wal", "-shm"):
            old = Path(str(target) + suffix)
            if old.exists():
                old.replace(Path(str(kept) + suffix))
    for suffix in ("-wal", "-shm"):
        Path(str(fresh) + suffix).unlink(missing_ok=True)
    fresh.replace(target)
    return str(kept) if kept.exists() else "nothing (there was no database)"


def _pg_name(base: str, suffix: str) -> str:
    return base[: PG_NAME_MAX - len(suffix)] + suffix


def _admin_engine(url: sa.engine.URL) -> sa.engine.Engine:
    """An autocommit connection to the maintenance database `postgres`."""
    return sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _pg_admin(url: sa.engine.URL, statements: list[str], what: str, **params: str) -> None:
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(sa.text(statement), params)
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise BackupFailed(f"{what}: {reason}") from exc
    finally:
        engine.dispose()


def _pg_drop(url: sa.engine.URL, name: str) -> None:
    _pg_admin(url, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], f"cannot drop {name}")


def _pg_restore_fresh(url: sa.engine.URL, fresh: str, backup: Path) -> None:
    owner = url.username or "postgres"
    _pg_drop(url, fresh)
    _pg_admin(
        url,
        [f'CREATE DATABASE "{fresh}" OWNER "{owner}" TEMPLATE template0'],
        f"cannot create the database {fresh} to restore into (the role {owner} needs "
        f"CREATEDB, see deploy/postgresql.md); nothing was changed",
    )
    result = _pg_tool(
        "pg_restore",
        url,
        ["--no-owner", "--exit-on-error", "--single-transaction", "-d", fresh, str(backup)],
    )
    if result.returncode != 0:
        _pg_drop(url, fresh)
        raise BackupFailed(
            f"{backup}: pg_restore failed, the live database is untouched: "
            f"{_first_error(result.stderr)}"
        )


def _swap_pg(url: sa.engine.URL, fresh: str, stamp: str) -> str:
    """End every session of the live database, rename it aside and the restored one in."""
    live = url.database or "postgres"
    kept = _pg_name(live, f"_replaced_{stamp.lower()}")
    failed = (
        f"cannot swap the restored database {fresh} in for {live} (the live database is "
        "unchanged; stop every server and run the restore again)"
    )
    if not _pg_exists(url, live):
        _pg_admin(url, [f'ALTER DATABASE "{fresh}" RENAME TO "{live}"'], failed)
        return "nothing (there was no database)"
    _pg_admin(url, [f'ALTER DATABASE "{live}" ALLOW_CONNECTIONS false'], failed)
    try:
        for attempt in range(20):
            try:
                _pg_admin(
                    url,
                    [
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :live AND pid <> pg_backend_pid()",
                        f'ALTER DATABASE "{live}" RENAME TO "{kept}"',
                    ],
                    failed,
                    live=live,
                )
                break
            except BackupFailed:
                # A terminated session takes a moment to end; the rename waits for all.
                if attempt == 19:
                    raise
                time.sleep(0.25)
    finally:
        name = kept if _pg_exists(url, kept) else live
        _pg_admin(url, [f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'], failed)
    _pg_admin(url, [f'ALTER DATABASE "{fresh}" RENAME TO "{live}"'], failed)
    return f"database {kept}"


def _pg_exists(url: sa.engine.URL, name: str) -> bool:
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
    finally:
        engine.dispose()
    return found is not None


def _revision(database_url: str) -> str | None:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _upgrade(database_url: str, backup: Path) -> None:
    """Apply every pending migration to the restored database (it may predate an upgrade)."""
    import flask_migrate
    from alembic.util.exc import CommandError

    from server import create_app
    from server.extensions import db

    app = create_app({"LINLI_DATABASE_URL": database_url})
    with app.app_context():
        try:
            flask_migrate.upgrade()
        except CommandError as exc:
            raise BackupFailed(
                f"{backup}: cannot bring it to the installed migration ({exc}); "
                "is it from a newer Linli?"
            ) from exc
        finally:
            db.session.remove()
            db.engine.dispose()


def _set_epoch(database_url: str, epoch: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE sync_state SET epoch = :epoch WHERE id = 1"), {"epoch": epoch}
            )
    finally:
        engine.dispose()


def _pg_tool(
    program: str, url: sa.engine.URL, args: list[str], connect: bool = True
) -> subprocess.CompletedProcess[str]:
    found = shutil.which(program)
    if found is None:
        raise BackupFailed(f"{program} is not installed (Debian package postgresql-client)")
    conn_args, env = _pg_args(url) if connect else ([], {})
    return subprocess.run(  # noqa: S603  (fixed program, arguments from our settings)
        [found, *conn_args, *args],
        capture_output=True,
        text=True,
        env={**_base_env(), **env},
        check=False,
    )


def _first_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return ((errors or lines or ["no message"])[0]).strip()[:300]


def _base_env() -> dict[str, str]:
    """The environment pg_dump needs: PATH, HOME (~/.pgpass), locale, and every PG* setting."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL"}
    return {k: v for k, v in os.environ.items() if k in keep or k.startswith("PG")}
