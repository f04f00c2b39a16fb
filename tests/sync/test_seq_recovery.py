"""A kiosk whose counter fell behind the server's (restored, re-imaged, WAL lost) loses nothing.

The real server app is served on loopback in a thread; kiosks are real `Store`s driven by the
real `SyncEngine`. Every test counts the requests the kiosk said were saved against the rows
the server holds: none missing, none twice, and no ticket issued twice after the kiosk learnt
the server's position.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from kiosk.store import Store
from sync.client import SyncEngine, SyncError
from sync.messages import CreateRequestOp, op_digest

ROOMS = ["3-2-301", "3-2-302", "3-1-101"]


@pytest.fixture
def url(app: Flask, community: dict[str, Any]) -> Iterator[str]:
    """The server app on 127.0.0.1 in a thread."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def enrolment_code(app: Flask, name: str = "hall") -> str:
    """A one-time code for kiosk `name` (a re-enrolment when it exists)."""
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", name, 24)
        db.session.commit()
        db.session.remove()
    return code


def kiosk(path: Path, url: str, app: Flask, name: str = "hall") -> tuple[Store, SyncEngine]:
    """A store at `path` enrolled (or re-enrolled) under `name`, after its first sync."""
    store = Store(path)
    engine = SyncEngine(store)
    store.save_enrollment(url, engine.enroll(url, enrolment_code(app, name)))
    engine.sync_once()
    return store, engine


def save(store: Store, count: int) -> list[tuple[str, str]]:
    """Save `count` requests; their (id, ticket) as the kiosk answered them."""
    return [
        (s.id, s.ticket)
        for s in (store.create_request("electrical", ROOMS[i % len(ROOMS)]) for i in range(count))
    ]


def server_rows(app: Flask) -> list[tuple[str, str]]:
    """(client id, ticket) of every request the server holds."""
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        rows = db.session.execute(sa.select(HelpRequest.client_id, HelpRequest.ticket)).all()
        db.session.remove()
    return [(str(c), t) for c, t in rows]


def conflicts(app: Flask) -> int:
    """Rows of sync_conflict."""
    from server.extensions import db
    from server.synclog.models import SyncConflict

    with app.app_context():
        n = db.session.execute(sa.select(sa.func.count()).select_from(SyncConflict)).scalar_one()
        db.session.remove()
    return int(n)


def tally(saved: list[tuple[str, str]], app: Flask) -> tuple[int, int]:
    """(missing, duplicated) of the saved requests on the server."""
    held = Counter(c for c, _ in server_rows(app))
    missing = sum(1 for i, _ in saved if held[i] == 0)
    duplicated = sum(n - 1 for n in held.values() if n > 1)
    return missing, duplicated


def test_kiosk_restored_from_its_own_backup_loses_nothing_and_repeats_no_ticket(
    app: Flask, url: str, tmp_path: Path
) -> None:
    store, engine = kiosk(tmp_path / "a" / "kiosk.sqlite3", url, app)
    saved = save(store, 5)
    engine.sync_once()
    store.backup_to(tmp_path / "backup.sqlite3")
    saved += save(store, 10)
    engine.sync_once()
    store.close()
    # The card dies; the kiosk comes back from last night's backup and is used at once.
    restored_path = tmp_path / "b" / "kiosk.sqlite3"
    restored_path.parent.mkdir()
    shutil.copy(tmp_path / "backup.sqlite3", restored_path)
    restored = Store(restored_path)
    offline = save(restored, 7)
    saved += offline
    engine = SyncEngine(restored)
    outcome = engine.sync_once()
    assert outcome.ok
    saved += save(restored, 3)
    engine.sync_once()
    assert restored.status()["queued"] == 0
    assert tally(saved, app) == (0, 0)
    assert len(server_rows(app)) == len(saved) == 25
    # The 7 saved offline reuse tickets the kiosk did not know of; once it had heard from the
    # server, its next tickets continue after the server's highest.
    later_tickets = [t for _, t in saved[-3:]]
    assert later_tickets == ["A-0016", "A-0017", "A-0018"]
    held = [restored.get_request(i) for i, _ in saved[:5] + saved[15:]]
    assert [r["status"] if r else None for r in held] == ["received"] * 15
    assert engine.reconcile() == 0
    restored.close()


