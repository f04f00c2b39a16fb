"""The kiosk's durable store: SQLite in WAL mode with synchronous=FULL, one writer at a time.

`Store` is one object over one database file, built from its parts:
- kiosk/database.py: connections (one per thread), the single writer, deadline reads, errors;
- kiosk/schema.py: the tables and their named migrations;
- kiosk/residents.py: what the screens and the local API read and write (requests, tickets);
- kiosk/outbox.py: what the sync client needs (sync.client.SyncStore): pending ops, the
  server's answers, parked ops, the pull cursor, compaction, and the enrolment;
and here what is neither: the kiosk's status, the admin PIN, backups and the integrity check.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kiosk.database import (
    InputError,
    NotEnrolledError,
    StorageBusy,
    StorageFull,
    StorageUnavailable,
    StoreError,
    set_meta,
    storage_busy,
    storage_unavailable,
)
from kiosk.outbox import Outbox
from kiosk.residents import Residents, Saved
from kiosk.schema import DEFAULT_CATEGORIES, FINAL_STATES, MIGRATIONS

__all__ = [
    "DEFAULT_CATEGORIES",
    "FINAL_STATES",
    "MIGRATIONS",
    "InputError",
    "NotEnrolledError",
    "Saved",
    "StorageBusy",
    "StorageFull",
    "StorageUnavailable",
    "Store",
    "StoreError",
    "storage_busy",
]


class Store(Residents, Outbox):
    """The kiosk database; safe to share between threads (each gets its own connection)."""

    # --- status -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Queue length, oldest queued time, last sync, online or not, last error.

        During a storage stall this is the last status read, with `storage` "stalled".
        """
        current, fresh = self._screen_read("status", self._status)
        return {**current, "storage": "ok" if fresh else "stalled"}

    def _status(self) -> dict[str, Any]:
        conn = self._conn()
        queued, oldest = conn.execute(
            "SELECT count(*), min(created_at) FROM outbox WHERE state = 'pending'"
        ).fetchone()
        rejected = conn.execute("SELECT count(*) FROM outbox WHERE state = 'rejected'").fetchone()[
            0
        ]
        parked = conn.execute("SELECT count(*) FROM outbox WHERE state = 'parked'").fetchone()[0]
        state = self._meta("state") or ("not_enrolled" if self.credentials() is None else "idle")
        if self._meta("cloned_at"):
            state = "cloned"
        lost = self._meta("lost_history")
        return {
            "queued": queued,
            "oldest_queued_at": oldest,
            "last_sync_at": self._meta("last_sync_at"),
            "last_attempt_at": self._meta("last_attempt_at"),
            "online": state == "online",
            "state": state,
            "last_error": self._meta("last_error"),
            "rejected": rejected,
            "parked": parked,
            "lost_history": None if lost is None else json.loads(lost),
            "device": self._meta("device_name"),
            "server_url": self._meta("server_url"),
        }

    # --- admin PIN --------------------------------------------------------------------

    def set_admin_pin_hash(self, pin_hash: str) -> None:
        """Store the hash of the admin PIN (the PIN itself is never stored)."""
        with self._write() as conn:
            set_meta(conn, "admin_pin_hash", pin_hash)

    def admin_pin_hash(self) -> str | None:
        """The stored hash of the admin PIN, or None when no PIN was set."""
        return self._meta("admin_pin_hash")

    def claim_pin_try(self, max_tries: int, lockout: timedelta) -> bool:
        """Count one PIN try before its hash is checked; False while the keypad is locked.

        Counting and locking happen in one write transaction, so however many tries arrive at
        once, at most `max_tries` are let through to the hash before the lock is in force.
        """
        with self._write() as conn:
            now = self.clock()
            until = self._meta("pin_locked_until")
            if until is not None and now < datetime.fromisoformat(until):
                return False
            tries = int(self._meta("pin_tries") or "0") + 1
            if tries >= max_tries:
                set_meta(conn, "pin_locked_until", (now + lockout).isoformat())
                tries = 0
            set_meta(conn, "pin_tries", str(tries))
        return True

    def pin_locked(self) -> bool:
        """Whether the admin keypad is locked after too many tries."""
        until = self._meta("pin_locked_until")
        return until is not None and self.clock() < datetime.fromisoformat(until)

    def clear_pin_tries(self) -> None:
        """Forget counted tries and any lock (the right PIN was entered)."""
        with self._write() as conn:
            set_meta(conn, "pin_tries", None)
            set_meta(conn, "pin_locked_until", None)

    # --- backups ----------------------------------------------------------------------

    def backup_to(self, target: Path) -> None:
        """An online, consistent copy of the database (SQLite's backup API) at `target`."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            dest = sqlite3.connect(partial)
            try:
                self._conn().backup(dest)
                verdict = dest.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dest.close()
            if verdict != "ok":
                raise StoreError(
                    f"the backup failed its integrity check: {verdict}", "备份校验失败"
                )
            partial.replace(target)
        except BaseException as exc:
            for leftover in (partial, Path(f"{partial}-journal")):
                leftover.unlink(missing_ok=True)
            if isinstance(exc, sqlite3.Error):
                raise storage_unavailable(target, exc) from exc
            raise

    def integrity_check(self) -> str:
        """SQLite's own integrity check ("ok" when sound)."""
        return str(self._conn().execute("PRAGMA integrity_check").fetchone()[0])
