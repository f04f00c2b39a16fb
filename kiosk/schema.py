"""The kiosk database's schema: named, transactional migrations recorded in a table.

Each migration runs once, in order, inside the write transaction that opens the store (see
kiosk/database.py); `schema_migrations` records which ones ran. Old migrations are never
edited: a change to the schema is a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Literal, get_args

from pydantic import TypeAdapter

from sync.messages import AnyOp, Operation, op_digest
from sync.statuses import SETTLED, RequestStatus

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


LocalState = Literal["queued", "rejected"]
"""A request's states known only on the kiosk: saved and waiting in the outbox, or refused by
the server (never stored there)."""
LOCAL_STATES: tuple[LocalState, ...] = get_args(LocalState)
KioskState = LocalState | RequestStatus
"""What a request row's `status` holds: a local state, or the server's status once synced."""
FINAL_STATES: frozenset[KioskState] = frozenset({*SETTLED, "rejected"})
"""Request states that need nothing more from the community (nor a cancellation)."""

OPERATION: TypeAdapter[AnyOp] = TypeAdapter(Operation)
"""How an outbox row's `body` is read back."""


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
    # ones are digested again in Python (see migrate), acknowledged ones keep theirs.
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
    (
        # Every request of the community's rooms comes from the server, whatever the channel it
        # came by (phone, another kiosk): a row this kiosk did not make has origin 'server' (it
        # is shown, never cancelled from here), and every row learns who is coming.
        "0005_foreign_requests",
        [
            "ALTER TABLE requests ADD COLUMN origin TEXT NOT NULL DEFAULT 'kiosk' "
            "CHECK (origin IN ('kiosk', 'server'))",
            "ALTER TABLE requests ADD COLUMN team TEXT",
            "ALTER TABLE requests ADD COLUMN agency TEXT",
            "ALTER TABLE requests ADD COLUMN merged_into TEXT",
            "CREATE INDEX requests_ticket ON requests (ticket)",
        ],
    ),
    (
        # What is wrong, one step below a category, as the community words it (issue 13.5): the
        # community record brings the list; a request keeps the code chosen and the preferred
        # time. `meta.choices` is set while the server's community record carries the list (a
        # server that accepts both fields), so an older server is never sent them.
        "0006_subchoices",
        [
            """CREATE TABLE choices (
                category TEXT NOT NULL,
                code TEXT NOT NULL,
                name_zh TEXT NOT NULL,
                name_en TEXT NOT NULL,
                sort INTEGER NOT NULL,
                PRIMARY KEY (category, code)
            )""",
            "ALTER TABLE requests ADD COLUMN choice TEXT",
            "ALTER TABLE requests ADD COLUMN preferred_time TEXT",
        ],
    ),
    (
        # 报平安: a resident says "I am well" for a room. Not a request (never in 我的求助, no
        # ticket, no phone, no words): its own table, written with its outbox op in one
        # transaction; `form_token` makes a double tap save one.
        "0007_checkins",
        [
            """CREATE TABLE checkins (
                id TEXT PRIMARY KEY,
                room TEXT NOT NULL,
                created_at TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'recorded', 'rejected')),
                reject_reason TEXT,
                form_token TEXT UNIQUE,
                updated_at TEXT NOT NULL
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
            (op_digest(OPERATION.validate_json(body)), seq),
        )


def migrate(conn: sqlite3.Connection, clock: Callable[[], datetime]) -> None:
    """Apply the migrations not yet recorded, in order, inside the caller's write transaction."""
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
            conn.executemany("INSERT INTO categories VALUES (?, ?, ?, ?, ?)", DEFAULT_CATEGORIES)
        if name == "0003_seq_free_digests":
            _redigest_pending(conn)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, clock().isoformat()))