def test_empty_card_enrolled_under_its_old_name_continues_after_the_server(
    app: Flask, url: str, tmp_path: Path
) -> None:
    store, engine = kiosk(tmp_path / "a" / "kiosk.sqlite3", url, app)
    saved = save(store, 4)
    engine.sync_once()
    store.close()
    fresh, engine = kiosk(tmp_path / "b" / "kiosk.sqlite3", url, app)
    more = save(fresh, 3)
    engine.sync_once()
    assert [t for _, t in more] == ["A-0005", "A-0006", "A-0007"]
    assert fresh.status()["queued"] == 0
    assert tally(saved + more, app) == (0, 0)
    assert conflicts(app) == 0
    fresh.close()


def test_wal_lost_after_a_power_cut_loses_nothing(app: Flask, url: str, tmp_path: Path) -> None:
    path = tmp_path / "a" / "kiosk.sqlite3"
    store, engine = kiosk(path, url, app)
    saved = save(store, 3)
    engine.sync_once()
    # Everything so far reaches the main file; what follows lives only in the WAL.
    store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store._conn().execute("PRAGMA wal_autocheckpoint=0")
    saved += save(store, 4)
    engine.sync_once()
    copy = tmp_path / "b" / "kiosk.sqlite3"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    store.close()
    survivor = Store(copy)
    assert survivor.status()["queued"] == 0
    saved += save(survivor, 5)
    engine = SyncEngine(survivor)
    engine.sync_once()
    engine.sync_once()
    assert survivor.status()["queued"] == 0
    assert tally(saved, app) == (0, 0)
    assert len(server_rows(app)) == 12
    survivor.close()


def test_an_applied_op_sent_again_at_another_seq_is_a_duplicate(
    client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    op = {
        "op_id": str(uuid.uuid4()),
        "seq": 1,
        "type": "request.create",
        "at": datetime.now(UTC).isoformat(),
        "payload": {"category": "electrical", "room": "3-2-301", "ticket": "A-0001"},
    }
    headers = {"Linli-Protocol": "1", "Authorization": f"Bearer {enrolled['token']}"}

    def push(*ops: dict[str, Any]) -> list[tuple[int, str, str | None]]:
        body = {"device_time": datetime.now(UTC).isoformat(), "ops": list(ops)}
        answer = client.post("/api/sync/v1/push", json=body, headers=headers)
        assert answer.status_code == 200, answer.get_json()
        return [(r["seq"], r["status"], r.get("reason")) for r in answer.get_json()["results"]]

    assert push(op) == [(1, "applied", None)]
    assert push({**op, "seq": 2}) == [(2, "duplicate", None)]
    changed = {**op, "seq": 3, "payload": {**op["payload"], "room": "3-2-302"}}
    assert push(changed) == [(3, "rejected", "conflict")]
    assert op_digest(CreateRequestOp.model_validate(op)) == op_digest(
        CreateRequestOp.model_validate({**op, "seq": 9})
    )


# --- a poisoned operation -------------------------------------------------------------------


class Poison:
    """WSGI middleware: a push whose batch holds `marker` is answered 500, the rest pass."""

    def __init__(self, app: Flask, marker: str) -> None:
        self.app = app
        self.marker = marker.encode()
        self.armed = True
        self.pushes = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"].endswith("/push"):
            self.pushes += 1
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(raw)
            if self.armed and self.marker in gzip.decompress(raw):
                start_response("500 Internal Server Error", [("Content-Type", "application/json")])
                return [b'{"error": "internal_error", "detail": "poisoned"}']
        return self.app(environ, start_response)


def serve(wsgi: Any) -> tuple[str, Callable[[], None]]:
    """Serve `wsgi` on loopback in a thread; return its URL and a stop function."""
    httpd = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)

    return f"http://127.0.0.1:{httpd.server_port}", stop


def sync_until_quiet(engine: SyncEngine, attempts: int = 60) -> list[str]:
    """Call sync_once as the worker would, until it succeeds; the failure states seen."""
    states = []
    for _ in range(attempts):
        try:
            engine.sync_once()
            return states
        except SyncError as exc:
            states.append(exc.state)
    raise AssertionError(f"still failing after {attempts} attempts: {states[-3:]}")


