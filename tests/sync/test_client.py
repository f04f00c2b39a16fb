"""The kiosk's sync client (sync/client.py) and its backoff (sync/backoff.py).

The engine runs against the real server app served on loopback by werkzeug in a thread,
behind a small WSGI switchboard that counts requests, records each pushed batch and can
answer errors on demand. The worker's timing is tested on a fake clock: no test waits for
a retry delay to pass, and none asserts how long something took.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

import sync.client
from sync import codec
from sync.backoff import Backoff
from sync.client import (
    Credentials,
    NotEnrolled,
    PendingOp,
    Revoked,
    ServerTrouble,
    SyncEngine,
    SyncError,
    SyncOutcome,
    SyncWorker,
    Unreachable,
    UpdateRequired,
)
from sync.ids import uuid7
from sync.messages import (
    MAX_BATCH_OPS,
    CreateRequestOp,
    MissingRange,
    OpResult,
    PullResponse,
    PushResponse,
    SeqRange,
)
from tests.procs import free_port


@pytest.fixture
def backend() -> str:
    """The client's behaviour does not depend on the server's database: SQLite only."""
    return "sqlite"


# --- backoff ------------------------------------------------------------------------------


class TopOfRange(random.Random):
    """A 'random' source that always picks the top of the range: shows each ceiling."""

    def uniform(self, a: float, b: float) -> float:
        """The upper bound."""
        return b


def test_first_delay_is_at_most_the_base() -> None:
    for seed in range(300):
        delay = Backoff(rng=random.Random(seed)).next_delay()
        assert 0 < delay <= 2.0, (seed, delay)
    assert Backoff(rng=TopOfRange()).next_delay() == 2.0


def test_ceiling_doubles_then_caps_at_300_seconds() -> None:
    backoff = Backoff(rng=TopOfRange())
    ceilings = [backoff.next_delay() for _ in range(12)]
    assert ceilings == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]
    many = Backoff(rng=random.Random(7))
    assert all(0 < many.next_delay() <= 300 for _ in range(5000))


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    backoff = Backoff(rng=random.Random(11))
    for _ in range(20):
        backoff.next_delay()
    delays = [backoff.next_delay() for _ in range(2000)]
    assert min(delays) >= backoff.floor
    assert min(delays) < 15
    assert max(delays) > 285
    below_half = sum(d < 150 for d in delays) / len(delays)
    assert 0.4 < below_half < 0.6, below_half
    assert len({round(d, 3) for d in delays}) > 1900


def test_success_resets_the_backoff() -> None:
    backoff = Backoff(rng=TopOfRange())
    for _ in range(15):
        backoff.next_delay()
    assert backoff.next_delay() == 300
    backoff.reset()
    assert backoff.next_delay() == 2.0
    assert backoff.next_delay() == 4.0


def test_kiosk_defaults_and_wiring_keep_the_promised_bounds() -> None:
    from kiosk.config import KioskSettings
    from kiosk.runtime import build_worker

    settings = KioskSettings()
    assert settings.BACKOFF_BASE <= 2
    assert settings.BACKOFF_CAP <= 300
    engine = SyncEngine(FakeStore())
    try:
        worker = build_worker(engine, settings)
        assert worker.backoff.base <= 2
        assert worker.backoff.cap <= 300
        assert 0 < worker.nudge_cap == settings.NUDGE_CAP
    finally:
        engine.session.close()


def test_backoff_refuses_nonsense_bounds() -> None:
    for base, cap, floor in [(0, 300, 0.2), (2, 1, 0.2), (2, 300, 0), (2, 300, 3)]:
        with pytest.raises(ValueError, match="backoff"):
            Backoff(base=base, cap=cap, floor=floor)


# --- the worker, on a fake clock ----------------------------------------------------------


class FakeClock:
    """Monotonic time that moves only when the worker waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.alarms: list[tuple[float, Callable[[], None]]] = []

    def monotonic(self) -> float:
        """The current fake time."""
        return self.now

    def at(self, moment: float, action: Callable[[], None]) -> None:
        """Run `action` when fake time reaches `moment` (as if another thread did it)."""
        self.alarms.append((moment, action))
        self.alarms.sort(key=lambda alarm: alarm[0])


