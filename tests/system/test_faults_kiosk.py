"""Kiosk fault tests with real processes on loopback: kill -9, full disk, server down,
revoked token, skewed clocks, and `linli sync once`.

The kill -9 soak prints its random seed; replay a failure with LINLI_SOAK_SEED=<seed>.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk.runtime import DB_NAME
from kiosk.store import Store
from sync.client import SyncEngine
from sync.messages import CATEGORY_CODES
from tests.procs import KioskProc, ServerProc, wait_until

ROOMS = ["3-2-301", "3-2-302", "3-1-101", "1-1-101", "1-1-102"]
CATEGORIES = list(CATEGORY_CODES)
SOAK_CYCLES = 100
STATUS_KEYS = {"queued", "oldest_queued_at", "last_sync_at", "online", "last_error"}

MakeKiosk = Callable[..., KioskProc]


# --- helpers ------------------------------------------------------------------------------


def enrol(server: ServerProc, kiosk: KioskProc, name: str) -> None:
    """Enrol the kiosk's data folder under `name` with a fresh one-time code."""
    code = server.secret("kiosk", "enroll", "--community", "lanqiao", "--name", name)
    kiosk.enroll(server.url, code)


def api_token(server: ServerProc) -> str:
    """A staff API token for every community."""
    return server.secret("api-token", "create", "--name", "t")


def staff_requests(server: ServerProc, token: str, **params: str) -> list[dict[str, Any]]:
    """Every request the staff API lists, following `next_cursor` page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": "200", **params, **({"cursor": cursor} if cursor else {})}
        answer = requests.get(
            server.url + "/api/v1/requests",
            params=query,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items


def staff_rejections(server: ServerProc, token: str) -> list[dict[str, Any]]:
    """The first page of operations the server rejected."""
    answer = requests.get(
        server.url + "/api/v1/rejections",
        params={"limit": "1000"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


@contextmanager
def kiosk_db(kiosk: KioskProc) -> Iterator[sqlite3.Connection]:
    """The kiosk's SQLite database, opened directly and always closed."""
    with closing(sqlite3.connect(kiosk.data / DB_NAME, timeout=30)) as conn:
        yield conn


def integrity(kiosk: KioskProc) -> list[tuple[Any, ...]]:
    """`PRAGMA integrity_check` rows of the kiosk database (`[("ok",)]` when sound)."""
    with kiosk_db(kiosk) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


def count(conn: sqlite3.Connection, sql: str) -> int:
    """The single number a query such as `SELECT count(*) ...` answers."""
    return int(conn.execute(sql).fetchone()[0])


def local_ids(kiosk: KioskProc) -> list[str]:
    """Ids of the requests saved on the kiosk (not those made elsewhere it shows)."""
    with kiosk_db(kiosk) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM requests WHERE origin = 'kiosk'")]


def a_request(rng: random.Random, details: str | None = None) -> dict[str, Any]:
    """Fields of a plausible request."""
    fields: dict[str, Any] = {"category": rng.choice(CATEGORIES), "room": rng.choice(ROOMS)}
    if details is not None:
        fields["details"] = details
    elif rng.random() < 0.5:
        fields["details"] = "客厅的灯不亮了 " * rng.randint(1, 20)
    if rng.random() < 0.3:
        fields["phone"] = "1380000" + str(rng.randint(1000, 9999))
    return fields


def create_ok(kiosk: KioskProc, rng: random.Random) -> str:
    """Create one request through the kiosk API; it must answer 201."""
    answer = kiosk.create(**a_request(rng))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "saved"
    return str(body["id"])


def assert_each_once(server_ids: list[str], expected: set[str]) -> None:
    """The server holds exactly `expected`, each id once."""
    twice = {i: n for i, n in Counter(server_ids).items() if n > 1}
    assert not twice, f"ids on the server more than once: {twice}"
    assert set(server_ids) == expected


def wait_synced(kiosk: KioskProc, timeout: float = 30) -> dict[str, Any]:
    """Wait until the queue is empty and the last attempt (push and pull) succeeded."""

    def synced() -> bool:
        status = kiosk.status()
        return bool(status["queued"] == 0 and status["online"])

    wait_until(synced, timeout=timeout, what="the queue to drain and the kiosk to be online")
    return kiosk.status()


