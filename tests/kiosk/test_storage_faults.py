"""The kiosk's own storage: backups by creation order, interrupted backups, a read-only or
unopenable data folder, a stalled or locked database, and "my requests" by saving order.

The read-only and frozen folders are real: a loop-mounted ext4 image (needs root).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from kiosk.nightly import backups, run_nightly
from kiosk.store import Store
from sync.client import SyncEngine
from sync.messages import EnrollResponse
from tests.procs import LINLI, KioskProc, free_port, linli, wait_until

ROOM = "3-2-301"
DEAD_SERVER = "http://127.0.0.1:9"
FORM = {
    "category": "meals",
    "room": ROOM,
    "phone": "",
    "on_behalf": "0",
    "consent_version": "",
    "form_token": "held-lock-form-token-0001",
}


def offline_kiosk(data: Path) -> None:
    """An enrolled kiosk data folder with one room, whose server is unreachable."""
    store = Store(data / "kiosk.sqlite3")
    try:
        store.save_enrollment(
            DEAD_SERVER,
            EnrollResponse(
                device_id=1, name="hall", token="t", community="lanqiao", ticket_prefix="A"
            ),
        )
        conn = store._conn()
        conn.execute("INSERT INTO rooms VALUES (?, '3', '2', '301')", (ROOM,))
    finally:
        store.close()


# --- backups ------------------------------------------------------------------------------


def test_backups_rotate_by_creation_order_whatever_the_clock(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "kiosk.sqlite3")
    engine = SyncEngine(store)
    folder = tmp_path / "backups"
    now = datetime.now(UTC)
    ten_years = timedelta(days=3653)
    made = []
    # The clock jumps ten years ahead, comes back, falls ten years behind, comes back.
    for when in (now, now + ten_years, now, now - ten_years, now + timedelta(minutes=1)):
        report = run_nightly(store, engine, folder, keep_backups=2, clock=lambda w=when: w)
        assert "backup" in report.done, report.summary()
        made.append(report.done["backup"].split(" ", 1)[0])
    store.close()
    kept = [p.name for p in backups(folder)]
    print(f"made in order: {made}; kept: {kept}")
    assert kept == made[-2:], "the two backups made last are the ones kept"


def test_an_interrupted_backup_leaves_nothing_after_the_next_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "kiosk.sqlite3")
    for _ in range(200):
        store._conn().execute("INSERT INTO meta VALUES (hex(randomblob(16)), zeroblob(4000))")
    folder = tmp_path / "backups"
    folder.mkdir()
    partial = folder / "kiosk-20260101T000000Z.sqlite3.partial"
    # A nightly job killed mid-backup: SQLite's backup stopped after its first page.
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])\n"
            "def hold(*_):\n    print('copying', flush=True); time.sleep(600)\n"
            "src.backup(dst, pages=1, progress=hold)\n",
            str(store.path),
            str(partial),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "copying"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    left = sorted(p.name for p in folder.iterdir())
    assert any(name.endswith(".partial") for name in left), left
    report = run_nightly(store, SyncEngine(store), folder, keep_backups=3)
    store.close()
    after = sorted(p.name for p in folder.iterdir())
    print(f"left by the killed backup: {left}; after the next run: {after}")
    assert "backup" in report.done, report.summary()
    assert not [name for name in after if ".partial" in name], after
    assert [p.name for p in backups(folder)] == after


def test_my_requests_follow_the_saving_order_not_the_clock(tmp_path: Path) -> None:
    offline_kiosk(tmp_path / "data")
    times = iter(
        [
            datetime(2026, 5, 1, tzinfo=UTC),
            datetime(2036, 5, 1, tzinfo=UTC),  # the clock jumped ten years ahead
            datetime(2026, 5, 1, 0, 5, tzinfo=UTC),  # and was put right
        ]
    )
    store = Store(tmp_path / "data" / "kiosk.sqlite3", clock=lambda: next(times, datetime.now(UTC)))
    try:
        saved = [store.create_request("meals", ROOM).ticket for _ in range(3)]
        shown = [r["ticket"] for r in store.requests_for_room(ROOM)]
    finally:
        store.close()
    assert shown == saved[::-1], f"saved {saved}, shown newest first as {shown}"


# --- a held write lock --------------------------------------------------------------------


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[KioskProc]:
    """A running, enrolled kiosk whose server is unreachable (it saves, and keeps retrying)."""
    proc = KioskProc(tmp_path / "data")
    offline_kiosk(proc.data)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_a_locked_database_answers_could_not_save_and_the_screens_stay_up(
    kiosk: KioskProc,
) -> None:
    assert kiosk.create(category="meals", room=ROOM).status_code == 201
    with closing(sqlite3.connect(kiosk.data / "kiosk.sqlite3", isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the database
        status = requests.get(kiosk.url + "/api/status", timeout=10)
        home = requests.get(kiosk.url + "/", timeout=10)
        answers = [kiosk.create(category="meals", room=ROOM) for _ in range(2)]
        touch = requests.post(kiosk.url + "/save", data=FORM, timeout=30, allow_redirects=False)
        other.execute("ROLLBACK")
    again = requests.post(kiosk.url + "/save", data=FORM, timeout=30, allow_redirects=False)
    print([(a.status_code, a.json()) for a in answers])
    assert status.status_code == 200
    assert status.json()["queued"] == 1
    assert home.status_code == 200
    for answer in answers:
        assert answer.status_code == 503
        assert answer.json()["error"] == "storage_busy"
        assert "try again" in answer.json()["detail"]
    assert touch.status_code == 503
    assert touch.headers["X-Linli-Problem"] == "storage_busy"
    assert "本机忙，这次没能保存" in touch.text
    assert again.status_code == 303, "the same form, tapped again, saves"
    assert kiosk.create(category="meals", room=ROOM).status_code == 201
    assert kiosk.status()["queued"] == 3, "exactly what was answered saved was saved"


# --- a read-only or frozen data folder (a real file system, needs root) --------------------


@pytest.fixture
def loop_mount(tmp_path: Path) -> Iterator[Path]:
    """A fresh ext4 file system mounted from an image file; unmounted (and thawed) after."""
    tools = ("mkfs.ext4", "mount", "umount", "fsfreeze")
    if os.geteuid() != 0 or not all(shutil.which(t) for t in tools):
        pytest.skip("needs root and mkfs.ext4, mount and fsfreeze (util-linux, e2fsprogs)")
    image, mnt = tmp_path / "disk.img", tmp_path / "mnt"
    mnt.mkdir()
    with image.open("wb") as fh:
        fh.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["fsfreeze", "-u", str(mnt)], capture_output=True, check=False)
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_read_only_data_folder_gives_one_line_errors_and_a_full_screen_page(
    loop_mount: Path, tmp_path: Path
) -> None:
    data = loop_mount / "kiosk"
    offline_kiosk(data)
    subprocess.run(["mount", "-o", "remount,ro", str(loop_mount)], check=True)
    commands = [
        ("sync", "status"),
        ("sync", "once"),
        ("sync", "reconcile"),
        ("sync", "nightly"),
        ("kiosk", "enroll", "--server", DEAD_SERVER, "--code", "ABCD-EFGH"),
    ]
    for command in commands:
        line = _one_line_error(linli(*command, "--data", str(data), check=False))
        print(f"linli {' '.join(command)}: {line}")
        assert str(data) in line
    port = free_port()
    log = tmp_path / "kiosk-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*LINLI, "kiosk", "run", "--browser", "--data", str(data), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            try:
                return requests.get(url + "/", timeout=2).status_code == 503
            except requests.RequestException:
                return False

        wait_until(answering, timeout=60, what="the kiosk's storage error page")
        page = requests.get(url + "/", timeout=10)
        assert page.headers["X-Linli-Problem"] == "storage_error"
        assert "本机存储出了故障" in page.text
        assert "storage has failed" in page.text
        assert "120" in page.text
        later = requests.get(url + "/who?category=meals", timeout=10)
        assert later.status_code == 503
        assert "本机存储出了故障" in later.text
        api = requests.get(url + "/api/status", timeout=10)
        assert api.status_code == 503
        assert api.json()["error"] == "storage_error"
        saving = requests.post(url + "/api/requests", json={}, timeout=10)
        assert saving.status_code == 503
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    errors = [line for line in log.read_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1, log.read_text()
    assert str(data) in errors[0]
    assert "Traceback" not in log.read_text()


def test_a_frozen_card_keeps_the_screens_up_and_never_says_saved(
    loop_mount: Path, tmp_path: Path
) -> None:
    kiosk = KioskProc(loop_mount / "kiosk")
    kiosk.log_path = tmp_path / "kiosk.log"  # the log must not sit on the frozen card
    offline_kiosk(kiosk.data)
    kiosk.start()
    try:
        saved = [kiosk.create(category="meals", room=ROOM).json()["id"]]
        subprocess.run(["fsfreeze", "-f", str(loop_mount)], check=True)
        try:
            during = [kiosk.create(category="meals", room=ROOM) for _ in range(2)]
            status = requests.get(kiosk.url + "/api/status", timeout=15)
            home = requests.get(kiosk.url + "/", timeout=15)
            mine = requests.get(kiosk.url + "/who?mode=mine", timeout=15)
        finally:
            subprocess.run(["fsfreeze", "-u", str(loop_mount)], check=True)
        after = kiosk.create(category="meals", room=ROOM)
        assert after.status_code == 201, after.text
        saved.append(after.json()["id"])
        wait_until(lambda: kiosk.status()["storage"] == "ok", timeout=30, what="fresh reads")
        with closing(sqlite3.connect(kiosk.data / "kiosk.sqlite3")) as conn:
            held = {row[0] for row in conn.execute("SELECT id FROM requests")}
    finally:
        kiosk.stop()
    print(
        f"during the freeze: saves answered {[a.status_code for a in during]}, status "
        f"{status.status_code} ({status.json().get('storage')}), home {home.status_code}, "
        f"who {mine.status_code}; answered 201: {len(saved)}, on the kiosk: {len(held)} "
        f"(a save refused while stuck inside the card's write lands when it thaws)"
    )
    for answer in during:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "storage_busy"
    assert status.status_code == 200
    assert status.json()["storage"] == "stalled"
    assert home.status_code == 200
    assert mine.status_code == 200
    assert set(saved) <= held
    assert len(held) <= len(saved) + len(during)
