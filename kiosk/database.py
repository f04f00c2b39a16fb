"""How the kiosk's SQLite database is used: one connection per thread, one writer at a time.

WAL mode with synchronous=FULL: a write transaction's commit is durable when `_write` returns,
so a caller says "saved" only after it. Writes are serialised by a lock and `BEGIN IMMEDIATE`
(also across processes, via SQLite's lock); the UI thread and the sync worker never share a
connection. Reads the screens need go through one reader thread with a deadline, so a stalled
card shows the last answer instead of a frozen screen. The errors every part of the store
raises are defined here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kiosk.schema import migrate

WRITE_WAIT_SECONDS = 3.0
"""How long a write waits for the storage (another writer, a stalled card) before giving up:
a resident hears "could not save, try again" instead of a screen that hangs."""
READ_WAIT_SECONDS = 2.0
"""How long the screens wait for a read before showing the last answer (a stalled card can
block even reads: SQLite's shared-memory index lives in a file)."""

T = TypeVar("T")


class StoreError(Exception):
    """The store cannot do what was asked; `code` is stable, `detail` is for people."""

    code = "storage_error"

    def __init__(self, detail: str, detail_zh: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.detail_zh = detail_zh


class StorageFull(StoreError):
    """The disk (or the configured cap) is full: nothing was written."""

    code = "storage_full"


class StorageUnavailable(StoreError):
    """The data folder cannot be opened or written (read-only, missing, failing card)."""

    code = "storage_error"


class StorageBusy(StoreError):
    """The storage did not take a write within `WRITE_WAIT_SECONDS`: nothing was saved."""

    code = "storage_busy"


def storage_unavailable(path: Path, exc: BaseException) -> StorageUnavailable:
    """The error of a data folder or file that cannot be opened or written."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StorageUnavailable(
        f"{path}: the kiosk's storage cannot be used ({reason}); nothing can be saved",
        "本机存储出了故障，不能保存求助",
    )


def storage_busy() -> StorageBusy:
    """The error of a write the storage did not take in time (nothing was saved)."""
    return StorageBusy("could not save, the storage is busy; try again", "这次没能保存，请再试一次")


class InputError(StoreError):
    """A value the resident entered is not acceptable."""

    code = "invalid_input"

    def __init__(self, code: str, detail: str, detail_zh: str) -> None:
        super().__init__(detail, detail_zh)
        self.code = code


class NotEnrolledError(StoreError):
    """The kiosk is not enrolled with a server."""

    code = "not_enrolled"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Database:
    """The kiosk database file; safe to share between threads (each gets its own connection)."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], datetime] = _utcnow,
        max_pages: int = 0,
        write_wait: float = WRITE_WAIT_SECONDS,
        read_wait: float = READ_WAIT_SECONDS,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.max_pages = max_pages
        self.write_wait = write_wait
        self.read_wait = read_wait
        self._reader: ThreadPoolExecutor | None = None
        self._reader_lock = threading.Lock()
        self._last_reads: dict[str, Any] = {}
        self._stuck_read: Future[Any] | None = None
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise storage_unavailable(self.path, exc) from exc

    # --- connections ------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=self.write_wait, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            if self.max_pages:
                conn.execute(f"PRAGMA max_page_count={int(self.max_pages)}")
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (call when no thread uses the store any more)."""
        with self._reader_lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.shutdown(wait=False, cancel_futures=True)
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def _screen_read(self, key: str, query: Callable[[], T]) -> tuple[T, bool]:
        """A read the screens need, on the store's reader thread, answered within `read_wait`.

        When the storage stalls, the last answer is given instead (the status page and home
        screen stay up), with False for "not fresh"; with no earlier answer the storage is
        reported busy.
        """
        with self._reader_lock:
            stuck = self._stuck_read is not None and not self._stuck_read.done()
            if not stuck:
                if self._reader is None:
                    self._reader = ThreadPoolExecutor(1, thread_name_prefix="kiosk-read")
                future = self._reader.submit(query)
        if not stuck:
            try:
                value = future.result(timeout=self.read_wait)
            except FutureTimeout:
                # Until that read comes back, every screen read answers at once from memory.
                self._stuck_read = future
            else:
                self._last_reads[key] = value
                return value, True
        if key in self._last_reads:
            last: T = self._last_reads[key]
            return last, False
        raise StorageBusy(
            f"{self.path}: the storage did not answer within {self.read_wait:g} s; try again",
            "本机存储没有响应，请稍后再试",
        )

    def close_thread(self) -> None:
        """Close this thread's connection (the local server runs each request in a new thread)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._conns_lock:
            self._all_conns = [c for c in self._all_conns if c is not conn]
        conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the commit is durable (WAL, synchronous=FULL) on return."""
        conn = self._conn()
        if not self._write_lock.acquire(timeout=self.write_wait):
            raise storage_busy()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _rollback(conn)
            message = str(exc).lower()
            if "full" in message:
                raise StorageFull(
                    "the kiosk's storage is full; nothing was saved",
                    "本机存储已满，未能保存",
                ) from exc
            if "locked" in message or "busy" in message:
                raise storage_busy() from exc
            if "readonly" in message or "disk i/o" in message or "unable to open" in message:
                raise storage_unavailable(self.path, exc) from exc
            raise
        except BaseException:
            _rollback(conn)
            raise
        finally:
            self._write_lock.release()

    def _migrate(self) -> None:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                migrate(conn, self.clock)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    # --- meta -------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    """Set (or with None remove) one `meta` value, in the caller's write transaction."""
    if value is None:
        conn.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
