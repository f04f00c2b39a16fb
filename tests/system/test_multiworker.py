"""Several gunicorn workers on PostgreSQL, 50 kiosks syncing at once through the fault proxy.

Exactly-once must hold and every kiosk's pulls must see every change, whichever worker
answered and whatever the proxy did to the traffic.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kiosk.store import Store
from sync.client import SyncEngine, SyncError
from tests.faultproxy import DROP_RESPONSE, DUPLICATE, ERROR_500, PASS, RESET, FaultProxy
from tests.procs import gunicorn as run_gunicorn

KIOSKS = 50
REQUESTS_EACH = 8
ROOMS = ["3-2-301", "3-2-302", "3-1-101", "1-1-101", "1-1-102"]


@pytest.fixture
def backend() -> str:
    """Only PostgreSQL: several workers and hosts need it."""
    return "postgresql"


@contextmanager
def _gunicorn(database_url: str, folder: Path, workers: int = 4) -> Iterator[str]:
    """A gunicorn master with `workers` workers serving the app on `database_url`."""
    args = ["--workers", str(workers), "--worker-class", "gthread", "--threads", "4"]
    with run_gunicorn(database_url, folder, args) as url:
        yield url


@pytest.fixture
def lanqiao(app: Any) -> None:
    """Community lanqiao and its rooms, made in process."""
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.extensions import db

    with app.app_context():
        community = create_community("lanqiao", "蓝桥社区")
        rooms = "\n".join(r.replace("-", ",") for r in ROOMS)
        import_rooms(community, parse_rooms_csv(rooms, "rooms.csv"))
        db.session.commit()


@pytest.fixture
def gunicorn(database_url: str, tmp_path: Path, lanqiao: None) -> Iterator[str]:
    """Four gunicorn workers serving the app on this test's database."""
    with _gunicorn(database_url, tmp_path / "host-a") as url:
        yield url


def _chaos(rng: random.Random, lock: threading.Lock) -> Any:
    def policy(_request: Any) -> str:
        with lock:
            roll = rng.random()
        if roll < 0.08:
            return DROP_RESPONSE
        if roll < 0.12:
            return RESET
        if roll < 0.16:
            return ERROR_500
        if roll < 0.22:
            return DUPLICATE
        return PASS

    return policy


def _sync_until_drained(engine: SyncEngine, store: Store, attempts: int = 60) -> None:
    for _ in range(attempts):
        try:
            engine.sync_once()
        except SyncError:
            continue
        if store.status()["queued"] == 0:
            return
    raise AssertionError(f"outbox of {store.path} did not drain: {store.status()}")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_fifty_kiosks_through_faults_on_four_workers(
    gunicorn: str, app: Any, tmp_path: Path
) -> None:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    seed = random.randrange(1 << 30)
    print(f"chaos seed {seed}")
    rng, lock = random.Random(seed), threading.Lock()
    host, port = gunicorn.removeprefix("http://").split(":")
    proxy = FaultProxy(host, int(port))
    proxy.start()
    try:
        proxy.set_policy(_chaos(rng, lock))
        codes = []
        with app.app_context():
            for i in range(KIOSKS):
                codes.append(new_enrollment_code("lanqiao", f"k{i:02d}", 24)[1])
            db.session.commit()
        kiosks: list[tuple[Store, SyncEngine]] = []
        for i, code in enumerate(codes):
            store = Store(tmp_path / f"k{i:02d}.sqlite3")
            engine = SyncEngine(store, connect_timeout=5, read_timeout=30)
            store.save_enrollment(proxy.url, engine.enroll(gunicorn, code))
            kiosks.append((store, engine))
        errors: list[BaseException] = []

        def run(store: Store, engine: SyncEngine, index: int) -> None:
            try:
                _sync_until_drained(engine, store)
                local = random.Random(seed + index)
                for n in range(REQUESTS_EACH):
                    saved = store.create_request("electrical", local.choice(ROOMS))
                    if n % 3 == 0:
                        store.cancel_request(saved.id, "sorted out")
                    if local.random() < 0.5:
                        with contextlib.suppress(SyncError):
                            engine.sync_once()
                _sync_until_drained(engine, store)
            except BaseException as exc:
                errors.append(exc)
            finally:
                store.close()

        threads = [threading.Thread(target=run, args=(s, e, i)) for i, (s, e) in enumerate(kiosks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not errors, errors[:3]
        assert proxy.stats.requests_seen > KIOSKS * 2
        faults = {m: n for m, n in proxy.stats.by_mode.items() if n and m != PASS}
        assert faults, "the proxy injected no fault"

        proxy.set_policy(None)
        engine_db = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        try:
            with engine_db.connect() as conn:
                rows = conn.execute(sa.text("SELECT client_id, status FROM help_request")).all()
        finally:
            engine_db.dispose()
        server_status = {str(cid): status for cid, status in rows}
        assert len(rows) == KIOSKS * REQUESTS_EACH, "every request exactly once"
        assert len(server_status) == len(rows)
        for i, (store, engine) in enumerate(kiosks):
            _sync_until_drained(engine, store)
            # The kiosk shows the community's other kiosks' requests too, as the server has them.
            shown = [r for room in ROOMS for r in store.requests_for_room(room, 10_000)]
            local_rows = [(r["id"], r["status"]) for r in shown if r["origin"] == "kiosk"]
            assert len(local_rows) == REQUESTS_EACH
            for row in shown:
                assert server_status[row["id"]] == row["status"], (i, row["id"], row["origin"])
            store.close()
        statuses = sorted(server_status.values())
        assert statuses.count("cancelled") == KIOSKS * len(range(0, REQUESTS_EACH, 3))
    finally:
        proxy.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_console_on_one_host_sees_a_request_pushed_through_another(
    gunicorn: str, database_url: str, app: Any, browser: Any, tmp_path: Path
) -> None:
    """Live updates cross processes: PostgreSQL LISTEN/NOTIFY, not in-process state."""
    from playwright.sync_api import expect

    from server.auth.services import create_user
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        create_user("sw", "a-long-password-1", "social_worker", ["lanqiao"], "社工")
        code = new_enrollment_code("lanqiao", "hall", 24)[1]
        db.session.commit()
    with _gunicorn(database_url, tmp_path / "host-b") as other_host:
        store = Store(tmp_path / "kiosk.sqlite3")
        engine = SyncEngine(store)
        store.save_enrollment(other_host, engine.enroll(other_host, code))
        engine.sync_once()
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(gunicorn + "/login")
            page.fill("input[name=username]", "sw")
            page.fill("input[name=password]", "a-long-password-1")
            page.click("button[type=submit]")
            expect(page.locator("#queue-rows")).to_contain_text("没有记录。")
            page.wait_for_timeout(500)  # let the event stream open
            store.create_request("plumbing", "3-2-301", details="卫生间水管漏水")
            engine.sync_once()
            pushed = time.monotonic()
            row = page.locator("#queue-rows tr[data-id]")
            expect(row).to_have_count(1, timeout=15_000)
            print(f"seen on host A {time.monotonic() - pushed:.2f} s after host B committed it")
            expect(row).to_contain_text("卫生间水管漏水")
        finally:
            context.close()
            store.close()