def test_a_poisoned_op_is_parked_the_rest_drain_and_a_release_sends_it(
    app: Flask, community: dict[str, Any], tmp_path: Path
) -> None:
    poison = Poison(app, "POISON")
    url, stop = serve(poison)
    try:
        store, engine = kiosk(tmp_path / "k" / "kiosk.sqlite3", url, app)
        saved = [
            (s.id, s.ticket)
            for s in (
                store.create_request("electrical", "3-2-301", details=f"n{i}") for i in range(6)
            )
        ]
        bad = store.create_request("plumbing", "3-2-302", details="POISON")
        saved += [(bad.id, bad.ticket)]
        saved += save(store, 13)
        states = sync_until_quiet(engine)
        assert set(states) == {"server_error"}
        status = store.status()
        assert (status["queued"], status["parked"]) == (0, 1)
        [parked] = store.parked_ops()
        assert parked["ticket"] == bad.ticket
        assert "poisoned" in parked["error"]
        missing, duplicated = tally(saved, app)
        assert (missing, duplicated) == (1, 0)
        assert [c for c, _ in server_rows(app)].count(bad.id) == 0
        # Later requests are not held behind it either.
        saved += save(store, 2)
        sync_until_quiet(engine)
        assert tally(saved, app) == (1, 0)
        # The cause is fixed on the server; staff release the op and it arrives once.
        poison.armed = False
        assert store.release_parked(parked["parked_seq"]) == 1
        sync_until_quiet(engine)
        assert store.status()["parked"] == 0
        assert tally(saved, app) == (0, 0)
        assert len(server_rows(app)) == 22
        assert engine.reconcile() == 0
        store.close()
    finally:
        stop()


def test_a_parked_op_still_failing_is_parked_again_after_one_try(
    app: Flask, community: dict[str, Any], tmp_path: Path
) -> None:
    poison = Poison(app, "POISON")
    url, stop = serve(poison)
    try:
        store, engine = kiosk(tmp_path / "k" / "kiosk.sqlite3", url, app)
        store.create_request("plumbing", "3-2-302", details="POISON")
        sync_until_quiet(engine)
        assert store.status()["parked"] == 1
        before = poison.pushes
        assert store.release_parked() == 1
        save(store, 1)
        # The released op goes alone, once; parked again at its first 500, the new one drains.
        assert engine.sync_once().ok
        assert poison.pushes - before == 2
        assert (store.status()["queued"], store.status()["parked"]) == (0, 1)
        store.close()
    finally:
        stop()


# --- every field at its maximum, a kiosk name of 100 characters -----------------------------


def test_every_op_with_every_text_field_at_its_maximum_is_applied(
    app: Flask, client: FlaskClient, community: dict[str, Any]
) -> None:
    """A kiosk name of 100 characters made the event actor overflow on PostgreSQL (500)."""
    from server.communities.services import community_by_slug, import_rooms, parse_rooms_csv
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code
    from server.requests.models import HelpRequest

    name = "长" * 100
    room = "b" * 16 + "-" + "u" * 16 + "-" + "r" * 16
    with app.app_context():
        import_rooms(
            community_by_slug("lanqiao"),
            parse_rooms_csv(f"building,unit,room\n{'b' * 16},{'u' * 16},{'r' * 16}\n", "r.csv"),
        )
        _, code = new_enrollment_code("lanqiao", name, 24)
        db.session.commit()
        db.session.remove()
    headers = {"Linli-Protocol": "1"}
    enrolled = client.post("/api/sync/v1/enroll", json={"code": code}, headers=headers)
    assert enrolled.status_code == 200, enrolled.get_json()
    headers["Authorization"] = f"Bearer {enrolled.get_json()['token']}"
    now = datetime.now(UTC).isoformat()
    ids = [str(uuid.uuid4()) for _ in range(4)]
    create = {
        "type": "request.create",
        "at": now,
        "payload": {
            "category": "electrical",
            "room": room,
            "ticket": "ZZ-9999",
            "phone": "+" + "9" * 15,
            "details": "灯" * 2000,
            "on_behalf": True,
            "consent_version": "v" * 32,
        },
    }
    ops = [
        {**create, "op_id": ids[0], "seq": 1},
        {**create, "op_id": ids[1], "seq": 2},
        {
            "op_id": ids[2],
            "seq": 3,
            "type": "request.cancel",
            "at": now,
            "payload": {"request_id": ids[0], "reason": "取" * 500},
        },
    ]
    answer = client.post(
        "/api/sync/v1/push",
        json={"device_time": now, "ops": ops, "instance": "f" * 32},
        headers=headers,
    )
    assert answer.status_code == 200, answer.get_json()
    assert [r["status"] for r in answer.get_json()["results"]] == ["applied"] * 3
    # A cancel of a request already under way becomes a note "cancellation requested: ...".
    with app.app_context():
        db.session.execute(
            sa.update(HelpRequest)
            .where(HelpRequest.client_id == uuid.UUID(ids[1]))
            .values(status="dispatched")
        )
        db.session.commit()
        db.session.remove()
    cancel = {
        "op_id": ids[3],
        "seq": 4,
        "type": "request.cancel",
        "at": now,
        "payload": {"request_id": ids[1], "reason": "取" * 500},
    }
    answer = client.post(
        "/api/sync/v1/push", json={"device_time": now, "ops": [cancel]}, headers=headers
    )
    assert answer.status_code == 200, answer.get_json()
    assert [r["status"] for r in answer.get_json()["results"]] == ["applied"]


