"""deploy/backup-restore.md followed command by command, with a kiosk saving requests throughout.

The runbook's shell blocks are read from the file, so the test fails when the runbook tells an
operator something that does not work. Every request the kiosk answered 201 must end on the
restored server exactly once.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.procs import KioskProc, ServerProc, linli, wait_until

RUNBOOK = Path(__file__).resolve().parents[2] / "deploy" / "backup-restore.md"
ROOMS = "building,unit,room\n3,2,301\n3,2,302\n1,1,101\n"


def runbook_commands(section: str) -> list[str]:
    """The shell commands of one `## section` of the runbook, continuation lines joined."""
    text = RUNBOOK.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else None]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", body, re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def drop_pg_copies(database_url: str) -> None:
    """Drop the databases a PostgreSQL restore kept aside or left half-made."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            names = list(
                conn.execute(
                    sa.text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
                    {"pattern": f"{url.database}_re%"},
                ).scalars()
            )
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def server_client_ids(database_url: str) -> Counter[str]:
    """How many times the server holds each kiosk-made request id."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT client_id FROM help_request")).scalars()
            return Counter(str(uuid.UUID(str(value))) for value in rows)
    finally:
        engine.dispose()


class Pusher:
    """Saves requests on the kiosk one after another; remembers every id answered 201."""

    def __init__(self, kiosk: KioskProc) -> None:
        self.kiosk = kiosk
        self.saved: list[str] = []
        self.other: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rooms = ["3-2-301", "3-2-302", "1-1-101"]
        while not self._stop.is_set():
            answer = self.kiosk.create(category="plumbing", room=rooms[len(self.saved) % 3])
            if answer.status_code == 201:
                self.saved.append(answer.json()["id"])
            else:
                self.other[answer.status_code] += 1
            time.sleep(0.05)

    def __enter__(self) -> Pusher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait_for(self, more: int) -> None:
        """Let at least `more` further requests be saved."""
        target = len(self.saved) + more
        wait_until(lambda: len(self.saved) >= target, timeout=120, what=f"{target} saved")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProc]:
    """A server keeping only 2 backups: the runbook's own backups rotate early."""
    proc = ServerProc(tmp_path, database_url, {"LINLI_BACKUP_KEEP": "2"})
    rooms = tmp_path / "rooms.csv"
    rooms.write_text(ROOMS)
    proc.cli("community", "create", "--slug", "lanqiao", "--name", "蓝桥社区")
    proc.cli("rooms", "import", "--community", "lanqiao", str(rooms))
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()
        drop_pg_copies(database_url)


