"""The kiosk's sync client engine: push the outbox, pull changes, reconcile; on `requests`.

The engine talks to a `SyncStore` (implemented by the kiosk) and never touches a database
itself. `SyncWorker` runs it in the background with exponential backoff, forever.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import requests
from pydantic import ValidationError

from sync import codec
from sync.backoff import Backoff
from sync.messages import (
    MAX_BATCH_OPS,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    EnrollRequest,
    EnrollResponse,
    HealthAck,
    HealthReport,
    MissingRange,
    PullResponse,
    PushResponse,
    ReconcileResponse,
    SeqRange,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/sync/v1"


@dataclass(frozen=True)
class Credentials:
    """Where and as whom a kiosk syncs: always the server URL it enrolled with."""

    server_url: str
    token: str


@dataclass(frozen=True)
class PendingOp:
    """One outbox operation, with its JSON exactly as first written."""

    seq: int
    body: str
    retry: bool = False
    """A parked op tried again: sent alone, and parked again at its first 500."""


class SyncStore(Protocol):
    """What the engine needs from the kiosk's durable store."""

    def credentials(self) -> Credentials | None:
        """The enrolment in force, or None when not enrolled."""

    def pending_ops(self, limit: int) -> list[PendingOp]:
        """Unacknowledged operations in seq order, at most `limit`."""

    def apply_push(self, response: PushResponse) -> bool | None:
        """Record the server's answers (and a resend request) in one transaction.

        True when the server asked for operations this kiosk no longer holds (they were
        compacted): the store has moved its pending ones to continue after the server's.
        """

    def park(self, seq: int, error: str) -> None:
        """Set aside the pending op at `seq`, which the server keeps failing on; the ones
        behind it move up to fresh seqs so they can drain."""

    def retry_parked(self, now: datetime) -> int:
        """Move parked ops that are due for a retry to the end of the queue; return how many."""

    def cursor(self) -> str | None:
        """The last pull cursor stored with the data it brought."""

    def oldest_unsettled(self) -> datetime | None:
        """When the oldest request still shown unsettled on this device was made (None: none);
        a download from nothing brings the fate of every request since, however old."""

    def apply_pull(self, page: PullResponse) -> None:
        """Apply a page of changes and store its cursor in the same transaction."""

    def acked_ranges(self, size: int) -> list[SeqRange]:
        """Digests of acknowledged operations still held, in ranges of `size` seqs."""

    def requeue(self, ranges: list[MissingRange]) -> int:
        """Mark the operations in these ranges unacknowledged again; return how many."""

    def record_sync(self, outcome: SyncOutcome) -> None:
        """Remember how the last attempt went (shown on the status page)."""


