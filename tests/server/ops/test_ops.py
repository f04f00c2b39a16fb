"""Nightly jobs, backups, restores, health reports and metrics."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.syncapi.test_sync_api import H, op, push, staff_requests
from tests.system.test_faults_server import db_scalar


def _requests(app: Flask) -> list[Any]:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        return list(db.session.execute(db.select(HelpRequest)).scalars())


def test_server_nightly_rolls_up_purges_and_backs_up(
    app: Flask, client: FlaskClient, enrolled: dict, tmp_path: Path
) -> None:
    from server.extensions import db
    from server.ops.models import DailyStat
    from server.ops.nightly import run_nightly
    from server.requests.models import HelpRequest

    push(client, enrolled["token"], [op(1, phone="13800001111", details="灯坏了"), op(2)])
    long_ago = datetime.now(UTC) - timedelta(days=400)
    with app.app_context():
        first = (
            db.session.execute(db.select(HelpRequest).order_by(HelpRequest.id)).scalars().first()
        )
        assert first is not None
        first.status = "closed_fixed"
        first.updated_at = long_ago
        first.received_at = datetime.now(UTC) - timedelta(days=1)
        db.session.commit()
        report = run_nightly(app, tmp_path / "backups")
        assert report.ok, report.summary()
        again = run_nightly(app, tmp_path / "backups")
        assert again.ok, again.summary()
        assert "0 finished request(s)" in again.done["purge"]
        purged = db.session.get(HelpRequest, first.id)
        assert purged is not None
        assert purged.phone is None
        assert purged.details is None
        assert purged.personal_data_purged_at is not None
        stats = db.session.execute(db.select(DailyStat)).scalars().all()
        assert sum(s.received for s in stats) == 1
    backups = sorted((tmp_path / "backups").iterdir())
    assert len(backups) == 2
    if backups[0].suffix == ".sqlite3":
        conn = sqlite3.connect(backups[0])
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("SELECT count(*) FROM help_request").fetchone()[0] == 2
        finally:
            conn.close()


def test_nightly_refuses_to_run_twice_at_once(app: Flask, tmp_path: Path) -> None:
    from server.ops.nightly import AlreadyRunning, exclusive

    with app.app_context(), exclusive(app):
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            from server.extensions import db

            other = db.engine.connect()
            try:
                from server.ops.nightly import LOCK_KEY

                got = other.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY)))
                assert got.scalar_one() is False
            finally:
                other.close()
        else:
            with pytest.raises(AlreadyRunning), exclusive(app):
                pass


def drop_replaced(database_url: str) -> None:
    """Drop the databases a PostgreSQL restore kept aside (a SQLite one goes with tmp_path)."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            names = conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
                {"pattern": f"{url.database}_re%"},
            ).scalars()
            for name in list(names):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _release(app: Flask) -> None:
    from server.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_backup_restore_gives_a_new_epoch(
    app: Flask, client: FlaskClient, enrolled: dict, tmp_path: Path
) -> None:
    from server.extensions import db
    from server.ops.backup import make_backup, restore_backup
    from server.synclog.models import SyncState

    push(client, enrolled["token"], [op(1)])
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        epoch = db.session.get_one(SyncState, 1).epoch
    _release(app)
    backup = make_backup(url, tmp_path / "b", datetime.now(UTC), keep=3)
    push(client, enrolled["token"], [op(2)])
    _release(app)
    steps: list[str] = []
    try:
        restored = restore_backup(url, backup, tmp_path / "b", datetime.now(UTC), steps.append)
        with app.app_context():
            assert len(_requests(app)) == 1
            assert db.session.get_one(SyncState, 1).epoch == restored.epoch != epoch
        _release(app)
        assert restored.from_revision == restored.to_revision is not None
        assert (tmp_path / "b" / "restored" / backup.name).read_bytes() == backup.read_bytes()
        assert len(steps) >= 4, steps
    finally:
        drop_replaced(url)


def test_rotation_keeps_the_restore_point_and_the_backups_after_it(
    app: Flask, client: FlaskClient, enrolled: dict, tmp_path: Path
) -> None:
    from server.ops.backup import list_backups, make_backup, restore_backup

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    folder = tmp_path / "b"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    _release(app)
    first, second, third = (
        make_backup(url, folder, t0 + timedelta(hours=h), keep=3) for h in (0, 1, 2)
    )
    try:
        restore_backup(url, first, folder, t0 + timedelta(hours=3))
    finally:
        drop_replaced(url)
    # The runbook's backups during and after the restore: the restored one and the two taken
    # between it and the restore stay, whatever `keep` says; later ones rotate as usual.
    later = [make_backup(url, folder, t0 + timedelta(hours=h), keep=2) for h in (4, 5, 6)]
    assert list_backups(folder) == [first, second, third, later[1], later[2]]


