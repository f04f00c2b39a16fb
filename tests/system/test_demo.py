"""`linli demo`: one command brings up a seeded server and an enrolled kiosk; Ctrl-C stops both."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
import requests

from sync.statuses import STATUSES
from tests.procs import LINLI, free_port, wait_until

STATES = set(STATUSES)


def _run_demo(folder: Path, port: int, kiosk_port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                *LINLI,
                "demo",
                "--dir",
                str(folder),
                "--port",
                str(port),
                "--kiosk-port",
                str(kiosk_port),
                "--browser",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def _up(log: Path) -> bool:
    return "Linli demo is running" in log.read_text(errors="replace")


@pytest.mark.slow
def test_demo_runs_seeds_every_state_and_stops_cleanly(tmp_path: Path) -> None:
    folder, log = tmp_path / "demo", tmp_path / "demo.log"
    port, kiosk_port = free_port(), free_port()
    proc = _run_demo(folder, port, kiosk_port, log)
    try:
        wait_until(lambda: _up(log) or proc.poll() is not None, timeout=180, what="the demo")
        assert proc.poll() is None, log.read_text()
        text = log.read_text()
        assert f"http://127.0.0.1:{port}/" in text
        assert f"http://127.0.0.1:{kiosk_port}/" in text
        assert "password linli-demo-2026" in text
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        kiosk = f"http://127.0.0.1:{kiosk_port}"
        wait_until(
            lambda: requests.get(kiosk + "/api/status", timeout=5).json()["online"],
            timeout=60,
            what="the kiosk online",
        )
        saved = requests.post(
            kiosk + "/api/requests", json={"category": "electrical", "room": "1-1-101"}, timeout=10
        )
        assert saved.status_code == 201, saved.text
        wait_until(
            lambda: requests.get(kiosk + "/api/status", timeout=5).json()["queued"] == 0,
            timeout=60,
            what="the request synced",
        )
        with requests.Session() as console:
            login = console.get(f"http://127.0.0.1:{port}/login", timeout=10)
            assert login.status_code == 200
    finally:
        code = _stop(proc)
    assert code == 0, log.read_text()[-2000:]
    with closing(sqlite3.connect(folder / "server" / "linli.sqlite3")) as conn:
        states = {row[0] for row in conn.execute("SELECT DISTINCT status FROM help_request")}
        roles = {
            row[0]
            for row in conn.execute(
                "SELECT role FROM user_community UNION SELECT all_communities_role "
                "FROM user_account WHERE all_communities_role IS NOT NULL"
            )
        }
        client_ids = [row[0] for row in conn.execute("SELECT client_id FROM help_request")]
    assert states >= STATES, STATES - states
    assert roles == {"admin", "social_worker", "team_lead", "viewer"}
    assert len(client_ids) == len(set(client_ids))

    port2, kiosk2 = free_port(), free_port()
    again = _run_demo(folder, port2, kiosk2, log)
    try:
        wait_until(
            lambda: log.read_text().count("Linli demo is running") == 2 or again.poll() is not None,
            timeout=120,
            what="the second demo run",
        )
        assert again.poll() is None, log.read_text()[-2000:]
    finally:
        assert _stop(again) == 0
    assert log.read_text().count("demo data created") == 1, "a rerun reuses the data"
