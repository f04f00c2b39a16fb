"""Fault tests with real processes: a kiosk's identity and sequence survive what happens to cards.

A kiosk restored from its own backup, an empty card enrolled under the old name, a WAL lost
after a power cut, a card cloned onto a second running kiosk, a server restored from before
the kiosk's compaction window, and a batch the server keeps failing on (a fault-proxy mode,
and a 95-character kiosk name on PostgreSQL). Each counts the requests the kiosk's local API
answered 201 against the server's rows (staff API) and prints the tally:
answered / on the server / missing / duplicated.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from kiosk.runtime import DB_NAME
from tests.faultproxy import ERROR_500, PASS, FaultProxy, ProxiedRequest
from tests.procs import KioskProc, ServerProc, wait_until

MakeKiosk = Callable[..., KioskProc]
ROOMS = ["3-2-301", "3-2-302", "3-1-101", "1-1-101", "1-1-102"]


# --- helpers ------------------------------------------------------------------------------


def enrol(server: ServerProc, kiosk: KioskProc, name: str, url: str | None = None) -> None:
    """Enrol (or re-enrol) the kiosk's data folder under `name`."""
    code = server.secret("kiosk", "enroll", "--community", "lanqiao", "--name", name)
    kiosk.enroll(url or server.url, code)


def save(kiosk: KioskProc, count: int, details: str | None = None) -> list[str]:
    """Save `count` requests through the kiosk's local API; ids of those answered 201."""
    ids = []
    for i in range(count):
        fields: dict[str, Any] = {"category": "electrical", "room": ROOMS[i % len(ROOMS)]}
        if details is not None:
            fields["details"] = details
        answer = kiosk.create(**fields)
        assert answer.status_code == 201, answer.text
        ids.append(str(answer.json()["id"]))
    return ids


def settle(kiosk: KioskProc, timeout: float = 45) -> dict[str, Any]:
    """Wait (bounded, without failing) until the queue is empty and the kiosk online."""

    def synced() -> bool:
        status = kiosk.status()
        return bool(status["queued"] == 0 and status["online"])

    with suppress(AssertionError):
        wait_until(synced, timeout=timeout, what="the queue to drain")
    return kiosk.status()


def server_ids(server: ServerProc) -> list[str]:
    """Client ids of every request the server holds (staff API, every page)."""
    token = server.secret("api-token", "create", "--name", f"tally-{uuid.uuid4().hex[:8]}")
    items: list[str] = []
    cursor: str | None = None
    while True:
        query = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        answer = requests.get(
            server.url + "/api/v1/requests",
            params=query,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += [str(item["client_id"]) for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return items


def tally(name: str, answered: list[str], server: ServerProc) -> tuple[int, int]:
    """Print and return (missing, duplicated): answered 201 against the server's rows."""
    held = Counter(server_ids(server))
    missing = sum(1 for i in set(answered) if held[i] == 0)
    duplicated = sum(n - 1 for n in held.values() if n > 1)
    print(
        f"\n{name}: answered 201 {len(answered)}, on the server {sum(held.values())}, "
        f"missing {missing}, duplicated {duplicated}"
    )
    return missing, duplicated


def sqlite_backup(source: Path, target: Path) -> None:
    """An online copy of a SQLite database, as the kiosk's nightly backup makes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def replace_card(kiosk: KioskProc, image: Path | None) -> None:
    """The kiosk's database files replaced by `image` (None: an empty card)."""
    for suffix in ("", "-wal", "-shm"):
        (kiosk.data / (DB_NAME + suffix)).unlink(missing_ok=True)
    if image is not None:
        shutil.copy(image, kiosk.data / DB_NAME)


@pytest.fixture
def proxy(server_proc: ServerProc) -> Iterator[FaultProxy]:
    """A fault proxy in front of the server."""
    with FaultProxy("127.0.0.1", server_proc.port) as fault_proxy:
        yield fault_proxy


# --- restores of the kiosk ----------------------------------------------------------------


def test_kiosk_restored_from_its_own_backup_keeps_saving(
    server_proc: ServerProc, make_kiosk: MakeKiosk, tmp_path: Path
) -> None:
    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "k1")
    kiosk.start()
    answered = save(kiosk, 5)
    settle(kiosk)
    sqlite_backup(kiosk.data / DB_NAME, tmp_path / "nightly" / "kiosk.sqlite3")
    answered += save(kiosk, 10)
    settle(kiosk)
    kiosk.kill()
    replace_card(kiosk, tmp_path / "nightly" / "kiosk.sqlite3")
    kiosk.start()
    answered += save(kiosk, 10)
    status = settle(kiosk)
    assert tally("restored from its backup", answered, server_proc) == (0, 0)
    assert (status["queued"], status["state"]) == (0, "online")


def test_empty_card_enrolled_under_its_old_name_keeps_saving(
    server_proc: ServerProc, make_kiosk: MakeKiosk
) -> None:
    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "k1")
    kiosk.start()
    answered = save(kiosk, 6)
    settle(kiosk)
    kiosk.kill()
    replace_card(kiosk, None)
    enrol(server_proc, kiosk, "k1")
    kiosk.start()
    answered += save(kiosk, 6)
    status = settle(kiosk)
    assert tally("empty card under its old name", answered, server_proc) == (0, 0)
    assert status["queued"] == 0