# --- a cloned card --------------------------------------------------------------------------


def kiosk_row(app: Flask, name: str = "hall") -> Any:
    """The server's kiosk row (detached)."""
    from server.extensions import db
    from server.kiosks.models import Kiosk

    with app.app_context():
        row = db.session.execute(sa.select(Kiosk).where(Kiosk.name == name)).scalar_one()
        db.session.expunge(row)
        db.session.remove()
    return row


def test_a_cloned_card_is_flagged_sent_to_re_enrol_and_loses_nothing(
    app: Flask, url: str, tmp_path: Path
) -> None:
    original, engine_a = kiosk(tmp_path / "a" / "kiosk.sqlite3", url, app)
    saved = save(original, 3)
    engine_a.sync_once()
    copy = tmp_path / "b" / "kiosk.sqlite3"
    copy.parent.mkdir()
    original.backup_to(copy)
    clone = Store(copy)
    engine_b = SyncEngine(clone)
    assert engine_a.instance != engine_b.instance
    # Both in use: each saves and syncs; the second to arrive finds its seqs taken by ops the
    # first stored while both were running.
    saved += save(original, 2)
    engine_a.sync_once()
    saved += save(clone, 2)
    engine_b.sync_once()
    assert kiosk_row(app).cloned_at is None, "the clone could still be a restored kiosk"
    saved += save(original, 2)
    engine_a.sync_once()
    row = kiosk_row(app)
    assert row.cloned_at is not None
    assert row.clone_instance == engine_b.instance
    assert tally(saved, app) == (0, 0)
    # The clone is told at its next push, stops syncing and keeps what it queues.
    saved += save(clone, 1)
    with pytest.raises(SyncError) as told:
        engine_b.sync_once()
    assert told.value.state == "cloned"
    assert clone.status()["state"] == "cloned"
    assert clone.credentials() is None
    assert clone.status()["queued"] == 1
    # The original carries on.
    saved += save(original, 1)
    engine_a.sync_once()
    # Staff enrol the clone as a new kiosk; its queue goes under its new identity.
    clone.save_enrollment(url, engine_b.enroll(url, enrolment_code(app, "hall-2")))
    assert clone.status()["state"] == "enrolled"
    engine_b.sync_once()
    assert clone.status()["queued"] == 0
    assert tally(saved, app) == (0, 0)
    assert len(server_rows(app)) == len(saved) == 11
    assert engine_a.reconcile() == 0
    assert engine_b.reconcile() == 0
    original.close()
    clone.close()


def test_a_cli_sync_beside_the_running_kiosk_is_not_a_clone(
    app: Flask, url: str, tmp_path: Path
) -> None:
    path = tmp_path / "a" / "kiosk.sqlite3"
    store, running = kiosk(path, url, app)
    nightly = SyncEngine(Store(path))
    saved = []
    for _ in range(3):
        saved += save(store, 2)
        running.sync_once()
        saved += save(store, 1)
        nightly.sync_once()
    assert kiosk_row(app).cloned_at is None
    assert tally(saved, app) == (0, 0)
    store.close()


