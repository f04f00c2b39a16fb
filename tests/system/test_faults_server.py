"""Faults between kiosk and server, on real processes and both server databases.

A fault proxy sits between an in-process kiosk (its durable store and sync engine) and a real
`linli server run` process. Each test proves one promise of the sync design under a fault:
every request reaches the server exactly once, whatever the network, concurrency, a killed
server or a restored backup do to the exchange, and one bad operation never blocks the queue.
"""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from kiosk.store import Store
from sync.client import ServerTrouble, SyncEngine, SyncError, Unreachable
from sync.ids import format_ticket, uuid7
from sync.messages import PushResponse
from tests.faultproxy import (
    DELAY,
    DROP_REQUEST,
    DROP_RESPONSE,
    DUPLICATE,
    ERROR_500,
    PASS,
    RESET,
    TRUNCATE,
    FaultProxy,
    ProxiedRequest,
)
from tests.procs import ServerProc

H = {"Linli-Protocol": "1"}
ROOM_CODES = {"3-2-301", "3-2-302", "3-1-101", "1-1-101", "1-1-102"}
ROOMS_CSV = "building,unit,room\n" + "".join(
    code.replace("-", ",") + "\n" for code in sorted(ROOM_CODES)
)
CATEGORY_COUNT = 9  # categories seeded by the initial migration


# --- the server's side ----------------------------------------------------------------------


@contextmanager
def server_db(app: Flask) -> Iterator[None]:
    """Work on the server's database in process (faster than the CLI); committed on success."""
    from server.extensions import db

    with app.app_context():
        try:
            yield
            db.session.commit()
        finally:
            db.session.remove()
            # No idle connection may stay behind: PostgreSQL copies a database only when
            # nobody is connected to it (the backup tests do that).
            db.engine.dispose()


def enrollment_code(app: Flask, name: str) -> str:
    """A one-time code for a new kiosk of `lanqiao`."""
    from server.kiosks.services import new_enrollment_code

    with server_db(app):
        return new_enrollment_code("lanqiao", name, 1)[1]


def staff_token(app: Flask) -> str:
    """A staff API token for every community."""
    from server.staffapi.services import create_api_token

    with server_db(app):
        return create_api_token("faults", [])[1]


def add_room(app: Flask, building: str, unit: str, room: str) -> None:
    """Add a room to `lanqiao` through the services, as staff would."""
    from server.communities.services import community_by_slug, import_rooms, parse_rooms_csv

    with server_db(app):
        rows = parse_rooms_csv(f"building,unit,room\n{building},{unit},{room}\n", "new.csv")
        import_rooms(community_by_slug("lanqiao"), rows)


@pytest.fixture
def server_proc(database_url: str, tmp_path: Path, app: Flask) -> Iterator[ServerProc]:
    """A real server process, as conftest's `server_proc`, with `lanqiao` made in process.

    The two `linli server` set-up commands conftest runs cost seconds each on a loaded
    machine, for every test here; the services they call are the same.
    """
    from server.communities.services import create_community, import_rooms, parse_rooms_csv

    with server_db(app):
        import_rooms(create_community("lanqiao", "蓝桥社区"), parse_rooms_csv(ROOMS_CSV, "r.csv"))
    server = ServerProc(tmp_path, database_url)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def staff_requests(server_url: str, token: str, limit: int = 25) -> list[dict[str, Any]]:
    """Every request on the server, paging through the staff API's `next_cursor`."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with requests.Session() as session:
        while True:
            params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            answer = session.get(
                server_url + "/api/v1/requests",
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            items.extend(body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                return items


def assert_exactly_once(server_url: str, token: str, expected: list[str]) -> None:
    """The server holds each expected request once, and nothing else."""
    counts = Counter(item["client_id"] for item in staff_requests(server_url, token))
    twice = {client_id: n for client_id, n in counts.items() if n != 1}
    assert not twice, f"requests stored more than once: {twice}"
    missing = set(expected) - set(counts)
    assert not missing, f"{len(missing)} of {len(expected)} requests never reached the server"
    extra = set(counts) - set(expected)
    assert not extra, f"the server holds {len(extra)} requests nobody made"


def db_scalar(database_url: str, sql: str, **params: Any) -> int:
    """One number straight from the server's database (its own engine, disposed after)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql), params).scalar_one())
    finally:
        engine.dispose()


# --- the kiosk's side -----------------------------------------------------------------------