def test_wal_lost_after_a_kill_keeps_saving(server_proc: ServerProc, make_kiosk: MakeKiosk) -> None:
    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "k1")
    kiosk.start()
    answered = save(kiosk, 4)
    settle(kiosk)
    kiosk.stop()  # a clean stop checkpoints the WAL into the main file
    kiosk.start()
    answered += save(kiosk, 6)  # these, and their acknowledgements, live only in the WAL
    settle(kiosk)
    kiosk.kill()
    wal = kiosk.data / (DB_NAME + "-wal")
    assert wal.exists()
    wal.unlink()
    (kiosk.data / (DB_NAME + "-shm")).unlink(missing_ok=True)
    kiosk.start()
    answered += save(kiosk, 6)
    status = settle(kiosk)
    assert tally("WAL lost after kill -9", answered, server_proc) == (0, 0)
    assert status["queued"] == 0


# --- a cloned card ------------------------------------------------------------------------


def test_card_cloned_onto_a_second_running_kiosk_loses_nothing(
    server_proc: ServerProc, make_kiosk: MakeKiosk, app: Flask
) -> None:
    from server.extensions import db
    from server.kiosks.models import Kiosk

    first = make_kiosk("k1")
    enrol(server_proc, first, "k1")
    first.start()
    answered = save(first, 3)
    settle(first)
    second = make_kiosk("k2")
    sqlite_backup(first.data / DB_NAME, second.data / DB_NAME)
    second.start()
    told = False
    for _ in range(6):
        answered += save(first, 2)
        settle(first, 20)
        answered += save(second, 2)
        settle(second, 20)
        if second.status()["state"] == "cloned" or first.status()["state"] == "cloned":
            told = True
            break
    print(f"\nclone told to re-enrol: {told}")
    tally("cloned card, both running", answered, server_proc)
    assert told
    clone, kept = (second, first) if second.status()["state"] == "cloned" else (first, second)
    with app.app_context():
        row = db.session.execute(sa.select(Kiosk).where(Kiosk.name == "k1")).scalar_one()
        assert row.cloned_at is not None
        db.session.remove()
    page = requests.get(clone.url + "/", timeout=10)
    assert page.headers.get("X-Linli-Problem") == "cloned"
    answered += save(kept, 2)
    # Staff enrol the clone as a new kiosk; what it queued goes under its new name.
    enrol(server_proc, clone, "k1-copy")
    answered += save(clone, 2)
    settle(clone)
    settle(kept)
    assert tally("cloned card", answered, server_proc) == (0, 0)


# --- the server restored from before the kiosk's compaction window -------------------------


def _close_on_the_server(app: Flask, request_id: str) -> None:
    """Mark a request closed on the server and publish that to the kiosks, as staff would."""
    import uuid

    from server.extensions import db
    from server.requests.changes import request_change
    from server.requests.models import HelpRequest
    from server.synclog.changes import record_changes

    with app.app_context():
        req = db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.client_id == uuid.UUID(request_id))
        ).scalar_one()
        req.status = "closed_fixed"
        record_changes([request_change(req)])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # no pooled handle may outlive the restore that replaces the file