class FakeCondition:
    """Stands in for the worker's Condition: `wait` jumps the fake clock to the timeout or
    to the next alarm, whichever comes first, and runs that alarm."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __enter__(self) -> FakeCondition:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def notify_all(self) -> None:
        """Nothing to wake: there is one thread."""

    def wait(self, timeout: float) -> bool:
        """Sleep in fake time, woken early by an alarm."""
        assert timeout > 0, "the worker waited for no time at all"
        self.waits.append(timeout)
        end = self.clock.now + timeout
        if self.clock.alarms and self.clock.alarms[0][0] <= end:
            moment, action = self.clock.alarms.pop(0)
            self.clock.now = max(self.clock.now, moment)
            action()
            return True
        self.clock.now = end
        return False


class ScriptedEngine:
    """Answers `sync_once` from a script, noting the fake time of each call."""

    def __init__(self, clock: FakeClock, script: Iterable[BaseException | None]) -> None:
        self.clock = clock
        self.script = list(script)
        self.calls: list[float] = []
        self.worker: SyncWorker | None = None

    def sync_once(self) -> SyncOutcome:
        """Raise or succeed as scripted; stop the worker when the script ends."""
        self.calls.append(self.clock.now)
        step = self.script.pop(0)
        if not self.script and self.worker is not None:
            self.worker.stop()
        if step is not None:
            raise step
        return SyncOutcome(True, "online", datetime.now(UTC))


FAIL = Unreachable("connection refused", "unreachable")


class FixedBackoff(Backoff):
    """Always the same delay, counting failures and resets."""

    def __init__(self, delay: float) -> None:
        super().__init__(base=delay, cap=delay, floor=delay)
        self.resets = 0

    def next_delay(self) -> float:
        """`delay` seconds."""
        self.attempt += 1
        return self.base

    def reset(self) -> None:
        """Count the reset."""
        self.resets += 1
        super().reset()


def run_worker(
    monkeypatch: pytest.MonkeyPatch,
    script: Iterable[BaseException | None],
    backoff: Backoff,
    alarms: Iterable[tuple[float, str]] = (),
    interval: float = 15.0,
    nudge_cap: float = 10.0,
    debounce: float = 0.2,
) -> tuple[ScriptedEngine, FakeCondition, SyncWorker]:
    """Run the worker's loop in this thread on a fake clock until the script ends."""
    clock = FakeClock()
    monkeypatch.setattr(sync.client, "time", SimpleNamespace(monotonic=clock.monotonic))
    engine = ScriptedEngine(clock, script)
    worker = SyncWorker(
        engine,  # type: ignore[arg-type]
        interval=interval,
        backoff=backoff,
        nudge_cap=nudge_cap,
        debounce=debounce,
    )
    condition = FakeCondition(clock)
    worker._cond = condition  # type: ignore[assignment]
    engine.worker = worker
    for moment, what in alarms:
        clock.at(moment, {"nudge": worker.nudge, "stop": worker.stop}[what])
    worker.run()
    return engine, condition, worker


def test_nudge_while_failing_cuts_the_wait_to_the_nudge_cap_not_to_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, _, _ = run_worker(
        monkeypatch, [FAIL, None], FixedBackoff(200.0), alarms=[(5.0, "nudge")], nudge_cap=10.0
    )
    assert engine.calls == [0.0, 15.0]


def test_nudge_at_once_after_a_failure_still_waits_the_nudge_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, _, _ = run_worker(
        monkeypatch, [FAIL, None], FixedBackoff(200.0), alarms=[(0.0, "nudge")], nudge_cap=10.0
    )
    assert engine.calls == [0.0, 10.0]


def test_nudge_never_lengthens_a_shorter_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _, _ = run_worker(
        monkeypatch, [FAIL, None], FixedBackoff(8.0), alarms=[(5.0, "nudge")], nudge_cap=10.0
    )
    assert engine.calls == [0.0, 8.0]


