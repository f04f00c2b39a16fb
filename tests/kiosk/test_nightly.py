"""The kiosk's nightly job against a real server process."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from kiosk.nightly import backups, run_nightly
from kiosk.store import Store
from sync.client import SyncEngine
from tests.procs import ServerProc


@pytest.fixture
def kiosk(server_proc: ServerProc, tmp_path: Path) -> Iterator[tuple[Store, SyncEngine]]:
    """An enrolled in-process kiosk store and engine."""
    store = Store(tmp_path / "kiosk" / "kiosk.sqlite3")
    engine = SyncEngine(store)
    code = server_proc.secret("kiosk", "enroll", "--community", "lanqiao", "--name", "night")
    store.save_enrollment(server_proc.url, engine.enroll(server_proc.url, code))
    engine.sync_once()
    yield store, engine
    store.close()


def test_nightly_reconciles_compacts_backs_up_and_reports(
    kiosk: tuple[Store, SyncEngine], server_proc: ServerProc, tmp_path: Path
) -> None:
    store, engine = kiosk
    for _ in range(3):
        store.create_request("plumbing", "3-2-301")
    engine.sync_once()
    backup_dir = tmp_path / "backups"
    later = datetime.now(UTC) + timedelta(days=40)
    reports = [
        run_nightly(store, engine, backup_dir, keep_backups=2, clock=lambda d=d: later + d)
        for d in (timedelta(0), timedelta(seconds=1), timedelta(seconds=2))
    ]
    for report in reports:
        assert report.ok, report.summary()
    assert "3 acknowledged operations" in reports[0].done["compact"]
    assert "0 acknowledged operations" in reports[1].done["compact"]
    kept = backups(backup_dir)
    assert len(kept) == 2
    conn = sqlite3.connect(kept[-1])
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 3
    finally:
        conn.close()
    assert store.rooms(), "reference data was re-downloaded"
    metrics = requests.get(server_proc.url + "/metrics", timeout=10).text
    assert 'linli_kiosk_queued{community="lanqiao",kiosk="night"} 0' in metrics


def test_nightly_reports_a_failed_step_and_runs_the_rest(
    kiosk: tuple[Store, SyncEngine], server_proc: ServerProc, tmp_path: Path
) -> None:
    store, engine = kiosk
    store.create_request("meals", "1-1-101")
    server_proc.stop()
    report = run_nightly(store, engine, tmp_path / "backups")
    assert not report.ok
    assert set(report.failed) == {"reconcile", "refresh", "health"}
    assert "backup" in report.done
    assert "compact" in report.done
    assert store.status()["queued"] == 1, "nothing pending is ever compacted"