def test_server_restored_from_before_the_compaction_window(
    server_proc: ServerProc, make_kiosk: MakeKiosk, app: Flask, proxy: FaultProxy
) -> None:
    from server.extensions import db
    from server.kiosks.models import Kiosk

    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "k1", url=proxy.url)
    kiosk.start()
    answered = save(kiosk, 4)
    settle(kiosk)
    backup = server_proc.cli("db", "backup").stdout.strip().splitlines()[-1]
    lost = save(kiosk, 5)
    answered += lost
    settle(kiosk)
    # Staff closed one of them and the kiosk pulled that (written here as the pull would; the
    # server's change row says so too, as a later download from nothing brings it).
    closed = lost[0]
    _close_on_the_server(app, closed)
    with closing(sqlite3.connect(kiosk.data / DB_NAME, timeout=30)) as conn, conn:
        conn.execute("UPDATE requests SET status = 'closed_fixed' WHERE id = ?", (closed,))
    compacted = kiosk.cli(
        "sync", "nightly", "--data", str(kiosk.data), "--compact-days", "0", check=False
    )
    assert "compact" in compacted.stdout, compacted.stdout + compacted.stderr
    server_proc.stop()
    server_proc.cli("db", "restore", backup, "--yes")
    server_proc.start()
    before = _pushes(proxy)
    after = save(kiosk, 4)
    answered += after
    status = settle(kiosk, 60)
    pushes = _pushes(proxy) - before
    print(f"\npushes from the restore until the queue drained: {pushes}")
    missing, duplicated = tally("server restored before compaction", answered, server_proc)
    held = set(server_ids(server_proc))
    assert duplicated == 0
    assert set(after) <= held, "requests made after the restore all arrive"
    assert set(lost[1:]) <= held, "open requests whose envelopes were compacted are rebuilt"
    assert missing == 1, "a settled request is named to staff, never reopened by a rebuild"
    assert pushes < 50, "the kiosk backs off instead of pushing in a loop"
    assert status["queued"] == 0
    assert status["lost_history"] is not None
    # The nightly health report names what the server still lacks: the settled one.
    kiosk.cli("sync", "nightly", "--data", str(kiosk.data), check=False)
    with app.app_context():
        row = db.session.execute(sa.select(Kiosk).where(Kiosk.name == "k1")).scalar_one()
        named = {r["id"] for r in (row.health or {}).get("lost", [])}
        db.session.remove()
    assert named == {closed}


def _pushes(proxy: FaultProxy) -> int:
    return sum(1 for entry in proxy.log if entry.path.endswith("/push"))


# --- a batch the server keeps failing on -------------------------------------------------


def _poisoned(request: ProxiedRequest) -> str:
    """500 for any push whose batch holds the marked request."""
    if request.path.endswith("/push") and b"POISON" in gzip.decompress(request.body):
        return ERROR_500
    return PASS


def test_poisoned_batch_parks_one_op_and_the_rest_drain(
    server_proc: ServerProc, make_kiosk: MakeKiosk, proxy: FaultProxy
) -> None:
    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "k1", url=proxy.url)
    proxy.set_policy(_poisoned)
    kiosk.start()
    answered = save(kiosk, 4)
    answered += save(kiosk, 1, details="POISON")
    answered += save(kiosk, 8)
    with suppress(AssertionError):
        wait_until(lambda: kiosk.status()["queued"] == 0, timeout=90, what="the rest drained")
    status = kiosk.status()
    assert tally("poisoned batch, before release", answered, server_proc) == (1, 0)
    assert (status["queued"], status["parked"]) == (0, 1)
    proxy.set_policy(None)
    released = kiosk.cli("sync", "release", "--data", str(kiosk.data), "--all")
    assert "released 1" in released.stderr
    answered += save(kiosk, 1)
    wait_until(lambda: kiosk.status()["parked"] == 0, timeout=30, what="the release")
    settle(kiosk)
    assert tally("poisoned batch, after release", answered, server_proc) == (0, 0)


@pytest.mark.parametrize("length", [95, 100])
def test_long_kiosk_name_on_every_backend(
    server_proc: ServerProc, make_kiosk: MakeKiosk, length: int
) -> None:
    """On PostgreSQL the event actor `kiosk:<name>` overflowed its column: every push a 500."""
    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "邻" * length)
    kiosk.start()
    answered = save(kiosk, 5)
    status = settle(kiosk, 30)
    assert tally(f"{length}-character kiosk name", answered, server_proc) == (0, 0)
    assert (status["queued"], status["parked"]) == (0, 0)