@pytest.mark.postgres
def test_postgres_restore_refuses_cleanly_and_leaves_the_live_database(
    tmp_path: Path, pg_template: str
) -> None:
    from server.ops.backup import BackupFailed, restore_backup
    from tests.conftest import POSTGRES_URL

    url = (
        sa.engine.make_url(POSTGRES_URL)
        .set(database=pg_template)
        .render_as_string(hide_password=False)
    )
    bogus = tmp_path / "linli-20260101T000000000000Z.pgdump"
    bogus.write_bytes(b"PGDMP not really")
    with pytest.raises(BackupFailed, match=str(bogus)):
        restore_backup(url, bogus, tmp_path / "b", datetime.now(UTC))
    assert db_scalar(url, "SELECT count(*) FROM alembic_version") == 1


def test_health_report_and_metrics(client: FlaskClient, enrolled: dict, api_token: str) -> None:
    headers = {**H, "Authorization": f"Bearer {enrolled['token']}"}
    report = {
        "queued": 3,
        "db_bytes": 4096,
        "free_bytes": 10**9,
        "integrity": "ok",
        "rejected": 0,
    }
    answer = client.post("/api/sync/v1/health", json=report, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    ops = [op(1), op(2, room="9-9-999")]
    push(client, enrolled["token"], ops)
    push(client, enrolled["token"], ops)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'linli_sync_operations_total{outcome="applied"} 1' in text
    assert 'linli_sync_operations_total{outcome="rejected"} 1' in text
    assert "linli_sync_duplicates_total 2" in text
    assert 'linli_kiosk_queued{community="lanqiao",kiosk="hall"} 3' in text
    assert 'linli_requests{community="lanqiao",state="received"} 1' in text
    assert len(staff_requests(client, api_token)) == 1


def test_metrics_counters_follow_every_change_and_the_nightly_fold_keeps_them(
    app: Flask, client: FlaskClient, enrolled: dict, tmp_path: Path
) -> None:
    """The triggers keep the counters in the transaction of each change (a push, a state
    change, a rolled-back change that leaves nothing); the nightly job folds the deltas into
    one row per key and corrects a counter that drifted (a row changed with triggers off)."""
    from server.extensions import db
    from server.health.counters import reconcile, totals
    from server.health.models import MetricCount
    from server.requests.models import HelpRequest

    def truth() -> dict[tuple[str, int, str], int]:
        rows = db.session.execute(
            sa.select(HelpRequest.community_id, HelpRequest.status, sa.func.count()).group_by(
                HelpRequest.community_id, HelpRequest.status
            )
        ).all()
        return {("requests", c, s): n for c, s, n in rows}

    push(client, enrolled["token"], [op(1), op(2), op(3, room="9-9-999")])
    with app.app_context():
        requests = {k: v for k, v in totals().items() if k[0] == "requests"}
        assert requests == truth()
        assert totals()[("sync_ops", 0, "applied")] == 2
        assert totals()[("sync_ops", 0, "rejected")] == 1
        first, second = db.session.execute(sa.select(HelpRequest)).scalars().all()
        first.status = "triaged"
        db.session.commit()
        second.status = "cancelled"
        db.session.flush()
        db.session.rollback()
        assert {k: v for k, v in totals().items() if k[0] == "requests"} == truth()
        community = first.community_id
        assert totals()[("requests", community, "triaged")] == 1
        assert totals()[("requests", community, "received")] == 1
        db.session.add(MetricCount(name="requests", community_id=community, label="x", value=5))
        db.session.commit()
        deltas = db.session.execute(sa.select(sa.func.count()).select_from(MetricCount)).scalar()
        assert reconcile() == "4 counter(s) folded, 1 corrected"
        assert {k: v for k, v in totals().items() if k[0] == "requests"} == truth()
        folded = db.session.execute(sa.select(sa.func.count()).select_from(MetricCount)).scalar()
        assert folded == 4 < deltas
    text = client.get("/metrics").get_data(as_text=True)
    assert 'linli_requests{community="lanqiao",state="triaged"} 1' in text
    assert 'linli_sync_operations_total{outcome="rejected"} 1' in text