class RecordingStore(Store):
    """The kiosk's real store, also remembering every push answer the engine hands it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.answers: list[PushResponse] = []

    def apply_push(self, response: PushResponse) -> bool:
        """Remember the answer, then record it as the kiosk does."""
        self.answers.append(response)
        return super().apply_push(response)


@dataclass
class Kiosk:
    """An in-process kiosk: its durable store and its sync engine."""

    store: RecordingStore
    engine: SyncEngine

    def create(self, count: int, room: str = "3-2-301") -> list[str]:
        """Save `count` requests durably (each with its outbox operation); their ids."""
        return [self.store.create_request("electrical", room).id for _ in range(count)]

    def statuses_since(self, answer_index: int) -> list[tuple[str, str | None]]:
        """(status, original) of every operation answered since push answer `answer_index`."""
        return [
            (r.status, r.original) for a in self.store.answers[answer_index:] for r in a.results
        ]

    def outbox(self) -> dict[str, int]:
        """How many outbox operations are in each state."""
        with closing(sqlite3.connect(self.store.path)) as conn:
            rows = conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
        return {state: count for state, count in rows}

    def local_requests(self) -> dict[str, str]:
        """Status of every request made at this kiosk, by id (its table also holds those of the
        community's other kiosks, pulled to show them)."""
        with closing(sqlite3.connect(self.store.path)) as conn:
            rows = conn.execute("SELECT id, status FROM requests WHERE origin = 'kiosk'")
            return dict(rows.fetchall())


@pytest.fixture
def kiosks(tmp_path: Path, app: Flask, server_proc: ServerProc) -> Iterator[Callable[..., Kiosk]]:
    """Enrol in-process kiosks with the server, syncing through `sync_url` (default direct)."""
    made: list[Kiosk] = []

    def enrol(name: str = "hall", sync_url: str | None = None, batch_ops: int = 500) -> Kiosk:
        store = RecordingStore(tmp_path / f"kiosk-{name}" / "kiosk.sqlite3")
        engine = SyncEngine(store, connect_timeout=2, read_timeout=20, batch_ops=batch_ops)
        kiosk = Kiosk(store, engine)
        made.append(kiosk)
        # Enrolment itself goes straight to the server; every sync after it uses `sync_url`.
        answer = engine.enroll(server_proc.url, enrollment_code(app, name))
        store.save_enrollment(sync_url or server_proc.url, answer)
        engine.sync_once()
        assert {r["code"] for r in store.rooms()} == ROOM_CODES
        return kiosk

    yield enrol
    for kiosk in made:
        kiosk.engine.session.close()
        kiosk.store.close()


@pytest.fixture
def proxy(server_proc: ServerProc) -> Iterator[FaultProxy]:
    """A fault proxy in front of the server process (its port survives restarts)."""
    with FaultProxy("127.0.0.1", server_proc.port) as fault_proxy:
        yield fault_proxy


# --- a bare device over HTTP, for pushes the test times and repeats -------------------------


@dataclass(frozen=True)
class Device:
    """A kiosk identity enrolled over plain HTTP."""

    id: int
    token: str
    prefix: str


def enrol_device(app: Flask, server_url: str, name: str) -> Device:
    """Enrol a device through the sync API with a fresh code."""
    answer = requests.post(
        server_url + "/api/sync/v1/enroll",
        json={"code": enrollment_code(app, name)},
        headers=H,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return Device(int(body["device_id"]), str(body["token"]), str(body["ticket_prefix"]))


def batch(device: Device, first_seq: int, count: int) -> tuple[bytes, list[str]]:
    """A gzipped push body of `count` new requests from `first_seq` on; and their ids."""
    ops = [
        {
            "op_id": str(uuid7()),
            "seq": seq,
            "type": "request.create",
            "at": datetime.now(UTC).isoformat(),
            "payload": {
                "category": "plumbing",
                "room": "3-2-302",
                "ticket": format_ticket(device.prefix, seq),
            },
        }
        for seq in range(first_seq, first_seq + count)
    ]
    body = json.dumps({"device_time": datetime.now(UTC).isoformat(), "ops": ops}).encode()
    return gzip.compress(body), [str(op["op_id"]) for op in ops]


def push_raw(
    session: requests.Session, server_url: str, device: Device, body: bytes
) -> requests.Response:
    """POST a gzipped batch exactly as the kiosk engine does."""
    return session.post(
        server_url + "/api/sync/v1/push",
        data=body,
        headers={
            **H,
            "Authorization": f"Bearer {device.token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=(5, 60),
    )


# --- 1. every fault mode on the first push --------------------------------------------------

APPLIED = ("applied", None)
REPLAYED = ("duplicate", "applied")
# mode -> (the first sync fails, the server stored the batch, how the kiosk hears of each op).
# A batch the server committed before the fault comes back as duplicates of applied ops.
FAULTS = {
    DROP_REQUEST: (True, False, APPLIED),
    DROP_RESPONSE: (True, True, REPLAYED),
    DELAY: (False, True, APPLIED),
    TRUNCATE: (True, True, REPLAYED),
    RESET: (True, True, REPLAYED),
    ERROR_500: (True, False, APPLIED),
    DUPLICATE: (False, True, REPLAYED),
}


def test_every_fault_on_a_push_ends_with_each_request_stored_once(
    server_proc: ServerProc, app: Flask, kiosks: Callable[..., Kiosk], proxy: FaultProxy
) -> None:
    kiosk = kiosks(sync_url=proxy.url)
    token = staff_token(app)
    proxy.set_mode(PASS, delay=0.5)
    made: list[str] = []
    for mode, (fails, stored, heard) in FAULTS.items():
        ids = kiosk.create(5)
        made += ids
        answered = len(kiosk.store.answers)
        proxy.schedule([mode])
        if fails:
            with pytest.raises(SyncError) as caught:
                kiosk.engine.sync_once()
            expected_error = ServerTrouble if mode == ERROR_500 else Unreachable
            assert isinstance(caught.value, expected_error), (mode, caught.value)
            assert kiosk.outbox().get("pending") == 5, mode
        else:
            kiosk.engine.sync_once()
        faulted = [entry for entry in proxy.log if entry.mode == mode]
        assert len(faulted) == 1, (mode, faulted)
        assert faulted[0].path.startswith("/api/sync/v1/push"), (mode, faulted)
        on_server = {i["client_id"] for i in staff_requests(server_proc.url, token)}
        assert len(set(ids) & on_server) == (5 if stored else 0), mode

        kiosk.engine.sync_once()

        assert kiosk.outbox() == {"applied": len(made)}, mode
        assert kiosk.statuses_since(answered) == [heard] * 5, mode
        assert_exactly_once(server_proc.url, token, made)
        assert set(kiosk.local_requests().values()) == {"received"}, mode
    assert proxy.stats.by_mode[DUPLICATE] == 1
    applied = db_scalar(server_proc.database_url, "SELECT count(*) FROM applied_op")
    assert applied == len(made)
    assert db_scalar(server_proc.database_url, "SELECT count(*) FROM sync_conflict") == 0


# --- 2. a response lost after the commit, inside a multi-batch push ---------------------------


def test_response_lost_after_commit_is_replayed_as_duplicate(
    server_proc: ServerProc, app: Flask, kiosks: Callable[..., Kiosk], proxy: FaultProxy
) -> None:
    kiosk = kiosks(sync_url=proxy.url, batch_ops=10)
    token = staff_token(app)
    ids = kiosk.create(25)
    pushes = 0

    def lose_second_push_answer(request: ProxiedRequest) -> str:
        nonlocal pushes
        if "/push" not in request.path:
            return PASS
        pushes += 1
        return DROP_RESPONSE if pushes == 2 else PASS

    proxy.set_policy(lose_second_push_answer)
    with pytest.raises(Unreachable):
        kiosk.engine.sync_once()
    # The first batch was acknowledged; the second was committed but its answer was lost.
    assert kiosk.outbox() == {"applied": 10, "pending": 15}
    assert len(staff_requests(server_proc.url, token)) == 20

    answered = len(kiosk.store.answers)
    kiosk.engine.sync_once()

    replay, last = kiosk.store.answers[answered:]
    assert [(r.seq, r.status, r.original) for r in replay.results] == [
        (seq, "duplicate", "applied") for seq in range(11, 21)
    ]
    assert all(r.result == {"status": "received"} for r in replay.results), replay
    assert [(r.seq, r.status) for r in last.results] == [(seq, "applied") for seq in range(21, 26)]
    assert kiosk.outbox() == {"applied": 25}
    assert set(kiosk.local_requests().values()) == {"received"}
    assert_exactly_once(server_proc.url, token, ids)
    assert db_scalar(server_proc.database_url, "SELECT count(*) FROM sync_conflict") == 0
    assert pushes == 4


# --- 3. the same batch pushed fifty times at once --------------------------------------------


def test_fifty_concurrent_identical_pushes_store_each_op_once(
    server_proc: ServerProc, app: Flask
) -> None:
    device = enrol_device(app, server_proc.url, "busy")
    token = staff_token(app)
    body, ids = batch(device, 1, 20)
    # All fifty wait on one lock: SQLite's busy timeout, or the kiosk's row on PostgreSQL.
    threads = 50
    start = threading.Barrier(threads)
    answers: list[tuple[int, dict[str, Any]] | BaseException] = [ValueError("no answer")] * threads

    def send(slot: int) -> None:
        try:
            with requests.Session() as session:
                start.wait(timeout=30)
                response = push_raw(session, server_proc.url, device, body)
                answers[slot] = (response.status_code, response.json())
        except Exception as exc:
            answers[slot] = exc

    workers = [threading.Thread(target=send, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)

    failures = [a for a in answers if not isinstance(a, tuple) or a[0] != 200]
    assert not failures, failures[:3]
    bodies = [a[1] for a in answers if isinstance(a, tuple)]
    per_seq: dict[int, Counter[str]] = {}
    for answer in bodies:
        assert answer["last_seq"] == 20
        for result in answer["results"]:
            per_seq.setdefault(result["seq"], Counter())[result["status"]] += 1
            if result["status"] == "duplicate":
                assert result["original"] == "applied", result
    assert per_seq == {seq: Counter(applied=1, duplicate=threads - 1) for seq in range(1, 21)}
    # The batch is one transaction: one answer applied all of it, the others none.
    statuses = sorted({r["status"] for r in answer["results"]} == {"applied"} for answer in bodies)
    assert statuses == [False] * (threads - 1) + [True]
    assert_exactly_once(server_proc.url, token, ids)
    url = server_proc.database_url
    assert db_scalar(url, "SELECT count(*) FROM applied_op WHERE kiosk_id = :k", k=device.id) == 20
    assert db_scalar(url, "SELECT count(*) FROM sync_conflict") == 0


# --- 4. the server killed in the middle of a batch -------------------------------------------


@pytest.mark.slow
def test_server_killed_mid_batch_keeps_batches_whole(server_proc: ServerProc, app: Flask) -> None:
    device = enrol_device(app, server_proc.url, "crashy")
    url = server_proc.database_url
    size = 500
    seed = random.randrange(2**32)
    rng = random.Random(seed)

    def rows_of(first_seq: int) -> int:
        return db_scalar(
            url,
            "SELECT count(*) FROM applied_op WHERE kiosk_id = :k AND seq BETWEEN :a AND :b",
            k=device.id,
            a=first_seq,
            b=first_seq + size - 1,
        )

    def requests_stored() -> int:
        sql = "SELECT count(*) FROM help_request WHERE kiosk_id = :k"
        return db_scalar(url, sql, k=device.id)

    def push_whole(first_seq: int, expected: str) -> float:
        """Push a batch that must go through; return how long it took."""
        body, _ = batch(device, first_seq, size)
        with requests.Session() as session:
            began = time.monotonic()
            answer = push_raw(session, server_proc.url, device, body)
            took = time.monotonic() - began
        assert answer.status_code == 200, answer.text
        assert {r["status"] for r in answer.json()["results"]} == {expected}
        return took

    push_whole(1, "applied")  # warms the server up
    next_seq, stored, interrupted = 1 + size, size, 0
    outcomes = []
    # Kill points spread over the whole push: early (request still arriving), mid-transaction,
    # and late (committed, answer not yet sent).
    for low, high in ((0.05, 0.3), (0.3, 0.55), (0.55, 0.8), (0.8, 1.0)):
        # Calibrate on the same kind of push to the same warm server, just before: the
        # machine's load changes from one minute to the next.
        push_time = push_whole(next_seq, "applied")
        stored += size
        next_seq += size
        body, _ = batch(device, next_seq, size)
        delay = rng.uniform(low, high) * push_time
        got: list[int | str] = []

        def send(data: bytes = body, got: list[int | str] = got) -> None:
            with requests.Session() as session:
                try:
                    got.append(push_raw(session, server_proc.url, device, data).status_code)
                except requests.RequestException as exc:
                    got.append(type(exc).__name__)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(delay)
        server_proc.kill()
        sender.join(60)
        assert not sender.is_alive()
        server_proc.start()

        held = rows_of(next_seq)
        outcomes.append((f"{delay:.3f}/{push_time:.3f} s", got[0], held))
        context = f"seed {seed}, outcomes {outcomes}"
        assert held in (0, size), f"a killed push left a partial batch: {context}"
        assert requests_stored() == stored + held, context
        interrupted += got[0] != 200

        # The kiosk resends the batch it never heard back about: whole, and exactly once.
        with requests.Session() as session:
            answer = push_raw(session, server_proc.url, device, body)
        assert answer.status_code == 200, answer.text
        expected = "duplicate" if held else "applied"
        assert {r["status"] for r in answer.json()["results"]} == {expected}, context
        stored += size
        next_seq += size
        assert rows_of(next_seq - size) == size, context
        assert requests_stored() == stored, context
    # Without at least one push cut off, this test would have proved nothing.
    assert interrupted, f"no kill landed before the answer: {outcomes}"


# --- 5. the server restored from an older backup ---------------------------------------------


class Backups:
    """Back up and restore the server's database while the server process is stopped."""

    def __init__(self, server: ServerProc, folder: Path) -> None:
        self.server = server
        self.url = sa.engine.make_url(server.database_url)
        self.sqlite_copy = folder / "backup.sqlite3"
        self.pg_copy = f"{self.url.database}_bak"

    def _pg_admin(self, statement: str) -> None:
        admin = self.url.set(database="postgres")
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    @staticmethod
    def _sqlite_copy(source: Path, target: Path) -> None:
        # SQLite's backup API reads through the source's WAL (the killed or stopped server
        # left one behind) and writes the target as one transaction: no -wal/-shm juggling.
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)

    def take(self) -> None:
        """Stop the server, copy its database, start it again."""
        self.server.stop()
        if self.url.get_backend_name() == "sqlite":
            self._sqlite_copy(Path(str(self.url.database)), self.sqlite_copy)
        else:
            self._pg_admin(f'CREATE DATABASE "{self.pg_copy}" TEMPLATE "{self.url.database}"')
        self.server.start()

    def restore(self) -> None:
        """Stop the server, replace its database with the backup, start it again."""
        self.server.stop()
        if self.url.get_backend_name() == "sqlite":
            self._sqlite_copy(self.sqlite_copy, Path(str(self.url.database)))
        else:
            self._pg_admin(f'DROP DATABASE "{self.url.database}" WITH (FORCE)')
            self._pg_admin(f'CREATE DATABASE "{self.url.database}" TEMPLATE "{self.pg_copy}"')
        self.server.start()

    def drop(self) -> None:
        """Remove the PostgreSQL copy (a SQLite copy goes with the test's folder)."""
        if self.url.get_backend_name() != "sqlite":
            self._pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_copy}" WITH (FORCE)')


@pytest.fixture
def backups(server_proc: ServerProc, tmp_path: Path) -> Iterator[Backups]:
    """Backups of this test's server database."""
    keeper = Backups(server_proc, tmp_path)
    try:
        yield keeper
    finally:
        keeper.drop()


def assert_kiosk_whole(
    kiosk: Kiosk, ids: list[str], extra_rooms: frozenset[str] = frozenset()
) -> None:
    """Nothing queued, every request known and acknowledged, the reference data downloaded."""
    assert kiosk.store.status()["queued"] == 0
    assert kiosk.outbox() == {"applied": len(ids)}
    local = kiosk.local_requests()
    assert sorted(local) == sorted(ids)
    assert set(local.values()) == {"received"}
    assert len(kiosk.store.categories()) == CATEGORY_COUNT
    assert {r["code"] for r in kiosk.store.rooms()} == ROOM_CODES | extra_rooms
    assert (kiosk.store.community() or {}).get("slug") == "lanqiao"


@pytest.mark.slow
def test_restored_server_gets_every_request_back(
    server_proc: ServerProc, app: Flask, kiosks: Callable[..., Kiosk], backups: Backups
) -> None:
    # Two kiosks live through the same restore: one reconciles, the other only pushes.
    careful, plain = kiosks("careful"), kiosks("plain")
    token = staff_token(app)
    careful_made, plain_made = careful.create(4), plain.create(3)
    careful.engine.sync_once()
    plain.engine.sync_once()
    backups.take()
    careful_made += careful.create(6)
    plain_made += plain.create(5)
    careful.engine.sync_once()
    plain.engine.sync_once()
    assert careful.outbox() == {"applied": 10}
    assert plain.outbox() == {"applied": 8}

    backups.restore()
    assert_exactly_once(server_proc.url, token, careful_made[:4] + plain_made[:3])

    # Reconcile: the one digest range 1..10 no longer matches, so all of it is requeued and
    # the cursor dropped; the next sync re-pushes and re-downloads the reference data.
    answered = len(careful.store.answers)
    assert careful.engine.reconcile() == 10
    assert careful.store.cursor() is None
    careful.engine.sync_once()
    assert careful.statuses_since(answered) == [REPLAYED] * 4 + [APPLIED] * 6

    # No reconcile: the next new request (seq 9) shows the server the gap after seq 3.
    answered = len(plain.store.answers)
    plain_made += plain.create(1)
    plain.engine.sync_once()
    assert [a.resend_from for a in plain.store.answers[answered:]] == [4, None]
    assert plain.statuses_since(answered) == [APPLIED] * 6

    assert_exactly_once(server_proc.url, token, careful_made + plain_made)
    assert_kiosk_whole(careful, careful_made)
    assert_kiosk_whole(plain, plain_made)


@pytest.mark.slow
def test_kiosk_sees_changes_made_after_a_restore_without_reconcile(
    server_proc: ServerProc, app: Flask, kiosks: Callable[..., Kiosk], backups: Backups
) -> None:
    kiosk = kiosks()
    token = staff_token(app)
    made = kiosk.create(2)
    kiosk.engine.sync_once()
    backups.take()
    add_room(app, "2", "1", "201")  # lost by the restore
    made += kiosk.create(3)
    kiosk.engine.sync_once()
    assert "2-1-201" in {r["code"] for r in kiosk.store.rooms()}
    backups.restore()
    # Staff enter a room on the restored server: it takes the change sequence number that
    # the lost room had, which this kiosk's cursor already covers.
    add_room(app, "2", "1", "202")
    made += kiosk.create(1)
    kiosk.engine.sync_once()
    assert_exactly_once(server_proc.url, token, made)
    rooms = {r["code"] for r in kiosk.store.rooms()}
    assert "2-1-202" in rooms, "a change made after the restore reached the kiosk"
    assert "2-1-201" not in rooms, "the room the restore removed is gone from the kiosk"
    assert_kiosk_whole(kiosk, made, extra_rooms=frozenset({"2-1-202"}))


# --- 6. one bad operation among good ones ----------------------------------------------------


def test_rejected_operation_is_shown_to_staff_and_never_blocks_the_queue(
    server_proc: ServerProc, app: Flask, kiosks: Callable[..., Kiosk]
) -> None:
    kiosk = kiosks()
    token = staff_token(app)
    # The kiosk's room list is stale: it still offers a room the server does not know.
    with closing(sqlite3.connect(kiosk.store.path)) as conn, conn:
        conn.execute("INSERT INTO rooms VALUES ('9-9-999', '9', '9', '999')")
    first = kiosk.create(1)
    bad = kiosk.create(1, room="9-9-999")
    last = kiosk.create(1, room="1-1-102")
    answered = len(kiosk.store.answers)
    kiosk.engine.sync_once()

    (answer,) = kiosk.store.answers[answered:]
    assert [(r.seq, r.status, r.reason) for r in answer.results] == [
        (1, "applied", None),
        (2, "rejected", "unknown_room"),
        (3, "applied", None),
    ]
    rejections = requests.get(
        server_proc.url + "/api/v1/rejections",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert rejections.status_code == 200, rejections.text
    (rejection,) = rejections.json()["items"]
    assert rejection["op_id"] == bad[0]
    assert rejection["reason"] == "unknown_room"
    assert rejection["kiosk"] == "hall"
    assert rejection["room"] == "9-9-999"
    assert kiosk.outbox() == {"applied": 2, "rejected": 1}
    assert kiosk.store.status()["rejected"] == 1
    assert kiosk.store.get_request(bad[0]) is not None
    assert (kiosk.store.get_request(bad[0]) or {})["reject_reason"] == "unknown_room"

    later = kiosk.create(1)
    kiosk.engine.sync_once()
    assert kiosk.outbox() == {"applied": 3, "rejected": 1}
    assert kiosk.store.status()["queued"] == 0
    assert_exactly_once(server_proc.url, token, first + last + later)