def run_runbook_line(
    command: str, server: ServerProc, kiosk: KioskProc, chosen: Path, backend: str
) -> str | None:
    """Do what one runbook line says; return what a `linli` command printed (None if skipped)."""
    folder = Path(server.env_vars["LINLI_INSTANCE_DIR"]) / "backups"
    if command.startswith("systemctl stop"):
        server.stop()
        return ""
    if command.startswith("systemctl start"):
        server.start()
        return ""
    if command.startswith("curl"):
        answer = requests.get(server.url + "/healthz", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.text
    words = shlex.split(command.replace("BACKUP_FOLDER", str(folder)))
    if words[0] == "linli-admin":
        placeholder = [w for w in words if "YYYYMMDD" in w]
        if placeholder:
            if not placeholder[0].endswith(chosen.suffix):
                return None  # the other database's variant of the same step
            words[words.index(placeholder[0])] = str(chosen)
        result = linli(*words[1:], env=server.env_vars)
        return result.stdout + result.stderr
    if "linli" in command and "--data" in command:
        args = words[words.index(next(w for w in words if w.endswith("/linli"))) + 1 :]
        args[args.index("--data") + 1] = str(kiosk.data)
        result = kiosk.cli(*args)
        return result.stdout + result.stderr
    raise AssertionError(f"the test does not know how to follow: {command}")


@pytest.mark.slow
def test_runbook_restore_with_a_kiosk_pushing_throughout(
    server: ServerProc, database_url: str, backend: str, tmp_path: Path
) -> None:
    kiosk = KioskProc(tmp_path / "kiosk")
    code = server.secret("kiosk", "enroll", "--community", "lanqiao", "--name", "hall")
    kiosk.enroll(server.url, code)
    kiosk.start()
    folder = Path(server.env_vars["LINLI_INSTANCE_DIR"]) / "backups"
    try:
        with Pusher(kiosk) as pusher:
            pusher.wait_for(10)
            chosen = Path(server.cli("db", "backup").stdout.strip().splitlines()[-1])
            pusher.wait_for(10)
            server.cli("db", "backup")
            pusher.wait_for(10)
            printed: list[str] = []
            for section in ("Restoring the server", "Verifying the passbook chain"):
                for command in runbook_commands(section):
                    out = run_runbook_line(command, server, kiosk, chosen, backend)
                    if out is not None:
                        printed.append(f"$ {command}\n{out}")
                    pusher.wait_for(2)
            for command in runbook_commands("How kiosks reconcile after a server restore"):
                if "linli sync" in command:
                    out = run_runbook_line(command, server, kiosk, chosen, backend)
                    printed.append(f"$ {command}\n{out}")
            pusher.wait_for(10)
        print("\n".join(printed))
        assert chosen.exists(), "the runbook's own backups rotated away the restore point"
        assert (folder / "restored" / chosen.name).exists()
        wait_until(
            lambda: kiosk.status()["queued"] == 0, timeout=120, what="the kiosk's queue drained"
        )
        held = server_client_ids(database_url)
        saved = pusher.saved
        missing = set(saved) - set(held)
        twice = {k: n for k, n in held.items() if n > 1}
        extra = set(held) - set(saved)
        print(
            f"{backend}: answered 201: {len(saved)}, on the server: {len(held)}, "
            f"missing: {len(missing)}, duplicated: {len(twice)}, unknown: {len(extra)}, "
            f"other answers: {dict(pusher.other)}"
        )
        assert not missing, f"{len(missing)} saved requests never reached the server"
        assert not twice, f"requests stored more than once: {twice}"
        assert not extra
    finally:
        kiosk.stop()


def _revisions() -> tuple[str, str]:
    """The installed head migration and the one before it."""
    from alembic.script import ScriptDirectory

    import server

    scripts = ScriptDirectory(str(Path(server.__file__).parent / "migrations"))
    head = scripts.get_current_head()
    assert head is not None
    previous = scripts.get_revision(head).down_revision
    assert isinstance(previous, str)
    return head, previous


@pytest.fixture
def old_database(backend: str, database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database next to the test's, to be migrated only part of the way."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    url = sa.engine.make_url(database_url)
    name = f"{url.database}_old"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
def test_a_backup_from_before_a_migration_is_restored_at_head_and_serves(
    server: ServerProc, database_url: str, old_database: str, tmp_path: Path
) -> None:
    head, previous = _revisions()
    old_env = {
        "LINLI_DATABASE_URL": old_database,
        "LINLI_INSTANCE_DIR": str(tmp_path / "old"),
        "LINLI_SECRET_KEY": "test-secret-key",
    }
    (tmp_path / "old").mkdir()
    linli("server", "db", "upgrade", previous, env=old_env)
    rooms = tmp_path / "old-rooms.csv"
    rooms.write_text("building,unit,room\n7,1,701\n")
    linli("server", "community", "create", "--slug", "yuanqu", "--name", "园区", env=old_env)
    linli("server", "rooms", "import", "--community", "yuanqu", str(rooms), env=old_env)
    backup = Path(linli("server", "db", "backup", env=old_env).stdout.strip().splitlines()[-1])

    server.stop()
    summary = server.cli("db", "restore", str(backup), "--yes").stdout
    print(summary)
    assert f"migration {previous} -> {head}" in summary
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head
    finally:
        engine.dispose()
    server.start()
    kiosk = KioskProc(tmp_path / "yuanqu-kiosk")
    code = server.secret("kiosk", "enroll", "--community", "yuanqu", "--name", "gate")
    kiosk.enroll(server.url, code)
    kiosk.start()
    try:
        answer = kiosk.create(category="meals", room="7-1-701")
        assert answer.status_code == 201, answer.text
        wait_until(lambda: kiosk.status()["queued"] == 0, timeout=60, what="the push")
        assert server_client_ids(database_url) == Counter({answer.json()["id"]: 1})
    finally:
        kiosk.stop()


def outbox_states(kiosk: KioskProc) -> Counter[str]:
    """How many operations of each state the kiosk's outbox holds."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(kiosk.data / "kiosk.sqlite3")) as conn:
        return Counter(dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")))


@pytest.mark.slow
@pytest.mark.parametrize(
    "backup_knows_the_kiosk",
    [True, False],
    ids=["kiosk-in-backup", "backup-before-kiosk"],
)
def test_reenrolling_under_its_name_after_a_restore_keeps_and_reconciles(
    server: ServerProc, database_url: str, tmp_path: Path, backup_knows_the_kiosk: bool
) -> None:
    if not backup_knows_the_kiosk:
        backup = server.cli("db", "backup").stdout.strip().splitlines()[-1]
    kiosk = KioskProc(tmp_path / "kiosk")
    kiosk.enroll(
        server.url, server.secret("kiosk", "enroll", "--community", "lanqiao", "--name", "hall")
    )
    kiosk.start()
    saved: list[str] = []
    try:

        def save(count: int) -> None:
            for _ in range(count):
                answer = kiosk.create(category="meals", room="3-2-301")
                assert answer.status_code == 201, answer.text
                saved.append(answer.json()["id"])
            wait_until(lambda: kiosk.status()["queued"] == 0, timeout=60, what="the push")

        save(5)
        if backup_knows_the_kiosk:
            backup = server.cli("db", "backup").stdout.strip().splitlines()[-1]
        save(7)
    finally:
        kiosk.stop()
    assert outbox_states(kiosk) == Counter({"applied": 12})
    server.stop()
    server.cli("db", "restore", backup, "--yes")
    server.start()
    lost = len(set(saved) - set(server_client_ids(database_url)))
    if not backup_knows_the_kiosk:
        # Another kiosk is enrolled first on the restored server: "hall" gets another id.
        server.cli("kiosk", "enroll", "--community", "lanqiao", "--name", "lobby")
    code = server.secret("kiosk", "enroll", "--community", "lanqiao", "--name", "hall")
    kiosk.enroll(server.url, code)
    kept = outbox_states(kiosk)
    out = kiosk.cli("sync", "reconcile", "--data", str(kiosk.data))
    print(out.stderr.strip())
    held = server_client_ids(database_url)
    missing = set(saved) - set(held)
    twice = {k: n for k, n in held.items() if n > 1}
    print(
        f"answered 201: {len(saved)}, lost by the restore: {lost}, kept on the kiosk after "
        f"re-enrolment: {dict(kept)}, on the server after reconcile: {len(held)}, "
        f"missing: {len(missing)}, duplicated: {len(twice)}"
    )
    assert lost > 0, "the restore lost nothing: the test would prove nothing"
    assert sum(kept.values()) == 12, f"re-enrolment dropped operations: {dict(kept)}"
    assert not missing, f"{len(missing)} saved requests never reached the server again"
    assert not twice
    assert set(held) == set(saved)
    assert outbox_states(kiosk) == Counter({"applied": 12})