def test_nudge_when_healthy_syncs_after_the_debounce(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _, _ = run_worker(
        monkeypatch,
        [None, None],
        FixedBackoff(200.0),
        alarms=[(3.0, "nudge")],
        interval=15.0,
        debounce=0.2,
    )
    assert engine.calls == pytest.approx([0.0, 3.2])


def test_without_nudges_the_worker_waits_the_interval_or_the_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backoff = FixedBackoff(40.0)
    engine, _, _ = run_worker(monkeypatch, [None, FAIL, FAIL, None, None], backoff, interval=15.0)
    assert engine.calls == [0.0, 15.0, 55.0, 95.0, 110.0]
    assert backoff.resets == 3


def test_stop_ends_a_long_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, condition, _ = run_worker(
        monkeypatch, [FAIL, None], FixedBackoff(200.0), alarms=[(30.0, "stop")]
    )
    assert engine.calls == [0.0]
    assert condition.waits == [200.0]


def test_worker_retries_forever_through_every_kind_of_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failures: list[BaseException] = [
        Unreachable("down", "unreachable"),
        ServerTrouble("503", "maintenance"),
        Revoked("401", "revoked_token"),
        UpdateRequired("400", "unsupported_protocol"),
        RuntimeError("a bug in the store"),
        OSError("disk trouble"),
    ] * 5
    backoff = Backoff(rng=random.Random(3))
    engine, _, _ = run_worker(monkeypatch, [*failures, None, None], backoff, interval=15.0)
    assert len(engine.calls) == len(failures) + 2
    gaps = [b - a for a, b in zip(engine.calls, engine.calls[1:], strict=False)]
    assert all(0 < gap <= 300 for gap in gaps[: len(failures)]), gaps
    assert max(gaps) > 100, "thirty failures in a row should reach long delays"
    assert gaps[-1] == 15.0, "after the success the worker waits the interval"
    assert backoff.attempt == 0


class Flaky:
    """An engine for a real thread: fails until told otherwise, and signals each call."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.called = threading.Condition()

    def sync_once(self) -> SyncOutcome:
        """Fail the first `failures` calls."""
        with self.called:
            self.calls += 1
            self.called.notify_all()
        if self.calls <= self.failures:
            raise FAIL
        return SyncOutcome(True, "online", datetime.now(UTC))

    def wait_for(self, calls: int, timeout: float = 30.0) -> bool:
        """Wait until `calls` calls were made (False after `timeout` seconds)."""
        with self.called:
            return self.called.wait_for(lambda: self.calls >= calls, timeout)


def test_nudge_wakes_a_real_worker_thread_from_a_long_backoff() -> None:
    engine = Flaky(failures=1)
    worker = SyncWorker(
        engine,  # type: ignore[arg-type]
        backoff=FixedBackoff(3600.0),
        nudge_cap=0.05,
    )
    worker.start()
    try:
        assert engine.wait_for(1)
        worker.nudge()
        # The backoff was an hour; only the nudge can bring the second attempt.
        assert engine.wait_for(2), "the nudge did not wake the worker"
    finally:
        worker.stop()
    assert worker._thread is not None
    assert not worker._thread.is_alive()


# --- the engine against a real server -----------------------------------------------------


@dataclass
class Call:
    """One HTTP request as the switchboard saw it."""

    method: str
    path: str
    status: int
    ops: int | None = None
    decoded_bytes: int | None = None


class Switchboard:
    """WSGI middleware before the real app: records calls and can answer instead of it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.calls: list[Call] = []
        self.override: tuple[int, bytes, str] | None = None
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        call = Call(environ["REQUEST_METHOD"], environ["PATH_INFO"], 0)
        if environ["PATH_INFO"].endswith("/push"):
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(raw)
            decoded = gzip.decompress(raw) if environ.get("HTTP_CONTENT_ENCODING") else raw
            call.ops = len(json.loads(decoded)["ops"])
            call.decoded_bytes = len(decoded)
        with self.lock:
            self.calls.append(call)
        if self.override is not None:
            status, body, content_type = self.override
            call.status = status
            start_response(f"{status} Override", [("Content-Type", content_type)])
            return [body]

        def recording_start(status: str, headers: Any, *rest: Any) -> Any:
            call.status = int(status.split()[0])
            return start_response(status, headers, *rest)

        return self.app(environ, recording_start)


@dataclass
class Live:
    """The real app served on loopback, its switchboard and an enrolled kiosk."""

    url: str
    board: Switchboard
    token: str
    app: Flask


@pytest.fixture
def live(app: Flask, enrolled: dict[str, Any]) -> Iterator[Live]:
    """The server app on 127.0.0.1 (a free port) in a thread, with an enrolled kiosk."""
    board = Switchboard(app)
    httpd = make_server("127.0.0.1", 0, board, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="test-server", daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{httpd.server_port}", board, enrolled["token"], app)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


class FakeStore:
    """The SyncStore protocol in memory: an outbox, the answers, the pulled pages."""

    def __init__(self, creds: Credentials | None = None) -> None:
        self.creds = creds
        self.outbox: dict[int, str] = {}
        self.answers: dict[int, OpResult] = {}
        self.pages: list[PullResponse] = []
        self.outcomes: list[SyncOutcome] = []
        self.requeued: list[MissingRange] = []
        self.parked: dict[int, str] = {}

    def add_ops(self, count: int, details: str | None = None) -> None:
        """Append `count` request.create operations to the outbox."""
        start = len(self.outbox) + 1
        for seq in range(start, start + count):
            op = CreateRequestOp.model_validate(
                {
                    "op_id": uuid7(),
                    "seq": seq,
                    "type": "request.create",
                    "at": datetime.now(UTC),
                    "payload": {
                        "category": "electrical",
                        "room": "3-2-301",
                        "ticket": f"A-{seq % 10000:04d}",
                        "details": details,
                    },
                }
            )
            self.outbox[seq] = op.model_dump_json()

    def credentials(self) -> Credentials | None:
        """The fake enrolment."""
        return self.creds

    def pending_ops(self, limit: int) -> list[PendingOp]:
        """Unanswered operations in seq order."""
        pending = [
            PendingOp(s, b)
            for s, b in sorted(self.outbox.items())
            if s not in self.answers and s not in self.parked
        ]
        return pending[:limit]

    def apply_push(self, response: PushResponse) -> None:
        """Keep each answer; forget answers from `resend_from` on."""
        for result in response.results:
            self.answers[result.seq] = result
        if response.resend_from is not None:
            for seq in [s for s in self.answers if s >= response.resend_from]:
                del self.answers[seq]

    def park(self, seq: int, error: str) -> None:
        """Set the op aside (the fake keeps its seq: the real store renumbers)."""
        self.parked[seq] = error

    def retry_parked(self, now: datetime) -> int:
        """Parked ops stay parked in the fake."""
        return 0

    def cursor(self) -> str | None:
        """The last page's cursor."""
        return self.pages[-1].cursor if self.pages else None

    def oldest_unsettled(self) -> datetime | None:
        """The fake holds no requests."""
        return None

    def apply_pull(self, page: PullResponse) -> None:
        """Keep the page."""
        self.pages.append(page)

    def acked_ranges(self, size: int) -> list[SeqRange]:
        """Nothing to reconcile in these tests."""
        return []

    def requeue(self, ranges: list[MissingRange]) -> int:
        """Note the ranges."""
        self.requeued += ranges
        return 0

    def record_sync(self, outcome: SyncOutcome) -> None:
        """Keep the outcome."""
        self.outcomes.append(outcome)


@pytest.fixture
def make_engine() -> Iterator[Callable[..., SyncEngine]]:
    """Engines on fake stores; every engine's HTTP session is closed afterwards."""
    engines: list[SyncEngine] = []

    def factory(store: FakeStore, **options: Any) -> SyncEngine:
        engine = SyncEngine(store, connect_timeout=5, read_timeout=60, **options)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.session.close()


def enrolled_store(live: Live, token: str | None = None) -> FakeStore:
    """A fake store holding the live server's URL and the kiosk's token."""
    return FakeStore(Credentials(live.url, token or live.token))


def server_request_count(app: Flask) -> int:
    """Help requests the server holds."""
    import sqlalchemy as sa

    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        count = db.session.execute(sa.select(sa.func.count()).select_from(HelpRequest)).scalar_one()
        db.session.remove()
    return int(count)


def test_a_sync_with_nothing_to_push_is_one_pull_request(
    live: Live, make_engine: Callable[..., SyncEngine]
) -> None:
    store = enrolled_store(live)
    engine = make_engine(store)
    first = engine.sync_once()
    assert first.ok
    assert first.pulled == 15, "9 categories, 5 rooms and the community"
    assert engine.stats.requests == 1
    assert [(c.method, c.path) for c in live.board.calls] == [("GET", "/api/sync/v1/pull")]
    live.board.calls.clear()
    again = engine.sync_once()
    assert (again.ok, again.pushed, again.pulled) == (True, 0, 0)
    assert engine.stats.requests == 2
    assert [(c.method, c.path, c.status) for c in live.board.calls] == [
        ("GET", "/api/sync/v1/pull", 200)
    ]
    assert store.outcomes[-1].state == "online"


def test_push_sends_at_most_500_operations_per_request(
    live: Live, make_engine: Callable[..., SyncEngine]
) -> None:
    store = enrolled_store(live)
    store.add_ops(1201)
    engine = make_engine(store)
    outcome = engine.sync_once()
    assert outcome.pushed == 1201
    pushes = [c for c in live.board.calls if c.path.endswith("/push")]
    assert [c.ops for c in pushes] == [MAX_BATCH_OPS, MAX_BATCH_OPS, 201]
    assert all(c.status == 200 for c in pushes)
    assert {r.status for r in store.answers.values()} == {"applied"}
    assert server_request_count(live.app) == 1201


def test_push_keeps_each_batch_under_1_mib_decoded(
    live: Live, make_engine: Callable[..., SyncEngine]
) -> None:
    store = enrolled_store(live)
    store.add_ops(600, details="灯" * 2000)
    engine = make_engine(store)
    assert engine.sync_once().pushed == 600
    pushes = [c for c in live.board.calls if c.path.endswith("/push")]
    assert len(pushes) > 2, "6 KB operations cannot fit 500 to a MiB"
    assert all(c.decoded_bytes is not None for c in pushes)
    assert all(0 < (c.decoded_bytes or 0) <= codec.MAX_BODY_BYTES for c in pushes)
    assert all(c.status == 200 for c in pushes), [c.status for c in pushes]
    assert sum(c.ops or 0 for c in pushes) == 600
    assert server_request_count(live.app) == 600


def test_body_too_large_halves_the_batch_until_it_fits(
    live: Live, make_engine: Callable[..., SyncEngine]
) -> None:
    store = enrolled_store(live)
    store.add_ops(500, details="x" * 2000)
    # An engine that believes in a 4 MiB limit: the server's 413 must teach it otherwise.
    engine = make_engine(store, max_batch_bytes=4 * codec.MAX_BODY_BYTES)
    assert engine.sync_once().pushed == 500
    pushes = [(c.ops, c.status) for c in live.board.calls if c.path.endswith("/push")]
    assert pushes == [(500, 413), (250, 200), (250, 200)]
    assert len(store.answers) == 500
    assert server_request_count(live.app) == 500


def test_wrong_token_is_revoked(live: Live, make_engine: Callable[..., SyncEngine]) -> None:
    store = enrolled_store(live, token="not-this-kiosks-token")
    store.add_ops(1)
    engine = make_engine(store)
    with pytest.raises(Revoked) as caught:
        engine.sync_once()
    assert caught.value.state == "revoked"
    assert caught.value.code == "unknown_token"
    assert store.outcomes[-1].state == "revoked"
    assert not store.outcomes[-1].ok
    assert store.pending_ops(10), "nothing may be dropped from the outbox"


def test_revoked_kiosk_is_revoked(live: Live, make_engine: Callable[..., SyncEngine]) -> None:
    from server.extensions import db
    from server.kiosks.services import revoke

    with live.app.app_context():
        revoke("hall")
        db.session.commit()
        db.session.remove()
    store = enrolled_store(live)
    engine = make_engine(store)
    with pytest.raises(Revoked) as caught:
        engine.sync_once()
    assert caught.value.code == "revoked_token"
    assert store.outcomes[-1].state == "revoked"


def test_unsupported_protocol_means_update_required(
    live: Live, make_engine: Callable[..., SyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync.client, "PROTOCOL_VERSION", 2)
    store = enrolled_store(live)
    engine = make_engine(store)
    with pytest.raises(UpdateRequired) as caught:
        engine.sync_once()
    assert caught.value.state == "update_required"
    assert "1" in caught.value.detail
    assert store.outcomes[-1].state == "update_required"


@pytest.mark.parametrize(
    ("status", "body", "content_type", "code"),
    [
        (
            500,
            b'{"error": "internal_error", "detail": "boom"}',
            "application/json",
            "internal_error",
        ),
        (
            503,
            b'{"error": "maintenance", "detail": "back soon"}',
            "application/json",
            "maintenance",
        ),
        (502, b"<html>Bad Gateway</html>", "text/html", "http_error"),
        (
            429,
            b'{"error": "rate_limited", "detail": "slow down"}',
            "application/json",
            "rate_limited",
        ),
    ],
)
def test_server_errors_are_server_trouble(
    live: Live,
    make_engine: Callable[..., SyncEngine],
    status: int,
    body: bytes,
    content_type: str,
    code: str,
) -> None:
    live.board.override = (status, body, content_type)
    store = enrolled_store(live)
    store.add_ops(2)
    engine = make_engine(store)
    with pytest.raises(ServerTrouble) as caught:
        engine.sync_once()
    assert caught.value.state == "server_error"
    assert caught.value.code == code
    assert str(status) in caught.value.detail
    assert store.outcomes[-1].state == "server_error"
    assert len(store.pending_ops(10)) == 2


def test_unreadable_success_is_unreachable(
    live: Live, make_engine: Callable[..., SyncEngine]
) -> None:
    live.board.override = (200, b"<html>captive portal</html>", "text/html")
    store = enrolled_store(live)
    engine = make_engine(store)
    with pytest.raises(Unreachable) as caught:
        engine.sync_once()
    assert caught.value.code == "bad_response"
    assert store.outcomes[-1].state == "offline"


def test_connection_refused_is_unreachable(make_engine: Callable[..., SyncEngine]) -> None:
    store = FakeStore(Credentials(f"http://127.0.0.1:{free_port()}", "token"))
    store.add_ops(3)
    engine = make_engine(store)
    with pytest.raises(Unreachable) as caught:
        engine.sync_once()
    assert caught.value.state == "offline"
    assert caught.value.code == "unreachable"
    assert engine.stats.requests == 1
    assert store.outcomes[-1].state == "offline"
    assert len(store.pending_ops(10)) == 3


def test_not_enrolled_makes_no_request(make_engine: Callable[..., SyncEngine]) -> None:
    store = FakeStore(None)
    engine = make_engine(store)
    with pytest.raises(NotEnrolled):
        engine.sync_once()
    assert engine.stats.requests == 0
    assert store.outcomes[-1].state == "not_enrolled"


def test_every_sync_error_names_a_status_state() -> None:
    states = {cls.state for cls in (Unreachable, ServerTrouble, Revoked, UpdateRequired)}
    assert states == {"offline", "server_error", "revoked", "update_required"}
    assert all(issubclass(cls, SyncError) for cls in (Unreachable, Revoked, NotEnrolled))


def test_enroll_through_the_engine(
    live: Live, make_engine: Callable[..., SyncEngine], community: dict[str, Any]
) -> None:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with live.app.app_context():
        _, code = new_enrollment_code("lanqiao", "porch", 24)
        db.session.commit()
        db.session.remove()
    engine = make_engine(FakeStore(None))
    answer = engine.enroll(live.url + "/", code)
    assert (answer.name, answer.community) == ("porch", "lanqiao")
    store = FakeStore(Credentials(live.url, answer.token))
    assert make_engine(store).sync_once().ok
