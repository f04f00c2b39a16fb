"""The outbox: what the sync client needs from the kiosk's store (sync.client.SyncStore).

Every operation a resident's action makes waits here, at its seq, until the server answers it;
the server's answers, its resend requests and the pages of changes it sends are recorded here,
each in one write transaction. Ops the server keeps failing on are parked (set aside, retried
hourly, released by staff); acknowledged envelopes are compacted after a while, and rebuilt
from their requests if the server later turns out to have lost them. The enrolment (the
identity the ops are sent under) lives here too: enrolling again moves the ops to fresh seqs.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kiosk.database import (
    Database,
    StorageBusy,
    StorageFull,
    StorageUnavailable,
    set_meta,
)
from kiosk.schema import FINAL_STATES, OPERATION
from sync.client import Credentials, PendingOp, SyncOutcome
from sync.messages import (
    AnyOp,
    Change,
    CreateRequestOp,
    EnrollResponse,
    MissingRange,
    PullResponse,
    PushResponse,
    RequestData,
    SeqRange,
    op_digest,
    range_digest,
)

# Space kept free for sync bookkeeping: a base, and per queued operation what recording the
# server's answer adds to its row (state, time); see check_headroom.
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


class Outbox(Database):
    """The sync side of the store: pending ops, the server's answers, parked ops, the cursor."""

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
                set_meta(conn, "next_seq", str(answer.last_seq + 1))
                self._renumber_pending(conn, answer.last_seq + 1)
            if current != str(answer.device_id):
                set_meta(conn, "cursor", None)
            set_meta(conn, "device_id", str(answer.device_id))
            set_meta(conn, "device_name", answer.name)
            set_meta(conn, "community", answer.community)
            set_meta(conn, "ticket_prefix", answer.ticket_prefix)
            set_meta(conn, "server_url", server_url.rstrip("/"))
            set_meta(conn, "token", answer.token)
            set_meta(conn, "state", "enrolled")
            set_meta(conn, "last_error", None)
            set_meta(conn, "cloned_at", None)
            self._learn_server_position(conn, answer.last_seq, answer.last_ticket)

    def credentials(self) -> Credentials | None:
        """The server URL and token in force, or None when not enrolled.

        A kiosk told it is a copy of another one's card stops syncing until enrolled again.
        """
        url, token = self._meta("server_url"), self._meta("token")
        if not url or not token or self._meta("cloned_at"):
            return None
        return Credentials(server_url=url, token=token)

    # --- sync engine interface --------------------------------------------------------

    def record_sync(self, outcome: SyncOutcome) -> None:
        """Remember how the last sync attempt ended."""
        try:
            with self._write() as conn:
                set_meta(conn, "last_attempt_at", outcome.at.isoformat())
                set_meta(conn, "state", outcome.state)
                set_meta(conn, "last_error", outcome.error)
                if outcome.state == "cloned":
                    set_meta(conn, "cloned_at", outcome.at.isoformat())
                if outcome.ok:
                    set_meta(conn, "last_sync_at", outcome.at.isoformat())
        except (StorageFull, StorageBusy, StorageUnavailable):
            return

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
        set_meta(conn, "server_last_seq", str(last_seq))
        if last_ticket is not None:
            number = int(self._meta("next_ticket") or "1")
            set_meta(conn, "next_ticket", str(max(number, last_ticket + 1)))
        next_seq = max(int(self._meta("next_seq") or "1"), last_seq + 1)
        set_meta(conn, "next_seq", str(next_seq))
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
            op = OPERATION.validate_json(row["body"]).model_copy(update={"seq": first + offset})
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
        set_meta(conn, "next_seq", str(first + len(rows)))
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
                elif row["type"] == "checkin.create":
                    conn.execute(
                        "UPDATE checkins SET status = ?, reject_reason = ?, updated_at = ? "
                        "WHERE id = ?",
                        ("recorded" if ok else "rejected", result.reason, now, body["op_id"]),
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
                    set_meta(conn, "cursor", None)
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
        set_meta(
            conn,
            "lost_history",
            json.dumps({"at": now, "first_seq": resend_from, "last_seq": high - 1}),
        )
        set_meta(conn, "cursor", None)
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
                "choice, preferred_time, created_at, status FROM requests "
                "WHERE origin = 'kiosk' AND id NOT IN (SELECT op_id FROM outbox) ORDER BY rowid"
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
                        "choice": row["choice"],
                        "preferred_time": row["preferred_time"],
                    },
                }
            )
            append_op(conn, op, now)
            conn.execute("UPDATE outbox SET reason = ? WHERE seq = ?", (REBUILT, op.seq))
        return len(rows)

    def lost_candidates(self) -> list[dict[str, str]]:
        """After a loss on the server: this kiosk's requests whose envelopes were compacted
        (the server says which of them it lacks), the newest first."""
        if self._meta("lost_history") is None:
            return []
        rows = self._conn().execute(
            "SELECT id, ticket FROM requests WHERE origin = 'kiosk' AND id NOT IN "
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
                set_meta(conn, "next_seq", str(seq))

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
            op = OPERATION.validate_json(row["body"]).model_copy(update={"seq": seq})
            conn.execute(
                "UPDATE outbox SET state = 'pending', seq = ?, body = ?, digest = ?, "
                "reason = ?, retry_at = NULL WHERE seq = ?",
                (seq, op.model_dump_json(), op_digest(op), PARKED_RETRY, row["seq"]),
            )
            set_meta(conn, "next_seq", str(seq + 1))
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

    def oldest_unsettled(self) -> datetime | None:
        """When the oldest request not settled here was made (None: none is open)."""
        marks = ", ".join("?" for _ in FINAL_STATES)
        row = (
            self._conn()
            .execute(
                f"SELECT min(created_at) FROM requests WHERE status NOT IN ({marks})",  # noqa: S608  (placeholders only)
                sorted(FINAL_STATES),
            )
            .fetchone()
        )
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def apply_pull(self, page: PullResponse) -> None:
        """Apply a page of changes and store its cursor in the same transaction."""
        with self._write() as conn:
            if page.reset or self._meta("cursor") is None:
                conn.execute("DELETE FROM categories")
                conn.execute("DELETE FROM rooms")
                conn.execute("DELETE FROM community")
                conn.execute("DELETE FROM choices")
                set_meta(conn, "choices", None)
            now = self.clock()
            for change in page.changes:
                _apply_change(conn, change, now)
            set_meta(conn, "cursor", page.cursor)

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
                set_meta(conn, "cursor", None)
        return count

    def forget_cursor(self) -> None:
        """Drop the pull cursor, so the next pull re-downloads current reference data."""
        with self._write() as conn:
            set_meta(conn, "cursor", None)

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


def append_op(conn: sqlite3.Connection, op: AnyOp, now: datetime) -> None:
    """Queue `op` at its seq and move the next seq past it, in the caller's write transaction."""
    conn.execute(
        "INSERT INTO outbox (seq, op_id, type, body, digest, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (op.seq, str(op.op_id), op.type, op.model_dump_json(), op_digest(op), now.isoformat()),
    )
    set_meta(conn, "next_seq", str(op.seq + 1))


def check_headroom(conn: sqlite3.Connection, folder: Path, max_pages: int) -> None:
    """Refuse a new operation (StorageFull) unless room is left to record the server's answers."""
    # Acknowledging an operation makes its row a little longer; if requests could fill the
    # last page, a full kiosk could never record its acks and its queue would never drain.
    pending = conn.execute(
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'parked')"
    ).fetchone()[0]
    needed = RESERVE_BYTES + (pending + 1) * ACK_BYTES
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    used = (
        conn.execute("PRAGMA page_count").fetchone()[0]
        - conn.execute("PRAGMA freelist_count").fetchone()[0]
    )
    room = shutil.disk_usage(folder).free
    if max_pages:
        room = min(room, (max_pages - used) * page_size)
    if room < needed:
        raise StorageFull(
            "the kiosk's storage is full; nothing was saved",
            "本机存储已满，未能保存",
        )