class SyncError(Exception):
    """A sync attempt failed; `state` is what the kiosk's status shows."""

    state = "error"

    def __init__(self, detail: str, code: str = "sync_failed", status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.status = status


class Unreachable(SyncError):
    """No answer: network down, server down, timeout, or a broken response."""

    state = "offline"


class ServerTrouble(SyncError):
    """The server answered 5xx or asked us to slow down."""

    state = "server_error"


class Revoked(SyncError):
    """The device token is unknown or revoked: re-enrol the kiosk."""

    state = "revoked"


class UpdateRequired(SyncError):
    """The server does not speak our protocol version."""

    state = "update_required"


class NotEnrolled(SyncError):
    """The kiosk has no enrolment yet."""

    state = "not_enrolled"


class Refused(SyncError):
    """The server refused the request as malformed (a 4xx other than the above)."""

    state = "error"


class Cloned(SyncError):
    """Another running kiosk holds a copy of this card: re-enrol this one as a new device."""

    state = "cloned"


class ServerLostHistory(SyncError):
    """The server lost operations this kiosk had sent and since compacted (it was restored
    from an older backup): the pending ones now continue after the server's."""

    state = "server_lost_history"


@dataclass
class SyncOutcome:
    """How one attempt ended."""

    ok: bool
    state: str
    at: datetime
    error: str | None = None
    pushed: int = 0
    pulled: int = 0


@dataclass
class WireStats:
    """HTTP requests made and body bytes on the wire (compressed, both directions)."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    by_path: dict[str, int] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _error_from(response: requests.Response) -> SyncError:
    """Translate a non-2xx answer into the matching `SyncError`."""
    try:
        body = response.json()
        code = str(body.get("error", "http_error"))
        detail = str(body.get("detail", response.reason))
    except ValueError:
        code, detail = "http_error", f"HTTP {response.status_code} {response.reason}"
    status = response.status_code
    message = f"{status} {code}: {detail}"
    if status == 401:
        return Revoked(message, code, status)
    if code == "unsupported_protocol":
        return UpdateRequired(message, code, status)
    if code == "cloned_device":
        return Cloned(message, code, status)
    if status >= 500 or status == 429:
        return ServerTrouble(message, code, status)
    return Refused(message, code, status)


STRIKES = 3
"""Answers of 500 to one batch before it is halved (or, a single op, parked)."""
UNREADABLE = "invalid_message"
"""The server's code for a batch it cannot read: halved at once (or, a single op, parked)."""


class SyncEngine:
    """One kiosk's push, pull and reconcile against the server it enrolled with.

    A batch the server keeps failing on (500, three times) or cannot read (400
    `invalid_message`, at once) is halved, down to a single operation, which is then parked
    so the ones behind it drain. `instance`, random for each
    engine (each kiosk process), goes with every push so the server can tell a cloned card.
    """

    def __init__(
        self,
        store: SyncStore,
        session: requests.Session | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        batch_ops: int = MAX_BATCH_OPS,
        max_batch_bytes: int = codec.MAX_BODY_BYTES,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.session = session or requests.Session()
        self.timeout = (connect_timeout, read_timeout)
        self.batch_ops = batch_ops
        self.max_batch_bytes = max_batch_bytes
        self.clock = clock
        self.stats = WireStats()
        self.instance = secrets.token_hex(8)
        self._limit = batch_ops
        self._strikes: dict[tuple[int, int], int] = {}

    # --- HTTP -----------------------------------------------------------------------

    def _send(
        self,
        server_url: str,
        token: str | None,
        method: str,
        path: str,
        body: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        headers = {PROTOCOL_HEADER: str(PROTOCOL_VERSION), "Accept-Encoding": "gzip"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["Content-Encoding"] = "gzip"
        url = server_url.rstrip("/") + API_PREFIX + path
        self.stats.requests += 1
        self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
        self.stats.bytes_sent += len(body or b"")
        try:
            response = self.session.request(
                method, url, data=body, params=params, headers=headers, timeout=self.timeout
            )
            content = response.content
        except requests.RequestException as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}", "unreachable") from exc
        wire_length = response.headers.get("Content-Length")
        self.stats.bytes_received += int(wire_length) if wire_length else len(content)
        if response.status_code >= 400:
            raise _error_from(response)
        try:
            return json.loads(content)
        except ValueError as exc:
            raise Unreachable(f"unreadable answer from {path}: {exc}", "bad_response") from exc

    def _creds(self) -> Credentials:
        creds = self.store.credentials()
        if creds is None:
            raise NotEnrolled("this kiosk is not enrolled with a server", "not_enrolled")
        return creds

    # --- operations -------------------------------------------------------------------

    def push(self) -> int:
        """Push every pending operation in batches; return how many were answered."""
        creds = self._creds()
        self.store.retry_parked(self.clock())
        answered = 0
        limit = self._limit
        while True:
            pending = self.store.pending_ops(limit)
            if not pending:
                self._limit = self.batch_ops  # whatever failed is answered or parked
                return answered
            raw, sent = self._batch(pending)
            try:
                data = self._send(
                    creds.server_url, creds.token, "POST", "/push", codec.gzip_bytes(raw)
                )
            except Refused as exc:
                if exc.code == "body_too_large" and limit > 1:
                    limit = max(1, limit // 2)
                    continue
                if exc.code == UNREADABLE:
                    self._set_aside(pending[0], sent, exc)
                    limit = self._limit
                    continue
                raise
            except ServerTrouble as exc:
                if exc.status != 500 or not self._struck(pending[0], sent, exc):
                    raise
                limit = self._limit
                continue
            try:
                response = PushResponse.model_validate(data)
            except ValidationError as exc:
                raise Unreachable(f"unreadable push answer: {exc}", "bad_response") from exc
            self._strikes.clear()
            if self.store.apply_push(response):
                raise ServerLostHistory(
                    f"the server holds this kiosk's operations only up to {response.last_seq} "
                    "(restored from an older backup); the queue continues after it",
                    "server_lost_history",
                )
            answered += len(response.results)
            if not response.results and response.resend_from is None:
                raise Refused("the server answered no operation of the batch", "no_progress")

    def _struck(self, head: PendingOp, size: int, exc: ServerTrouble) -> bool:
        """Count a 500 on this batch; True when it was halved or its one op parked."""
        first = head.seq
        key = (first, size)
        self._strikes[key] = self._strikes.get(key, 0) + 1
        if self._strikes[key] < STRIKES and not head.retry:
            return False
        self._strikes.clear()
        if size > 1:
            self._limit = max(1, size // 2)
            log.warning("the server keeps failing on %d operations; trying %d", size, self._limit)
        else:
            self.store.park(first, exc.detail)
            self._limit = self.batch_ops
            log.warning("operation %d parked after %d failures: %s", first, STRIKES, exc.detail)
        return True

    def _set_aside(self, head: PendingOp, size: int, exc: Refused) -> None:
        """The server cannot read the batch: halve it until the one op it cannot read is
        alone, and park that op so the ones behind it drain (it is retried later, and goes
        through once the server is updated)."""
        # A server older than one of this kiosk's operation types refuses the whole batch
        # rather than the op (servers since checkin.create answer an unknown type alone).
        self._strikes.clear()
        if size > 1:
            self._limit = max(1, size // 2)
            log.warning("the server cannot read %d operations; trying %d", size, self._limit)
        else:
            self.store.park(head.seq, exc.detail)
            self._limit = self.batch_ops
            log.warning("operation %d parked: the server cannot read it: %s", head.seq, exc.detail)

    def _batch(self, pending: list[PendingOp]) -> tuple[bytes, int]:
        head = (
            '{"device_time":'
            + json.dumps(self.clock().isoformat())
            + ',"instance":'
            + json.dumps(self.instance)
            + ',"ops":['
        )
        parts: list[str] = []
        size = len(head.encode()) + 2
        for op in pending:
            length = len(op.body.encode()) + 1
            if parts and size + length > self.max_batch_bytes:
                break
            parts.append(op.body)
            size += length
        return (head + ",".join(parts) + "]}").encode(), len(parts)

    def pull(self) -> int:
        """Pull every page of changes; return how many changes were applied."""
        creds = self._creds()
        applied = 0
        while True:
            cursor = self.store.cursor()
            params: dict[str, str] = {"cursor": cursor} if cursor else {}
            oldest = self.store.oldest_unsettled()
            if oldest is not None:
                params["open_since"] = oldest.isoformat()
            data = self._send(creds.server_url, creds.token, "GET", "/pull", params=params)
            try:
                page = PullResponse.model_validate(data)
            except ValidationError as exc:
                raise Unreachable(f"unreadable pull answer: {exc}", "bad_response") from exc
            self.store.apply_pull(page)
            applied += len(page.changes)
            if not page.more:
                return applied

    def reconcile(self, range_size: int = 256) -> int:
        """Compare digests with the server and requeue what it lacks; return ops requeued."""
        creds = self._creds()
        ranges = self.store.acked_ranges(range_size)
        if not ranges:
            return 0
        body = codec.dumps({"ranges": [r.model_dump() for r in ranges]})
        data = self._send(
            creds.server_url, creds.token, "POST", "/reconcile", codec.gzip_bytes(body)
        )
        try:
            answer = ReconcileResponse.model_validate(data)
        except ValidationError as exc:
            raise Unreachable(f"unreadable reconcile answer: {exc}", "bad_response") from exc
        return self.store.requeue(answer.missing) if answer.missing else 0

    def report_health(self, report: HealthReport) -> HealthAck:
        """Send the kiosk's health report to its server."""
        creds = self._creds()
        body = codec.dumps(report.model_dump(mode="json"))
        data = self._send(creds.server_url, creds.token, "POST", "/health", codec.gzip_bytes(body))
        try:
            return HealthAck.model_validate(data)
        except ValidationError as exc:
            raise Unreachable(f"unreadable health answer: {exc}", "bad_response") from exc

    def sync_once(self) -> SyncOutcome:
        """Push, then pull; record the outcome in the store and return it."""
        try:
            pushed = self.push()
            pulled = self.pull()
        except SyncError as exc:
            outcome = SyncOutcome(False, exc.state, self.clock(), exc.detail)
            self.store.record_sync(outcome)
            raise
        outcome = SyncOutcome(True, "online", self.clock(), None, pushed, pulled)
        self.store.record_sync(outcome)
        return outcome

    def enroll(self, server_url: str, code: str) -> EnrollResponse:
        """Exchange a one-time code for a device token at `server_url`."""
        body = codec.dumps(EnrollRequest(code=code, software="linli-kiosk").model_dump())
        data = self._send(server_url, None, "POST", "/enroll", codec.gzip_bytes(body))
        try:
            return EnrollResponse.model_validate(data)
        except ValidationError as exc:
            raise Unreachable(f"unreadable enrolment answer: {exc}", "bad_response") from exc


class SyncWorker:
    """Runs the engine in the background: on an interval when healthy, with backoff when not.

    `nudge()` (a new local operation) syncs soon: after a short debounce when healthy, and
    when backing off it cuts the remaining wait to at most `nudge_cap` seconds, never to zero.
    """

    def __init__(
        self,
        engine: SyncEngine,
        interval: float = 15.0,
        backoff: Backoff | None = None,
        nudge_cap: float = 10.0,
        debounce: float = 0.2,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.backoff = backoff or Backoff()
        self.nudge_cap = nudge_cap
        self.debounce = debounce
        self._cond = threading.Condition()
        self._nudged = False
        self._stop = False
        self._thread: threading.Thread | None = None

    def nudge(self) -> None:
        """A new local operation exists: sync soon."""
        with self._cond:
            self._nudged = True
            self._cond.notify_all()

    def start(self) -> None:
        """Start the background thread (a daemon: the store is durable without it)."""
        self._thread = threading.Thread(target=self.run, name="linli-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to end and wait for it."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Loop until stopped."""
        while True:
            with self._cond:
                if self._stop:
                    return
                self._nudged = False
            failing = False
            try:
                self.engine.sync_once()
                self.backoff.reset()
                wait = self.interval
            except SyncError as exc:
                failing = True
                wait = self.backoff.next_delay()
                log.warning("sync failed (%s); retrying in %.1f s", exc.detail, wait)
            except Exception:
                failing = True
                wait = self.backoff.next_delay()
                log.exception("sync crashed; retrying in %.1f s", wait)
            self._wait(wait, failing)

    def _wait(self, seconds: float, failing: bool) -> None:
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._stop:
                if self._nudged:
                    self._nudged = False
                    cut = self.nudge_cap if failing else self.debounce
                    deadline = min(deadline, time.monotonic() + cut)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)