# --- the server lost history the kiosk had compacted ----------------------------------------


def test_server_restored_from_before_the_compaction_window(
    app: Flask, url: str, tmp_path: Path, backend: str
) -> None:
    import sqlite3

    if backend != "sqlite":
        pytest.skip("copies the server's SQLite file; tests/system restores PostgreSQL too")

    from server.extensions import db
    from server.kiosks.services import kiosk_health

    store, engine = kiosk(tmp_path / "k" / "kiosk.sqlite3", url, app)
    saved = save(store, 5)
    engine.sync_once()
    with app.app_context():
        server_file = db.engine.url.database
        db.engine.dispose()
    backup = tmp_path / "server-backup.sqlite3"
    with sqlite3.connect(server_file) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    lost = save(store, 5)
    saved += lost
    engine.sync_once()
    # Staff closed the first of them and the kiosk pulled that (written here as the pull would).
    with sqlite3.connect(tmp_path / "k" / "kiosk.sqlite3") as conn:
        conn.execute("UPDATE requests SET status = 'closed_fixed' WHERE id = ?", (lost[0][0],))
    conn.close()
    assert store.compact(datetime(2100, 1, 1, tzinfo=UTC)) == 10
    # The server comes back from the older backup.
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(backup) as src, sqlite3.connect(server_file) as dst:
        src.backup(dst)
    later = save(store, 3)
    saved += later
    with pytest.raises(SyncError) as told:
        engine.sync_once()
    assert told.value.state == "server_lost_history"
    assert engine.stats.by_path["/push"] < 10
    assert store.status()["lost_history"]["first_seq"] == 6
    engine.sync_once()
    assert store.status()["queued"] == 0
    missing = {i for i, _ in saved} - {c for c, _ in server_rows(app)}
    # Open requests whose envelopes were compacted are rebuilt and arrive; a settled one is
    # never reopened that way: it is named to staff instead.
    assert missing == {lost[0][0]}
    # The health report names the candidates; the server keeps the ones it lacks.
    from kiosk.nightly import run_nightly

    report = run_nightly(store, engine, tmp_path / "backups", compact_after_days=30)
    assert report.ok, report.summary()
    with app.app_context():
        [row] = kiosk_health(frozenset({1}), 60)
        db.session.remove()
    assert list(row.lost) == [lost[0][1]]
    store.close()


# --- the kiosk's own pages and its schema ---------------------------------------------------


def test_cloned_kiosk_asks_to_call_the_centre_and_admin_releases_parked_ops(
    tmp_path: Path,
) -> None:
    from kiosk.admin import hash_pin
    from kiosk.app import create_kiosk_app
    from kiosk.voice import Voice
    from sync.client import SyncOutcome
    from tests.ui.kiosk_data import seed_store

    store = seed_store(tmp_path / "kiosk.sqlite3")
    store.set_admin_pin_hash(hash_pin("24680"))
    saved = store.create_request("electrical", "3-2-301")
    store.park(1, "500 internal_error: the server failed")
    client = create_kiosk_app(store, voice=Voice(tmp_path / "v", espeak="")).test_client()
    assert client.post("/admin", data={"pin": "24680"}).status_code == 303
    panel = client.get("/admin/panel").get_data(as_text=True)
    assert 'id="fact-parked">1<' in panel
    assert "the server failed" in panel
    assert store.status()["parked"] == 1
    assert client.post("/admin/release", data={"seq": "1"}).status_code == 303
    assert store.status()["parked"] == 0
    assert [op.seq for op in store.pending_ops(10)] == [1]
    assert store.get_request(saved.id) is not None
    # Told it is a copy of another kiosk's card: every screen asks to call the centre.
    store.record_sync(SyncOutcome(False, "cloned", datetime.now(UTC), "409 cloned_device"))
    assert store.status()["state"] == "cloned"
    home = client.get("/", headers={"Accept-Language": "en"})
    assert home.headers["X-Linli-Problem"] == "cloned"
    assert store.credentials() is None
    store.close()


