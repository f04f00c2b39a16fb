"""A kiosk whose counter fell behind the server's (restored, re-imaged, WAL lost) loses nothing.

The real server app is served on loopback in a thread; kiosks are real `Store`s driven by the
real `SyncEngine`. Every test counts the requests the kiosk said were saved against the rows
the server holds: none missing, none twice, and no ticket issued twice after the kiosk learnt
the server's position.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from kiosk.store import Store
from sync.client import SyncEngine
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
    from server.syncapi.models import SyncConflict

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