class Poster(threading.Thread):
    """Posts requests to one kiosk as fast as it answers, until stopped or the kiosk dies."""

    def __init__(self, url: str, seed: int) -> None:
        super().__init__(name="poster", daemon=True)
        self.url = url
        self.rng = random.Random(seed)
        self.answered: list[str] = []
        self.unexpected: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Post until stopped; stop early when the kiosk no longer answers."""
        while not self._stop_event.is_set():
            try:
                answer = requests.post(
                    self.url + "/api/requests", json=a_request(self.rng), timeout=10
                )
            except requests.RequestException:
                return
            if answer.status_code == 201:
                self.answered.append(str(answer.json()["id"]))
            else:
                self.unexpected.append(f"{answer.status_code} {answer.text}")

    def finish(self) -> None:
        """Stop posting and wait for the thread."""
        self._stop_event.set()
        self.join(30)
        assert not self.is_alive(), "the poster did not stop"


# --- 1. kill -9 soak ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
def test_kill_9_soak_loses_nothing_and_duplicates_nothing(
    server_proc: ServerProc, make_kiosk: MakeKiosk
) -> None:
    seed = int(os.environ.get("LINLI_SOAK_SEED") or random.SystemRandom().randrange(2**32))
    print(f"kill -9 soak: seed {seed} (replay with LINLI_SOAK_SEED={seed})")
    rng = random.Random(seed)
    kiosk = make_kiosk("soak")
    enrol(server_proc, kiosk, "soak")
    answered: list[str] = []
    unexpected: list[str] = []
    started = time.monotonic()
    for _ in range(SOAK_CYCLES):
        kiosk.start()
        poster = Poster(kiosk.url, rng.randrange(2**32))
        poster.start()
        time.sleep(rng.uniform(0.05, 0.6))
        kiosk.kill()
        poster.finish()
        answered.extend(poster.answered)
        unexpected.extend(poster.unexpected)
    print(
        f"kill -9 soak: {SOAK_CYCLES} kills, {len(answered)} requests answered 201, "
        f"{time.monotonic() - started:.1f} s"
    )
    assert not unexpected, unexpected[:5]
    assert len(answered) >= SOAK_CYCLES // 4, "too few requests were made to test anything"
    assert len(set(answered)) == len(answered), "the kiosk answered one id twice"

    for _ in range(5):
        result = kiosk.cli("sync", "once", "--data", str(kiosk.data), check=False)
        if result.returncode == 0:
            break
    assert result.returncode == 0, result.stderr

    assert integrity(kiosk) == [("ok",)]
    token = api_token(server_proc)
    items = staff_requests(server_proc, token)
    server_ids = [item["client_id"] for item in items]
    kiosk_ids = set(local_ids(kiosk))
    assert set(answered) <= set(server_ids), "a request answered 201 never reached the server"
    assert set(server_ids) <= kiosk_ids, "the server holds a request the kiosk never saved"
    assert_each_once(server_ids, kiosk_ids)
    # Tickets have four digits and come round again after 10,000 requests (a fast machine
    # saves more than that here): each is used once per round.
    tickets = Counter(item["ticket"] for item in items)
    assert max(tickets.values()) <= 1 + len(items) // 10_000, "two requests share a ticket"
    assert not staff_rejections(server_proc, token)
    with kiosk_db(kiosk) as conn:
        seqs = [row[0] for row in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
        states = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        creates = count(conn, "SELECT count(*) FROM outbox WHERE type = 'request.create'")
        queued = count(conn, "SELECT count(*) FROM requests WHERE status = 'queued'")
    assert seqs == list(range(1, len(seqs) + 1)), "outbox seqs are not gap-free"
    assert states == {"applied": len(seqs)}
    assert creates == len(kiosk_ids)
    assert queued == 0


# --- 2. full disk ------------------------------------------------------------------------


def capped_kiosk(server: ServerProc, make_kiosk: MakeKiosk) -> KioskProc:
    """An enrolled kiosk whose database may grow only a few pages past its size after enrolment."""
    enrol(server, make_kiosk("full"), "full")
    with kiosk_db(make_kiosk("full")) as conn:
        pages = count(conn, "PRAGMA page_count")
    # The same data folder, with the cap in the environment of its next start.
    return make_kiosk("full", LINLI_KIOSK_MAX_DB_PAGES=str(pages + 24))


# The server's database plays no part in these two: SQLite is enough.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_full_disk_answers_507_and_writes_nothing_half(
    server_proc: ServerProc, make_kiosk: MakeKiosk
) -> None:
    rng = random.Random(2)
    long_details = "水管漏水 " * 400
    kiosk = capped_kiosk(server_proc, make_kiosk)
    kiosk.start()
    created: list[str] = []
    for _ in range(200):
        answer = kiosk.create(**a_request(rng, details=long_details))
        if answer.status_code != 201:
            break
        created.append(answer.json()["id"])
    assert answer.status_code == 507, answer.text
    body = answer.json()
    assert body["error"] == "storage_full"
    assert body["detail"]
    assert created, "the cap left no room for even one request"
    again = kiosk.create(**a_request(rng, details=long_details))
    assert again.status_code == 507, again.text

    with kiosk_db(kiosk) as conn:
        saved = count(conn, "SELECT count(*) FROM requests")
        ops = count(conn, "SELECT count(*) FROM outbox WHERE type = 'request.create'")
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert saved == len(created)
    assert ops == len(created)
    assert kiosk.status()["device"] == "full"
    # What was saved before the disk filled up still reaches the server.
    wait_until(lambda: kiosk.status()["queued"] == 0, timeout=30, what="the queue to drain")
    items = staff_requests(server_proc, api_token(server_proc))
    assert_each_once([item["client_id"] for item in items], set(created))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_kiosk_filled_up_while_offline_drains_when_the_server_returns(
    server_proc: ServerProc, make_kiosk: MakeKiosk
) -> None:
    kiosk = capped_kiosk(server_proc, make_kiosk)
    kiosk.start()
    server_proc.stop()
    created: list[str] = []
    # Short requests fill the pages tightly, leaving no slack for recording the server's answers.
    for _ in range(2000):
        answer = kiosk.create(category="electrical", room="3-2-301")
        if answer.status_code != 201:
            break
        created.append(answer.json()["id"])
    assert answer.status_code == 507, answer.text
    assert answer.json()["error"] == "storage_full"

    server_proc.start()
    once = kiosk.cli("sync", "once", "--data", str(kiosk.data), check=False)
    assert "Traceback" not in once.stderr, once.stderr
    assert once.returncode == 0, once.stderr
    assert wait_synced(kiosk)["last_error"] is None
    items = staff_requests(server_proc, api_token(server_proc))
    assert_each_once([item["client_id"] for item in items], set(created))


# --- 3. server down for a while ----------------------------------------------------------


def test_queue_drains_after_the_server_comes_back(
    server_proc: ServerProc, make_kiosk: MakeKiosk
) -> None:
    rng = random.Random(3)
    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "k1")
    kiosk.start()
    server_proc.stop()
    ids = [create_ok(kiosk, rng) for _ in range(5)]

    def offline() -> bool:
        s = kiosk.status()
        return bool(s["queued"] == len(ids) and not s["online"] and s["last_error"])

    wait_until(offline, timeout=30, what="the kiosk to notice the server is down")
    over_http = kiosk.status()
    assert over_http["oldest_queued_at"] is not None
    printed = kiosk.cli("sync", "status", "--data", str(kiosk.data))
    from_cli = json.loads(printed.stdout)
    assert set(from_cli) >= STATUS_KEYS
    assert set(from_cli) == set(over_http)
    assert {k: from_cli[k] for k in ("queued", "oldest_queued_at", "online")} == {
        k: over_http[k] for k in ("queued", "oldest_queued_at", "online")
    }

    server_proc.start()
    status = wait_synced(kiosk)
    assert status["last_error"] is None
    assert status["last_sync_at"] is not None
    items = staff_requests(server_proc, api_token(server_proc))
    assert_each_once([item["client_id"] for item in items], set(ids))


# --- 4. revoked token --------------------------------------------------------------------


def test_revoked_kiosk_keeps_its_queue_and_drains_after_enrolling_again(
    server_proc: ServerProc, make_kiosk: MakeKiosk
) -> None:
    rng = random.Random(4)
    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "k1")
    kiosk.start()
    before = [create_ok(kiosk, rng) for _ in range(2)]
    wait_until(lambda: kiosk.status()["queued"] == 0, timeout=30, what="the first sync")

    server_proc.cli("kiosk", "revoke", "k1")
    queued = [create_ok(kiosk, rng) for _ in range(4)]
    wait_until(lambda: kiosk.status()["state"] == "revoked", timeout=30, what="state 'revoked'")
    status = kiosk.status()
    assert status["queued"] == len(queued)
    assert status["online"] is False
    assert "401" in status["last_error"]
    assert "revoked" in status["last_error"].lower()

    # A second process enrols the data folder while the kiosk process keeps running.
    enrol(server_proc, kiosk, "k1")
    assert wait_synced(kiosk)["last_error"] is None
    items = staff_requests(server_proc, api_token(server_proc))
    assert_each_once([item["client_id"] for item in items], set(before + queued))
    assert integrity(kiosk) == [("ok",)]


# --- 5. device clocks years off ----------------------------------------------------------


def _skewed_clock(offset: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + offset


def test_device_clocks_are_recorded_not_trusted_for_order(
    server_proc: ServerProc, tmp_path: Path
) -> None:
    rng = random.Random(5)
    offsets = {
        "past": timedelta(days=-3650),
        "now": timedelta(0),
        "future": timedelta(days=3650),
    }
    stores: dict[str, Store] = {}
    engines: dict[str, SyncEngine] = {}
    try:
        for name, offset in offsets.items():
            clock = _skewed_clock(offset)
            store = Store(tmp_path / name / DB_NAME, clock=clock)
            stores[name] = store
            engine = SyncEngine(store, clock=clock)
            engines[name] = engine
            code = server_proc.secret("kiosk", "enroll", "--community", "lanqiao", "--name", name)
            store.save_enrollment(server_proc.url, engine.enroll(server_proc.url, code))
            engine.sync_once()

        test_started = datetime.now(UTC) - timedelta(seconds=1)
        synced_order: list[str] = []
        for _ in range(3):
            made: dict[str, list[str]] = {name: [] for name in offsets}
            # Made in device-clock order (past, now, future) ...
            for name in ("past", "now", "future"):
                for _ in range(2):
                    fields = a_request(rng)
                    made[name].append(stores[name].create_request(**fields).id)
            # ... and synced in another order: the server must follow this one.
            for name in ("future", "past", "now"):
                outcome = engines[name].sync_once()
                assert outcome.ok
                assert outcome.pushed == 2
                synced_order.extend(made[name])

        token = api_token(server_proc)
        items = staff_requests(server_proc, token)
        assert [item["client_id"] for item in items] == synced_order
        received = [datetime.fromisoformat(item["received_at"]) for item in items]
        assert received == sorted(received)
        assert all(r >= test_started for r in received)
        # `since` filters on the server's clock: requests dated 2016 and 2036 are all in.
        recent = staff_requests(server_proc, token, since=test_started.isoformat())
        assert len(recent) == len(synced_order)
        assert not staff_rejections(server_proc, token)

        for item in items:
            store = stores[item["kiosk"]]
            local = store.get_request(item["client_id"])
            assert local is not None
            assert local["status"] != "queued"
            recorded = datetime.fromisoformat(item["created_at"])
            assert recorded == datetime.fromisoformat(local["created_at"])
            expected_year = (datetime.now(UTC) + offsets[item["kiosk"]]).year
            assert abs(recorded.year - expected_year) <= 1
        for store in stores.values():
            assert store.status()["rejected"] == 0
            assert store.status()["queued"] == 0
    finally:
        for engine in engines.values():
            engine.session.close()
        for store in stores.values():
            store.close()


# --- 6. `linli sync once` ----------------------------------------------------------------


def test_sync_once_exit_status(server_proc: ServerProc, make_kiosk: MakeKiosk) -> None:
    kiosk = make_kiosk("k1")
    enrol(server_proc, kiosk, "k1")
    empty = kiosk.cli("sync", "once", "--data", str(kiosk.data), check=False)
    assert empty.returncode == 0, empty.stderr

    store = Store(kiosk.data / DB_NAME)
    try:
        ids = [store.create_request("plumbing", "3-2-302").id for _ in range(3)]
    finally:
        store.close()

    server_proc.stop()
    down = kiosk.cli("sync", "once", "--data", str(kiosk.data), check=False)
    assert down.returncode != 0
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1, down.stderr
    assert lines[0].startswith("error: sync failed (offline)")
    assert "Traceback" not in down.stdout + down.stderr

    server_proc.start()
    up = kiosk.cli("sync", "once", "--data", str(kiosk.data), check=False)
    assert up.returncode == 0, up.stderr
    status = json.loads(kiosk.cli("sync", "status", "--data", str(kiosk.data)).stdout)
    assert status["queued"] == 0
    assert status["online"] is True
    items = staff_requests(server_proc, api_token(server_proc))
    assert_each_once([item["client_id"] for item in items], set(ids))
