"""Database backups with rotation, and restores (SQLite online backup or pg_dump)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from server.errors import LinliError

PREFIX = "linli-"


class BackupFailed(LinliError):
    """A backup or restore could not be made."""

    status = 500
    code = "backup_failed"


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


def make_backup(database_url: str, folder: Path, now: datetime, keep: int) -> Path:
    """Write a consistent backup into `folder` and keep the newest `keep` backups."""
    url = sa.engine.make_url(database_url)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
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
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise BackupFailed("pg_dump is not installed (Debian package postgresql-client)")
        target = folder / f"{PREFIX}{stamp}.pgdump"
        partial = target.with_name(target.name + ".partial")
        args, env = _pg_args(url)
        result = subprocess.run(  # noqa: S603  (fixed program, arguments from our settings)
            [pg_dump, *args, "-Fc", "-f", str(partial), url.database or "postgres"],
            capture_output=True,
            text=True,
            env={**_base_env(), **env},
            check=False,
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BackupFailed(f"pg_dump failed: {result.stderr.strip()[:300]}")
        partial.replace(target)
    else:
        raise BackupFailed(f"backups of {url.get_backend_name()} databases are not supported")
    for old in list_backups(folder)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return target


def list_backups(folder: Path) -> list[Path]:
    """Backups in `folder`, oldest first."""
    return sorted(p for p in folder.glob(f"{PREFIX}*") if not p.name.endswith(".partial"))


def restore_backup(database_url: str, backup: Path) -> None:
    """Replace the database with `backup` (stop the server first); give it a new sync epoch.

    The new epoch makes every kiosk's pull cursor unknown, so each re-downloads current
    state instead of trusting change numbers the restored database may hand out again.
    """
    url = sa.engine.make_url(database_url)
    if not backup.is_file():
        raise BackupFailed(f"{backup}: no such backup file")
    if url.get_backend_name() == "sqlite":
        target = _sqlite_path(url)
        check = sqlite3.connect(backup)
        try:
            verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            check.close()
        if verdict != "ok":
            raise BackupFailed(f"{backup}: integrity check failed: {verdict}")
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        partial = target.with_name(target.name + ".restoring")
        shutil.copyfile(backup, partial)
        partial.replace(target)
    elif url.get_backend_name() == "postgresql":
        pg_restore = shutil.which("pg_restore")
        if pg_restore is None:
            raise BackupFailed("pg_restore is not installed (Debian package postgresql-client)")
        args, env = _pg_args(url)
        result = subprocess.run(  # noqa: S603  (fixed program, arguments from our settings)
            [
                pg_restore,
                *args,
                "--clean",
                "--if-exists",
                "--no-owner",
                "-d",
                url.database or "postgres",
                str(backup),
            ],
            capture_output=True,
            text=True,
            env={**_base_env(), **env},
            check=False,
        )
        if result.returncode != 0:
            raise BackupFailed(f"pg_restore failed: {result.stderr.strip()[:300]}")
    else:
        raise BackupFailed(f"restores of {url.get_backend_name()} databases are not supported")
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE sync_state SET epoch = :epoch WHERE id = 1"),
                {"epoch": uuid.uuid4().hex},
            )
    finally:
        engine.dispose()


def _base_env() -> dict[str, str]:
    """The environment pg_dump needs: PATH, HOME (~/.pgpass), locale, and every PG* setting."""
    import os

    keep = {"PATH", "HOME", "LANG", "LC_ALL"}
    return {k: v for k, v in os.environ.items() if k in keep or k.startswith("PG")}
