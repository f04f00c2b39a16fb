"""The kiosk's durable store: SQLite in WAL mode with synchronous=FULL, one writer at a time.

A request row and the outbox operation that carries it are written in one transaction;
the caller hears "saved" only after that commit. Each thread has its own connection; writes
are serialised by a lock and `BEGIN IMMEDIATE` (also across processes, via SQLite's lock).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from sync.client import Credentials, PendingOp, SyncOutcome
from sync.ids import format_ticket, uuid7
from sync.messages import (
    CancelRequestOp,
    Change,
    CreateRequestOp,
    EnrollResponse,
    MissingRange,
    Operation,
    PullResponse,
    PushResponse,
    SeqRange,
    op_digest,
    range_digest,
)
from sync.statuses import SETTLED

DEFAULT_CATEGORIES = [
    ("electrical", "照明/电路", "Lights & wiring", 10, 0),
    ("plumbing", "水暖", "Plumbing & heating", 20, 0),
    ("appliance", "家电维修", "Appliance repair", 30, 0),
    ("health", "健康", "Health", 40, 0),
    ("meals", "助餐", "Meals", 50, 0),
    ("company", "陪伴聊天", "Company & a chat", 60, 0),
    ("errands", "代办跑腿", "Errands", 70, 0),
    ("emergency", "紧急求助", "Emergency", 80, 1),
    ("other", "其他", "Other", 90, 0),
]

WRITE_WAIT_SECONDS = 3.0
"""How long a write waits for the storage (another writer, a stalled card) before giving up:
a resident hears "could not save, try again" instead of a screen that hangs."""
READ_WAIT_SECONDS = 2.0
"""How long the screens wait for a read before showing the last answer (a stalled card can
block even reads: SQLite's shared-memory index lives in a file)."""

T = TypeVar("T")

# Space kept free for sync bookkeeping: a base, and per queued operation what recording the
# server's answer adds to its row (state, time); see Store._check_headroom.
RESERVE_BYTES = 16 * 1024
ACK_BYTES = 64

PARK_RETRY = timedelta(hours=1)
"""How long a parked op waits before it is tried again (the nightly job tries them all)."""
RENUMBER_OFFSET = 2**61
"""Pending ops step aside to seq + this while they are renumbered (parked ops hold seqs < 0)."""
LOST_CANDIDATES = 1000
"""At most this many requests are named as possibly lost in a health report."""
SEQ_TAKEN = "seq_taken"
"""The server holds another operation at this seq: the op waits in the outbox for a fresh seq."""
REENROLLED = "reenrolled"
"""Outbox reason of an op the previous identity had sent, sent again after re-enrolment."""
PARKED_RETRY = "parked_retry"
"""A parked op back in the queue: it is sent alone, and parked again at its first 500."""
REBUILT = "rebuilt"
"""Outbox reason of a create op rebuilt from its request after the server lost it and the
kiosk had compacted its envelope."""
FINAL_STATES = SETTLED | {"rejected"}
"""Request states that need nothing more from the community (nor a cancellation)."""

_OPERATION: TypeAdapter[CreateRequestOp | CancelRequestOp] = TypeAdapter(Operation)

MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "0001_initial",
        [
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY,
                op_id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                body TEXT NOT NULL,
                digest TEXT NOT NULL,
                created_at TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'applied', 'rejected')),
                reason TEXT,
                acked_at TEXT
            )""",
            "CREATE INDEX outbox_state ON outbox (state, seq)",
            """CREATE TABLE requests (
                id TEXT PRIMARY KEY,
                ticket TEXT NOT NULL,
                category TEXT NOT NULL,
                room TEXT NOT NULL,
                phone TEXT,
                details TEXT,
                on_behalf INTEGER NOT NULL DEFAULT 0,
                consent_version TEXT,
                created_at TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'queued',
                note TEXT,
                cancel_requested INTEGER NOT NULL DEFAULT 0,
                reject_reason TEXT,
                updated_at TEXT NOT NULL
            )""",
            "CREATE INDEX requests_room ON requests (room, created_at)",
            """CREATE TABLE categories (
                code TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL,
                sort INTEGER NOT NULL, urgent INTEGER NOT NULL
            )""",
            """CREATE TABLE rooms (
                code TEXT PRIMARY KEY, building TEXT NOT NULL, unit TEXT NOT NULL,
                room TEXT NOT NULL
            )""",
            "CREATE TABLE community (slug TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT)",
        ],
    ),
    (
        # One-time tokens of the touch UI's confirm form: a double tap saves one request.
        "0002_form_tokens",
        [
            """CREATE TABLE form_tokens (
                token TEXT PRIMARY KEY,
                request_id TEXT NOT NULL REFERENCES requests (id),
                created_at TEXT NOT NULL
            )""",
        ],
    ),
    # Operation digests leave out the seq (an unsent op may move to a fresh seq); the unsent
    # ones are digested again in Python (see Store._migrate), acknowledged ones keep theirs.
    (
        "0003_seq_free_digests",
        [
            # Ops an older kiosk marked rejected as seq_taken were never stored by the server:
            # queue them again (they move to fresh seqs once the server answers seq_taken).
            "UPDATE outbox SET state = 'pending', reason = NULL, acked_at = NULL "
            "WHERE state = 'rejected' AND reason = 'seq_taken'",
            "UPDATE requests SET status = 'queued', reject_reason = NULL "
            "WHERE status = 'rejected' AND reject_reason = 'seq_taken'",
        ],
    ),
    (
        # An op the server keeps failing on is parked (set aside, retried hourly, released by
        # staff): a new state, so the table is rebuilt with the wider CHECK. Re-enrolment as
        # another device keeps the old identity's acknowledged ops in an archive.
        "0004_parked_ops",
        [
            """CREATE TABLE outbox_new (
                seq INTEGER PRIMARY KEY,
                op_id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                body TEXT NOT NULL,
                digest TEXT NOT NULL,
                created_at TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'applied', 'rejected', 'parked')),
                reason TEXT,
                acked_at TEXT,
                error TEXT,
                parked_seq INTEGER,
                retry_at TEXT
            )""",
            "INSERT INTO outbox_new (seq, op_id, type, body, digest, created_at, state, reason, "
            "acked_at) SELECT seq, op_id, type, body, digest, created_at, state, reason, acked_at "
            "FROM outbox",
            "DROP TABLE outbox",
            "ALTER TABLE outbox_new RENAME TO outbox",
            "CREATE INDEX outbox_state ON outbox (state, seq)",
            """CREATE TABLE outbox_archive (
                device_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                op_id TEXT NOT NULL,
                type TEXT NOT NULL,
                body TEXT NOT NULL,
                digest TEXT NOT NULL,
                created_at TEXT NOT NULL,
                state TEXT NOT NULL,
                reason TEXT,
                acked_at TEXT,
                archived_at TEXT NOT NULL,
                PRIMARY KEY (device_id, seq)
            )""",
        ],
    ),
]


def _redigest_pending(conn: sqlite3.Connection) -> None:
    """Unsent ops take the digest without the seq, as the server now computes it."""
    rows = conn.execute("SELECT seq, body FROM outbox WHERE state = 'pending'").fetchall()
    for seq, body in rows:
        conn.execute(
            "UPDATE outbox SET digest = ? WHERE seq = ?",
            (op_digest(_OPERATION.validate_json(body)), seq),
        )


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


def _unavailable(path: Path, exc: BaseException) -> StorageUnavailable:
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


@dataclass(frozen=True)
class Saved:
    """A request saved durably on the kiosk."""

    id: str
    ticket: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """The kiosk database; safe to share between threads (each gets its own connection)."""

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
            raise _unavailable(self.path, exc) from exc

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
                raise _unavailable(self.path, exc) from exc
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
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                for name, statements in MIGRATIONS:
                    if name in done:
                        continue
                    for statement in statements:
                        conn.execute(statement)
                    if name == "0001_initial":
                        conn.executemany(
                            "INSERT INTO categories VALUES (?, ?, ?, ?, ?)", DEFAULT_CATEGORIES
                        )
                    if name == "0003_seq_free_digests":
                        _redigest_pending(conn)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)",
                        (name, self.clock().isoformat()),
                    )
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    # --- meta -------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- enrolment --------------------------------------------------------------------

    def enrollment(self) -> dict[str, str | None]:
        """Device id, name, community and server URL (the token is not shown)."""
        return {
            k: self._meta(k)
            for k in ("device_id", "device_name", "community", "server_url", "ticket_prefix")
        }

    def save_enrollment(self, server_url: str, answer: EnrollResponse) -> None:
        """Store a new token; nothing queued or acknowledged is ever deleted.

        Enrolled again as another device (a cloned card re-enrolled under a new name, or a
        kiosk the restored server no longer knew), the previous identity's answered ops are
        copied to an archive, and its applied ops and unsent ones continue under the new
        identity at fresh seqs, in their order, with the same op ids: the server answers an op
        it already holds as a duplicate and applies one it lost, so nothing it acknowledged
        before is missing after.
        """
        with self._write() as conn:
            current = self._meta("device_id")
            if current is not None and current != str(answer.device_id):
                now = self.clock().isoformat()
                conn.execute(
                    "INSERT OR REPLACE INTO outbox_archive (device_id, seq, op_id, type, body, "
                    "digest, created_at, state, reason, acked_at, archived_at) "
                    "SELECT ?, seq, op_id, type, body, digest, created_at, state, reason, "
                    "acked_at, ? FROM outbox WHERE state IN ('applied', 'rejected')",
                    (current, now),
                )
                conn.execute("DELETE FROM outbox WHERE state = 'rejected'")
                conn.execute(
                    "UPDATE outbox SET state = 'pending', acked_at = NULL, reason = ? "
                    "WHERE state = 'applied'",
                    (REENROLLED,),
                )
                self._set_meta(conn, "next_seq", str(answer.last_seq + 1))
                self._renumber_pending(conn, answer.last_seq + 1)
            if current != str(answer.device_id):
                self._set_meta(conn, "cursor", None)
            self._set_meta(conn, "device_id", str(answer.device_id))
            self._set_meta(conn, "device_name", answer.name)
            self._set_meta(conn, "community", answer.community)
            self._set_meta(conn, "ticket_prefix", answer.ticket_prefix)
            self._set_meta(conn, "server_url", server_url.rstrip("/"))
            self._set_meta(conn, "token", answer.token)
            self._set_meta(conn, "state", "enrolled")
            self._set_meta(conn, "last_error", None)
            self._set_meta(conn, "cloned_at", None)
            self._learn_server_position(conn, answer.last_seq, answer.last_ticket)

    def set_admin_pin_hash(self, pin_hash: str) -> None:
        """Store the hash of the admin PIN (the PIN itself is never stored)."""
        with self._write() as conn:
            self._set_meta(conn, "admin_pin_hash", pin_hash)

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
                self._set_meta(conn, "pin_locked_until", (now + lockout).isoformat())
                tries = 0
            self._set_meta(conn, "pin_tries", str(tries))
        return True

    def pin_locked(self) -> bool:
        """Whether the admin keypad is locked after too many tries."""
        until = self._meta("pin_locked_until")
        return until is not None and self.clock() < datetime.fromisoformat(until)

    def clear_pin_tries(self) -> None:
        """Forget counted tries and any lock (the right PIN was entered)."""
        with self._write() as conn:
            self._set_meta(conn, "pin_tries", None)
            self._set_meta(conn, "pin_locked_until", None)

    def credentials(self) -> Credentials | None:
        """The server URL and token in force, or None when not enrolled.

        A kiosk told it is a copy of another one's card stops syncing until enrolled again.
        """
        url, token = self._meta("server_url"), self._meta("token")
        if not url or not token or self._meta("cloned_at"):
            return None
        return Credentials(server_url=url, token=token)

    # --- requests ---------------------------------------------------------------------

    def categories(self) -> list[dict[str, Any]]:
        """Categories in display order (server's list once synced, defaults before)."""

        def query() -> list[dict[str, Any]]:
            rows = self._conn().execute("SELECT * FROM categories ORDER BY sort, code")
            return [dict(r) for r in rows]

        return self._screen_read("categories", query)[0]

    def rooms(self) -> list[dict[str, Any]]:
        """Rooms known from the server, in building, unit, room order."""

        def query() -> list[dict[str, Any]]:
            rows = self._conn().execute("SELECT * FROM rooms ORDER BY building, unit, room")
            return [dict(r) for r in rows]

        return self._screen_read("rooms", query)[0]

    def community(self) -> dict[str, Any] | None:
        """The community this kiosk serves (name and phone), once synced."""

        def query() -> dict[str, Any] | None:
            row = self._conn().execute("SELECT * FROM community LIMIT 1").fetchone()
            return None if row is None else dict(row)

        return self._screen_read("community", query)[0]

    def create_request(
        self,
        category: str,
        room: str,
        phone: str | None = None,
        details: str | None = None,
        on_behalf: bool = False,
        consent_version: str | None = None,
        form_token: str | None = None,
    ) -> Saved:
        """Save a request and its outbox operation in one durable transaction.

        A `form_token` seen before returns the request saved with it, and saves nothing new:
        the token is checked and recorded in the same transaction as the request.
        """
        conn = self._conn()
        if self._meta("device_id") is None:
            raise NotEnrolledError(
                "this kiosk is not enrolled yet; ask the community centre",
                "本机尚未登记，请联系社区服务中心",
            )
        if conn.execute("SELECT 1 FROM categories WHERE code = ?", (category,)).fetchone() is None:
            raise InputError(
                "unknown_category", f"unknown category {category!r}", "没有这个求助类别"
            )
        if conn.execute("SELECT 1 FROM rooms WHERE code = ?", (room,)).fetchone() is None:
            raise InputError(
                "unknown_room", f"room {room!r} is not in this community's list", "没有找到这个房间"
            )
        with self._write() as conn:
            if form_token is not None:
                seen = conn.execute(
                    "SELECT r.id, r.ticket FROM form_tokens t JOIN requests r "
                    "ON r.id = t.request_id WHERE t.token = ?",
                    (form_token,),
                ).fetchone()
                if seen is not None:
                    return Saved(id=str(seen["id"]), ticket=str(seen["ticket"]))
            self._check_headroom(conn)
            seq = int(self._meta("next_seq") or "1")
            number = int(self._meta("next_ticket") or "1")
            prefix = self._meta("ticket_prefix") or "A"
            now = self.clock()
            op_id = uuid7()
            try:
                op = CreateRequestOp.model_validate(
                    {
                        "op_id": op_id,
                        "seq": seq,
                        "type": "request.create",
                        "at": now,
                        "payload": {
                            "category": category,
                            "room": room,
                            "ticket": format_ticket(prefix, number),
                            "phone": phone or None,
                            "details": details or None,
                            "on_behalf": on_behalf,
                            "consent_version": consent_version,
                        },
                    }
                )
            except ValidationError as exc:
                raise _input_error(exc) from exc
            self._append_op(conn, op, now)
            p = op.payload
            conn.execute(
                "INSERT INTO requests (id, ticket, category, room, phone, details, on_behalf, "
                "consent_version, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    str(op_id),
                    p.ticket,
                    p.category,
                    p.room,
                    p.phone,
                    p.details,
                    int(p.on_behalf),
                    p.consent_version,
                    now.isoformat(),
                    now.isoformat(),
                ),
            )
            self._set_meta(conn, "next_ticket", str(number + 1))
            if form_token is not None:
                conn.execute(
                    "INSERT INTO form_tokens (token, request_id, created_at) VALUES (?, ?, ?)",
                    (form_token, str(op_id), now.isoformat()),
                )
        return Saved(id=str(op_id), ticket=p.ticket)

    def has_consent(self, room: str, version: str) -> bool:
        """Whether a request of `room` was saved with consent text `version`."""
        row = (
            self._conn()
            .execute(
                "SELECT 1 FROM requests WHERE room = ? AND consent_version = ? LIMIT 1",
                (room, version),
            )
            .fetchone()
        )
        return row is not None

    def cancel_request(self, request_id: str, reason: str | None = None, ask: bool = False) -> None:
        """Queue a cancellation; with `ask`, a request to cancel that staff decide.

        Without `ask` the server cancels at once while nobody is on the way yet, and otherwise
        records a request to cancel. A request whose cancellation is already queued or asked
        for is left as it is (checked inside the write, so two taps at once queue one).
        """
        with self._write() as conn:
            row = conn.execute(
                "SELECT cancel_requested FROM requests WHERE id = ?", (request_id,)
            ).fetchone()
            if row is None:
                raise InputError("unknown_request", "no such request on this kiosk", "没有这条求助")
            if row["cancel_requested"]:
                return
            self._check_headroom(conn)
            now = self.clock()
            try:
                op = CancelRequestOp.model_validate(
                    {
                        "op_id": uuid7(),
                        "seq": int(self._meta("next_seq") or "1"),
                        "type": "request.cancel",
                        "at": now,
                        "payload": {"request_id": request_id, "reason": reason, "ask": ask},
                    }
                )
            except ValidationError as exc:
                raise _input_error(exc) from exc
            self._append_op(conn, op, now)
            conn.execute(
                "UPDATE requests SET cancel_requested = 1, updated_at = ? WHERE id = ?",
                (now.isoformat(), request_id),
            )

    def _check_headroom(self, conn: sqlite3.Connection) -> None:
        """Refuse a new operation unless room is left to record the server's answers.

        Acknowledging an operation makes its row a little longer; if requests could fill the
        last page, a full kiosk could never record its acks and its queue would never drain.
        """
        pending = conn.execute(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'parked')"
        ).fetchone()[0]
        needed = RESERVE_BYTES + (pending + 1) * ACK_BYTES
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        used = (
            conn.execute("PRAGMA page_count").fetchone()[0]
            - conn.execute("PRAGMA freelist_count").fetchone()[0]
        )
        room = shutil.disk_usage(self.path.parent).free
        if self.max_pages:
            room = min(room, (self.max_pages - used) * page_size)
        if room < needed:
            raise StorageFull(
                "the kiosk's storage is full; nothing was saved",
                "本机存储已满，未能保存",
            )

    def _append_op(
        self, conn: sqlite3.Connection, op: CreateRequestOp | CancelRequestOp, now: datetime
    ) -> None:
        conn.execute(
            "INSERT INTO outbox (seq, op_id, type, body, digest, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (op.seq, str(op.op_id), op.type, op.model_dump_json(), op_digest(op), now.isoformat()),
        )
        self._set_meta(conn, "next_seq", str(op.seq + 1))

    def get_request(self, request_id: str) -> dict[str, Any] | None:
        """One local request with its sync state."""
        row = self._conn().execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["on_behalf"] = bool(out["on_behalf"])
        out["cancel_requested"] = bool(out["cancel_requested"])
        out["synced"] = out["status"] != "queued"
        return out

    def cancellations(self, request_ids: list[str]) -> dict[str, str]:
        """The outbox state (pending, applied, rejected) of each request's latest cancellation."""
        wanted = set(request_ids)
        rows = self._conn().execute(
            "SELECT json_extract(body, '$.payload.request_id'), state FROM outbox "
            "WHERE type = 'request.cancel' ORDER BY seq"
        )
        return {str(rid): str(state) for rid, state in rows if rid in wanted}

    def requests_for_room(self, room: str, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent requests of one room, newest first by the kiosk's own saving order.

        The rowid grows with every saved request whatever the clock says (a kiosk's clock can
        be years off, or set back), so the order never jumps.
        """
        rows = self._conn().execute(
            "SELECT * FROM requests WHERE room = ? ORDER BY rowid DESC LIMIT ?",
            (room, limit),
        )
        return [dict(r) for r in rows]

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

    def record_sync(self, outcome: SyncOutcome) -> None:
        """Remember how the last sync attempt ended."""
        try:
            with self._write() as conn:
                self._set_meta(conn, "last_attempt_at", outcome.at.isoformat())
                self._set_meta(conn, "state", outcome.state)
                self._set_meta(conn, "last_error", outcome.error)
                if outcome.state == "cloned":
                    self._set_meta(conn, "cloned_at", outcome.at.isoformat())
                if outcome.ok:
                    self._set_meta(conn, "last_sync_at", outcome.at.isoformat())
        except (StorageFull, StorageBusy, StorageUnavailable):
            return

    # --- sync engine interface --------------------------------------------------------

    def pending_ops(self, limit: int) -> list[PendingOp]:
        """Unacknowledged operations in seq order.

        While some sit at seqs the server has already answered (this kiosk's counter fell
        behind, say after a restore), only those go, so the server says which it holds and
        which seqs are taken by other operations, before anything newer is sent.
        """
        conn = self._conn()
        behind = conn.execute(
            "SELECT seq, body, reason FROM outbox WHERE state = 'pending' AND seq <= ? "
            "AND coalesce(reason, '') != ? ORDER BY seq LIMIT ?",
            (self._server_last_seq(), SEQ_TAKEN, limit),
        ).fetchall()
        rows = (
            behind
            or conn.execute(
                "SELECT seq, body, reason FROM outbox WHERE state = 'pending' "
                "AND coalesce(reason, '') != ? ORDER BY seq LIMIT ?",
                (SEQ_TAKEN, limit),
            ).fetchall()
        )
        if rows and rows[0]["reason"] == PARKED_RETRY:
            return [PendingOp(seq=rows[0]["seq"], body=rows[0]["body"], retry=True)]
        ahead = [r for r in rows if r["reason"] != PARKED_RETRY]
        if len(ahead) < len(rows):
            # A retried parked op goes alone: stop the batch just before it.
            first_retry = next(r["seq"] for r in rows if r["reason"] == PARKED_RETRY)
            ahead = [r for r in rows if r["seq"] < first_retry]
        return [PendingOp(seq=r["seq"], body=r["body"]) for r in ahead]

    def _server_last_seq(self) -> int:
        """The server's last seq for this device, as its latest answer said (0: unknown)."""
        return int(self._meta("server_last_seq") or "0")

    def _learn_server_position(
        self, conn: sqlite3.Connection, last_seq: int, last_ticket: int | None
    ) -> None:
        """Counters jump past what the server holds, and ops at taken seqs move past it too.

        Ops the server answered `seq_taken` wait until every other op at an answered seq has
        been answered; then they and everything after them move, in their order, to fresh
        seqs after the server's (same op ids: the server never applies one twice).
        """
        self._set_meta(conn, "server_last_seq", str(last_seq))
        if last_ticket is not None:
            number = int(self._meta("next_ticket") or "1")
            self._set_meta(conn, "next_ticket", str(max(number, last_ticket + 1)))
        next_seq = max(int(self._meta("next_seq") or "1"), last_seq + 1)
        self._set_meta(conn, "next_seq", str(next_seq))
        unanswered = conn.execute(
            "SELECT count(*) FROM outbox WHERE state = 'pending' AND seq <= ? "
            "AND coalesce(reason, '') != ?",
            (last_seq, SEQ_TAKEN),
        ).fetchone()[0]
        taken = conn.execute(
            "SELECT count(*) FROM outbox WHERE state = 'pending' AND reason = ?", (SEQ_TAKEN,)
        ).fetchone()[0]
        if taken and not unanswered:
            self._renumber_pending(conn, last_seq + 1)

    def _renumber_pending(self, conn: sqlite3.Connection, first: int, since: int = 0) -> int:
        """Move the pending ops at `since` or later, in seq order, to seqs from `first`."""
        rows = conn.execute(
            "SELECT seq, body FROM outbox WHERE state = 'pending' AND seq >= ? ORDER BY seq",
            (since,),
        ).fetchall()
        if not rows:
            return 0
        # Out of the way first, so no new seq collides with an old one.
        conn.execute(
            "UPDATE outbox SET seq = seq + ? WHERE state = 'pending' AND seq >= ?",
            (RENUMBER_OFFSET, since),
        )
        for offset, row in enumerate(rows):
            op = _OPERATION.validate_json(row["body"]).model_copy(update={"seq": first + offset})
            conn.execute(
                "UPDATE outbox SET seq = ?, body = ?, digest = ?, "
                "reason = CASE WHEN reason = ? THEN NULL ELSE reason END WHERE seq = ?",
                (
                    op.seq,
                    op.model_dump_json(),
                    op_digest(op),
                    SEQ_TAKEN,
                    row["seq"] + RENUMBER_OFFSET,
                ),
            )
        # Every op at or after `first` was pending and is now below this.
        self._set_meta(conn, "next_seq", str(first + len(rows)))
        return len(rows)

    def apply_push(self, response: PushResponse) -> bool:
        """Record the server's answers, and requeue from `resend_from`, in one transaction.

        True when the server asked for ops this kiosk no longer holds (compacted after it
        acknowledged them; the server was then restored from an older backup): the pending
        ops move to continue after the server's last seq and the loss is remembered, so the
        status page says so and the health report names the requests that may be lost.
        """
        now = self.clock().isoformat()
        history_lost = False
        with self._write() as conn:
            for result in response.results:
                row = conn.execute(
                    "SELECT op_id, type, body, reason FROM outbox WHERE seq = ?", (result.seq,)
                ).fetchone()
                if row is None:
                    continue
                if result.status == "duplicate" and row["reason"] in (REENROLLED, REBUILT):
                    # Held by the server at another seq or under this kiosk's previous identity
                    # (archived here under it): not this seq's history, so reconcile never asks.
                    conn.execute("DELETE FROM outbox WHERE seq = ?", (result.seq,))
                    continue
                if result.status == "applied" and row["reason"] == REBUILT:
                    # The server had lost it: its state there starts again from this answer.
                    conn.execute(
                        "UPDATE requests SET status = ?, updated_at = ? WHERE id = ?",
                        (
                            str((result.result or {}).get("status", "received")),
                            now,
                            row["op_id"],
                        ),
                    )
                if result.status == "rejected" and result.reason == SEQ_TAKEN:
                    conn.execute(
                        "UPDATE outbox SET reason = ? WHERE seq = ?", (SEQ_TAKEN, result.seq)
                    )
                    continue
                ok = result.status == "applied" or (
                    result.status == "duplicate" and result.original == "applied"
                )
                state = "applied" if ok else "rejected"
                conn.execute(
                    "UPDATE outbox SET state = ?, reason = ?, acked_at = ? WHERE seq = ?",
                    (state, result.reason, now, result.seq),
                )
                body = json.loads(row["body"])
                if row["type"] == "request.create":
                    if ok:
                        status = str((result.result or {}).get("status", "received"))
                        conn.execute(
                            "UPDATE requests SET status = ?, updated_at = ? "
                            "WHERE id = ? AND status = 'queued'",
                            (status, now, body["op_id"]),
                        )
                    else:
                        conn.execute(
                            "UPDATE requests SET status = 'rejected', reject_reason = ?, "
                            "updated_at = ? WHERE id = ?",
                            (result.reason, now, body["op_id"]),
                        )
            if response.resend_from is not None:
                lost = conn.execute(
                    "UPDATE outbox SET state = 'pending', acked_at = NULL "
                    "WHERE seq >= ? AND state IN ('applied', 'rejected')",
                    (response.resend_from,),
                ).rowcount
                if lost:
                    # The server lost operations it had acknowledged (restored from a backup):
                    # its change numbers may repeat too, so re-download current state.
                    self._set_meta(conn, "cursor", None)
                history_lost = self._continue_after_loss(conn, response.resend_from, now)
            self._learn_server_position(conn, response.last_seq, response.last_ticket)
        return history_lost

    def _continue_after_loss(self, conn: sqlite3.Connection, resend_from: int, now: str) -> bool:
        """When the pending ops do not continue gap-free from `resend_from`, the ops in the
        gaps are gone here too: renumber the pending ones from there and remember the loss."""
        low, high, count = conn.execute(
            "SELECT min(seq), max(seq), count(*) FROM outbox WHERE state = 'pending'"
        ).fetchone()
        if not count or (low == resend_from and high - low + 1 == count):
            return False
        self._set_meta(
            conn,
            "lost_history",
            json.dumps({"at": now, "first_seq": resend_from, "last_seq": high - 1}),
        )
        self._set_meta(conn, "cursor", None)
        self._renumber_pending(conn, resend_from, since=resend_from)
        self._rebuild_compacted(conn)
        return True

    def _rebuild_compacted(self, conn: sqlite3.Connection) -> int:
        """Queue again, at the end, the create op of every open request whose envelope was
        compacted: rebuilt from the request row with its own op id and content, so the server
        answers a duplicate for one it still holds and applies one it lost. Settled requests
        are only named to staff (health report): recreating them would reopen finished work."""
        rows = [
            row
            for row in conn.execute(
                "SELECT id, ticket, category, room, phone, details, on_behalf, consent_version, "
                "created_at, status FROM requests "
                "WHERE id NOT IN (SELECT op_id FROM outbox) ORDER BY rowid"
            )
            if row["status"] not in FINAL_STATES
        ]
        now = self.clock()
        for row in rows:
            op = CreateRequestOp.model_validate(
                {
                    "op_id": row["id"],
                    "seq": int(self._meta("next_seq") or "1"),
                    "type": "request.create",
                    "at": row["created_at"],
                    "payload": {
                        "category": row["category"],
                        "room": row["room"],
                        "ticket": row["ticket"],
                        "phone": row["phone"],
                        "details": row["details"],
                        "on_behalf": bool(row["on_behalf"]),
                        "consent_version": row["consent_version"],
                    },
                }
            )
            self._append_op(conn, op, now)
            conn.execute("UPDATE outbox SET reason = ? WHERE seq = ?", (REBUILT, op.seq))
        return len(rows)

    def lost_candidates(self) -> list[dict[str, str]]:
        """After a loss on the server: this kiosk's requests whose envelopes were compacted
        (the server says which of them it lacks), the newest first."""
        if self._meta("lost_history") is None:
            return []
        rows = self._conn().execute(
            "SELECT id, ticket FROM requests WHERE id NOT IN "
            "(SELECT op_id FROM outbox WHERE type = 'request.create') "
            "ORDER BY created_at DESC LIMIT ?",
            (LOST_CANDIDATES,),
        )
        return [{"id": str(r[0]), "ticket": str(r[1])} for r in rows]

    def park(self, seq: int, error: str) -> None:
        """Set aside the pending op at `seq` with the server's error; the ones behind move up.

        A parked op holds a negative seq (it is outside the device's sequence until it is
        retried at a fresh seq at the end); the ops behind it take the seqs from its own on.
        """
        retry = (self.clock() + PARK_RETRY).isoformat()
        with self._write() as conn:
            lowest = conn.execute("SELECT min(min(seq), 0) FROM outbox").fetchone()[0]
            moved = conn.execute(
                "UPDATE outbox SET state = 'parked', seq = ?, parked_seq = ?, error = ?, "
                "retry_at = ? WHERE seq = ? AND state = 'pending'",
                (lowest - 1, seq, error[:2000], retry, seq),
            ).rowcount
            # The server never answered this seq: the ops behind move down one, gap-free.
            behind = moved and seq > self._server_last_seq()
            if behind and not self._renumber_pending(conn, seq, since=seq):
                self._set_meta(conn, "next_seq", str(seq))

    def retry_parked(self, now: datetime) -> int:
        """Parked ops whose retry time has come go to the end of the queue, at fresh seqs."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT seq, body FROM outbox WHERE state = 'parked' AND retry_at <= ? "
                "ORDER BY seq DESC",
                (now.isoformat(),),
            ).fetchall()
            return self._unpark(conn, rows)

    def release_parked(self, parked_seq: int | None = None) -> int:
        """Staff release one parked op (by the seq it was parked at) or all: they go to the
        end of the queue at once; return how many."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT seq, body FROM outbox WHERE state = 'parked' "
                "AND (? IS NULL OR parked_seq = ?) ORDER BY seq DESC",
                (parked_seq, parked_seq),
            ).fetchall()
            return self._unpark(conn, rows)

    def _unpark(self, conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> int:
        """Put parked `rows` back in the queue, each at a fresh seq at its end."""
        for row in rows:
            seq = max(int(self._meta("next_seq") or "1"), self._server_last_seq() + 1)
            op = _OPERATION.validate_json(row["body"]).model_copy(update={"seq": seq})
            conn.execute(
                "UPDATE outbox SET state = 'pending', seq = ?, body = ?, digest = ?, "
                "reason = ?, retry_at = NULL WHERE seq = ?",
                (seq, op.model_dump_json(), op_digest(op), PARKED_RETRY, row["seq"]),
            )
            self._set_meta(conn, "next_seq", str(seq + 1))
        return len(rows)

    def parked_ops(self) -> list[dict[str, Any]]:
        """Parked ops for the admin page: the seq they were parked at, ticket, error, retry."""
        rows = self._conn().execute(
            "SELECT parked_seq, type, json_extract(body, '$.payload.ticket') AS ticket, "
            "error, retry_at FROM outbox WHERE state = 'parked' ORDER BY parked_seq"
        )
        return [dict(r) for r in rows]

    def cursor(self) -> str | None:
        """The cursor stored with the last applied page of changes."""
        return self._meta("cursor")

    def apply_pull(self, page: PullResponse) -> None:
        """Apply a page of changes and store its cursor in the same transaction."""
        with self._write() as conn:
            if page.reset or self._meta("cursor") is None:
                conn.execute("DELETE FROM categories")
                conn.execute("DELETE FROM rooms")
                conn.execute("DELETE FROM community")
            for change in page.changes:
                _apply_change(conn, change)
            self._set_meta(conn, "cursor", page.cursor)

    def acked_ranges(self, size: int) -> list[SeqRange]:
        """Digests of acknowledged operations, in aligned ranges of `size` contiguous seqs."""
        rows = (
            self._conn()
            .execute(
                "SELECT seq, op_id, digest FROM outbox WHERE state IN ('applied', 'rejected') "
                "ORDER BY seq"
            )
            .fetchall()
        )
        # A range never spans a seq this kiosk does not hold acknowledged (lost with an old
        # card, or still unsent): the server would count it, and the range would never match.
        buckets: dict[tuple[int, int], list[tuple[int, str, str]]] = {}
        run, previous = 0, 0
        for seq, op_id, digest in rows:
            if seq != previous + 1:
                run += 1
            previous = seq
            buckets.setdefault(((seq - 1) // size, run), []).append((seq, op_id, digest))
        ranges = []
        for entries in buckets.values():
            ranges.append(
                SeqRange(
                    first=entries[0][0],
                    last=entries[-1][0],
                    count=len(entries),
                    digest=range_digest(entries),
                )
            )
        return ranges

    def requeue(self, ranges: list[MissingRange]) -> int:
        """Mark acknowledged operations in `ranges` pending again, and re-download state."""
        count = 0
        with self._write() as conn:
            for r in ranges:
                count += conn.execute(
                    "UPDATE outbox SET state = 'pending', acked_at = NULL "
                    "WHERE seq BETWEEN ? AND ? AND state != 'pending'",
                    (r.first, r.last),
                ).rowcount
            if count:
                self._set_meta(conn, "cursor", None)
        return count

    def forget_cursor(self) -> None:
        """Drop the pull cursor, so the next pull re-downloads current reference data."""
        with self._write() as conn:
            self._set_meta(conn, "cursor", None)

    def compact(self, before: datetime) -> int:
        """Delete acknowledged operations made before `before`; pending ones are never touched.

        The request rows stay (the resident's history); only the sent envelopes go.
        """
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM outbox WHERE state != 'pending' AND acked_at IS NOT NULL "
                "AND created_at < ?",
                (before.isoformat(),),
            ).rowcount

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
                raise _unavailable(target, exc) from exc
            raise

    def integrity_check(self) -> str:
        """SQLite's own integrity check ("ok" when sound)."""
        return str(self._conn().execute("PRAGMA integrity_check").fetchone()[0])


def _apply_change(conn: sqlite3.Connection, change: Change) -> None:
    key = change.key
    if change.entity == "category":
        if change.data is None:
            conn.execute("DELETE FROM categories WHERE code = ?", (key,))
        else:
            c = change.data
            conn.execute(
                "INSERT OR REPLACE INTO categories VALUES (?, ?, ?, ?, ?)",
                (c.code, c.name_zh, c.name_en, c.sort, int(c.urgent)),
            )
    elif change.entity == "room":
        code = key.split(":", 1)[-1]
        if change.data is None:
            conn.execute("DELETE FROM rooms WHERE code = ?", (code,))
        else:
            room = change.data
            conn.execute(
                "INSERT OR REPLACE INTO rooms VALUES (?, ?, ?, ?)",
                (room.code, room.building, room.unit, room.room),
            )
    elif change.entity == "community":
        conn.execute("DELETE FROM community")
        if change.data is not None:
            community = change.data
            conn.execute(
                "INSERT INTO community VALUES (?, ?, ?)",
                (community.slug, community.name, community.phone),
            )
    elif change.entity == "request" and change.data is not None:
        request = change.data
        conn.execute(
            "UPDATE requests SET status = ?, note = ?, cancel_requested = ?, updated_at = ? "
            "WHERE id = ?",
            (
                request.status,
                request.note,
                int(request.cancel_requested),
                request.updated_at.isoformat() if request.updated_at else "",
                key,
            ),
        )


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _input_error(exc: ValidationError) -> InputError:
    first = exc.errors()[0]
    field = str(first["loc"][-1]) if first["loc"] else "value"
    too_long = first["type"] == "string_too_long"
    messages_zh = {
        "phone": "电话号码格式不对，请输入5到15位数字",
        "details": "说明文字太长了" if too_long else "说明文字里有无法保存的字符",
        "reason": "取消原因太长了" if too_long else "取消原因里有无法保存的字符",
        "room": "房间号格式不对",
    }
    return InputError(
        f"invalid_{field}",
        f"{field}: {first['msg']}",
        messages_zh.get(field, "输入的内容不正确"),
    )