def test_kiosk_migration_keeps_every_op_and_digests_the_unsent_without_seq(
    tmp_path: Path,
) -> None:
    import sqlite3

    from kiosk.store import MIGRATIONS
    from sync.codec import digest

    path = tmp_path / "kiosk.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, statements in MIGRATIONS[:2]:
        for statement in statements:
            old.execute(statement)
        old.execute("INSERT INTO schema_migrations VALUES (?, '2026-01-01')", (name,))
    rows = []
    for seq, state in ((1, "applied"), (2, "pending"), (3, "rejected")):
        op = CreateRequestOp.model_validate(
            {
                "op_id": str(uuid.uuid4()),
                "seq": seq,
                "type": "request.create",
                "at": datetime.now(UTC),
                "payload": {"category": "electrical", "room": "3-2-301", "ticket": "A-0001"},
            }
        )
        legacy = digest(op.model_dump(mode="json"))
        rows.append((op, legacy))
        old.execute(
            "INSERT INTO outbox (seq, op_id, type, body, digest, created_at, state, reason) "
            "VALUES (?, ?, ?, ?, ?, '2026-01-01', ?, ?)",
            (
                seq,
                str(op.op_id),
                op.type,
                op.model_dump_json(),
                legacy,
                state,
                "seq_taken" if state == "rejected" else None,
            ),
        )
        old.execute(
            "INSERT INTO requests (id, ticket, category, room, created_at, status, "
            "reject_reason, updated_at) VALUES (?, 'A-0001', 'electrical', '3-2-301', "
            "'2026-01-01', ?, ?, '2026-01-01')",
            (
                str(op.op_id),
                "rejected" if state == "rejected" else "queued",
                "seq_taken" if state == "rejected" else None,
            ),
        )
    old.commit()
    old.close()
    store = Store(path)
    held = store._conn().execute("SELECT seq, digest, state FROM outbox ORDER BY seq").fetchall()
    # What an older kiosk marked rejected as seq_taken (the server never stored it) is queued
    # again, digested like the other unsent ops.
    assert [tuple(r) for r in held] == [
        (1, rows[0][1], "applied"),
        (2, op_digest(rows[1][0]), "pending"),
        (3, op_digest(rows[2][0]), "pending"),
    ]
    again = store.get_request(str(rows[2][0].op_id))
    assert again is not None
    assert (again["status"], again["reject_reason"]) == ("queued", None)
    assert store.status()["parked"] == 0
    store.close()


# --- an op the server cannot read (a server older than one of the kiosk's op types) ----------
# Such a server refuses the whole batch as an `invalid_message` (servers since checkin.create
# answer an unknown type alone). A check-in it cannot read (its room is no room code, written
# straight into the real outbox) is halved down to, parked; check-ins and requests behind it
# arrive once.


def _sign_keys(app: Flask) -> list[str]:
    from server.carewatch.models import SignOfLife
    from server.extensions import db

    with app.app_context():
        keys = db.session.execute(sa.select(SignOfLife.source_key)).scalars().all()
        db.session.remove()
    return sorted(keys)


def test_an_unreadable_checkin_is_parked_and_the_rest_drain(
    app: Flask, url: str, community: dict[str, Any], tmp_path: Path
) -> None:
    store, engine = kiosk(tmp_path / "k" / "kiosk.sqlite3", url, app)
    before = store.create_request("electrical", "3-2-301")
    unreadable = store.check_in("3-2-301")
    after = store.check_in("3-2-302")
    last = store.create_request("plumbing", "3-2-302")
    with store._write() as conn:
        body = json.loads(
            conn.execute("SELECT body FROM outbox WHERE op_id = ?", (unreadable.id,)).fetchone()[0]
        )
        body["payload"]["room"] = "301"
        conn.execute(
            "UPDATE outbox SET body = ? WHERE op_id = ?", (json.dumps(body), unreadable.id)
        )

    assert sync_until_quiet(engine) == []
    status = store.status()
    assert (status["queued"], status["parked"]) == (0, 1)
    [parked] = store.parked_ops()
    assert parked["type"] == "checkin.create"
    assert "invalid_message" in parked["error"]
    assert sorted(c for c, _ in server_rows(app)) == sorted([before.id, last.id])
    assert _sign_keys(app) == [f"kiosk:{after.id}"]
    assert store.get_checkin(after.id)["status"] == "recorded"  # type: ignore[index]
    assert store.get_checkin(unreadable.id)["status"] == "queued"  # type: ignore[index]
    store.close()
