"""The kiosk store in process: full disk, two writers on one file, enrolment, server answers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kiosk.store import StorageFull, Store
from sync.client import Credentials
from sync.messages import (
    CategoryChange,
    EnrollResponse,
    OpResult,
    PullResponse,
    PushResponse,
    RequestChange,
    RoomChange,
)

ROOM = "3-2-301"


def enrolment(device_id: int = 1, number: int = 1) -> EnrollResponse:
    """What the server answers to an enrolment (its token is `token-<number>`)."""
    return EnrollResponse(
        device_id=device_id,
        name="hall",
        token=f"token-{number}",
        community="lanqiao",
        ticket_prefix="A",
    )


def first_pull() -> PullResponse:
    """A first page of changes: two categories and one room."""
    categories = [
        CategoryChange(
            entity="category",
            key=f"category:{code}",
            data={"code": code, "name_zh": code, "name_en": code, "sort": 10, "urgent": False},
        )
        for code in ("electrical", "plumbing")
    ]
    room = RoomChange(
        entity="room",
        key=f"room:{ROOM}",
        data={"code": ROOM, "building": "3", "unit": "2", "room": "301"},
    )
    return PullResponse(changes=[*categories, room], cursor="c1", more=False)


def open_enrolled(path: Path, max_pages: int = 0) -> Store:
    """A store that is enrolled and knows its rooms, as after `linli kiosk enroll`."""
    store = Store(path, max_pages=max_pages)
    if store.credentials() is None:
        store.save_enrollment("http://127.0.0.1:9", enrolment())
        store.apply_pull(first_pull())
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An enrolled store, closed at the end."""
    s = open_enrolled(tmp_path / "kiosk.sqlite3")
    yield s
    s.close()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run one query on the database file with a separate connection."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def test_full_storage_writes_nothing_and_keeps_seqs_gap_free(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.sqlite3"
    open_enrolled(path).close()
    pages = rows(path, "PRAGMA page_count")[0][0]
    capped = Store(path, max_pages=pages + 24)
    saved = 0
    try:
        while saved < 500:
            try:
                capped.create_request("plumbing", ROOM, details="漏水" * 1000)
            except StorageFull:
                break
            saved += 1
        assert 1 <= saved < 500
        assert capped.status()["queued"] == saved
    finally:
        capped.close()
    assert rows(path, "SELECT count(*) FROM requests") == [(saved,)]
    assert rows(path, "SELECT count(*) FROM outbox") == [(saved,)]
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]

    # With room again, numbering goes on where it stopped: no seq or ticket was used up.
    roomy = Store(path)
    try:
        roomy.create_request("electrical", ROOM)
    finally:
        roomy.close()
    seqs = [r[0] for r in rows(path, "SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(1, saved + 2))
    tickets = [r[0] for r in rows(path, "SELECT ticket FROM requests ORDER BY rowid")]
    assert tickets == [f"A-{n:04d}" for n in range(1, saved + 2)]


def test_two_writers_on_one_file_get_distinct_gap_free_seqs(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.sqlite3"
    open_enrolled(path).close()
    # Two Store objects stand for two processes (kiosk UI and `linli sync once`).
    stores = [Store(path), Store(path)]
    errors: list[BaseException] = []

    def write(store: Store) -> None:
        try:
            for _ in range(40):
                store.create_request("electrical", ROOM)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for s in stores:
            s.close()
    assert not errors
    seqs = [r[0] for r in rows(path, "SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(1, 161))
    assert rows(path, "SELECT count(DISTINCT ticket) FROM requests") == [(160,)]
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]


def test_enrolling_as_another_device_keeps_every_op_and_renumbers_the_unsent(
    store: Store,
) -> None:
    path = store.path
    sent = store.create_request("electrical", ROOM)
    store.apply_push(
        PushResponse(
            results=[OpResult(seq=1, status="applied", result={"status": "received"})],
            last_seq=1,
            server_time=datetime.now(UTC),
        )
    )
    queued = [store.create_request("electrical", ROOM) for _ in range(2)]
    ids = [r[0] for r in rows(path, "SELECT op_id FROM outbox WHERE state = 'pending'")]
    assert [op.seq for op in store.pending_ops(10)] == [2, 3]

    # The same device enrolled again (a new token after revocation) keeps its queue.
    store.save_enrollment("http://127.0.0.1:9", enrolment(device_id=1, number=3))
    assert store.credentials() == Credentials("http://127.0.0.1:9", "token-3")
    assert [op.seq for op in store.pending_ops(10)] == [2, 3]

    # Enrolled as a new device (a cloned card re-enrolled under a new name, or a kiosk the
    # restored server no longer knew): the sent op and the unsent ones continue under the new
    # identity from its first seq, in their order, with the same op ids (the server answers
    # the sent one as a duplicate, or applies it if it lost it); the sent one is also
    # archived under the old identity.
    store.save_enrollment("http://127.0.0.1:9", enrolment(device_id=2, number=4))
    assert store.credentials() == Credentials("http://127.0.0.1:9", "token-4")
    assert [op.seq for op in store.pending_ops(10)] == [1, 2, 3]
    assert [r[0] for r in rows(path, "SELECT op_id FROM outbox ORDER BY seq")] == [sent.id, *ids]
    assert rows(path, "SELECT device_id, seq, op_id FROM outbox_archive") == [("1", 1, sent.id)]
    assert all(store.get_request(r.id) is not None for r in [sent, *queued])
    assert store.create_request("electrical", ROOM) is not None
    assert [op.seq for op in store.pending_ops(10)] == [1, 2, 3, 4]


def test_a_rejected_operation_does_not_block_the_queue(store: Store) -> None:
    first = store.create_request("electrical", ROOM)
    second = store.create_request("plumbing", ROOM)
    store.apply_push(
        PushResponse(
            results=[
                OpResult(seq=1, status="rejected", reason="unknown_room"),
                OpResult(seq=2, status="applied", result={"status": "received"}),
            ],
            last_seq=2,
            server_time=datetime.now(UTC),
        )
    )
    assert store.pending_ops(10) == []
    status = store.status()
    assert status["queued"] == 0
    assert status["rejected"] == 1
    rejected = store.get_request(first.id)
    assert rejected is not None
    assert rejected["status"] == "rejected"
    assert rejected["reject_reason"] == "unknown_room"
    received = store.get_request(second.id)
    assert received is not None
    assert received["status"] == "received"


def test_resend_from_puts_operations_back_in_the_queue(store: Store) -> None:
    for _ in range(3):
        store.create_request("electrical", ROOM)
    store.apply_push(
        PushResponse(
            results=[OpResult(seq=1, status="applied", result={"status": "received"})],
            last_seq=1,
            resend_from=2,
            server_time=datetime.now(UTC),
        )
    )
    assert [op.seq for op in store.pending_ops(10)] == [2, 3]


def test_the_oldest_unsettled_request_is_what_a_pull_names(tmp_path: Path) -> None:
    """A pull names when the oldest request still open on this screen was made, so a kiosk
    restored from an old image learns the fate of every request it still shows open."""
    path = tmp_path / "kiosk.sqlite3"
    store = open_enrolled(path)
    try:
        assert store.oldest_unsettled() is None
        first = store.create_request("electrical", ROOM)
        second = store.create_request("plumbing", ROOM)
        made = dict(rows(path, "SELECT id, created_at FROM requests"))
        assert store.oldest_unsettled() == datetime.fromisoformat(made[first.id])
        store.apply_pull(
            PullResponse(
                changes=[
                    RequestChange(
                        entity="request",
                        key=first.id,
                        data={"status": "cancelled", "updated_at": datetime.now(UTC).isoformat()},
                    )
                ],
                cursor="after-cancel",
                more=False,
            )
        )
        assert store.oldest_unsettled() == datetime.fromisoformat(made[second.id])
    finally:
        store.close()