def _apply_change(conn: sqlite3.Connection, change: Change, now: datetime) -> None:
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
        conn.execute("DELETE FROM choices")
        set_meta(conn, "choices", None)
        if change.data is not None:
            community = change.data
            conn.execute(
                "INSERT INTO community VALUES (?, ?, ?)",
                (community.slug, community.name, community.phone),
            )
            if community.choices is not None:
                # A server that sends the list (even empty) takes a request's choice and time.
                set_meta(conn, "choices", "1")
                conn.executemany(
                    "INSERT OR REPLACE INTO choices VALUES (?, ?, ?, ?, ?)",
                    [(c.category, c.code, c.name_zh, c.name_en, c.sort) for c in community.choices],
                )
    elif change.entity == "request":
        _apply_request(conn, key, change.data, now)


def _apply_request(
    conn: sqlite3.Connection, key: str, request: RequestData | None, now: datetime
) -> None:
    """Update a request this kiosk holds; insert one made elsewhere (its room is shown here)."""
    if request is None:
        conn.execute("DELETE FROM requests WHERE id = ? AND origin = 'server'", (key,))
        return
    updated_at = request.updated_at.isoformat() if request.updated_at else ""
    known = conn.execute(
        "UPDATE requests SET status = ?, note = ?, cancel_requested = ?, updated_at = ?, "
        "team = ?, agency = ?, merged_into = ?, category = coalesce(?, category) WHERE id = ?",
        (
            request.status,
            request.note,
            int(request.cancel_requested),
            updated_at,
            request.team,
            request.agency,
            request.merged_into,
            request.category,
            key,
        ),
    ).rowcount
    if known or not (request.ticket and request.category and request.room):
        return  # an older server names only this kiosk's own requests, by their id
    conn.execute(
        "INSERT INTO requests (id, ticket, category, room, created_at, status, note, "
        "cancel_requested, updated_at, origin, team, agency, merged_into) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'server', ?, ?, ?)",
        (
            key,
            request.ticket,
            request.category,
            request.room,
            updated_at or now.isoformat(),
            request.status,
            request.note,
            int(request.cancel_requested),
            updated_at,
            request.team,
            request.agency,
            request.merged_into,
        ),
    )
