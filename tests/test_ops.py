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

from tests.test_server_sync_api import H, op, push, staff_requests


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


def test_backup_restore_gives_a_new_epoch(
    app: Flask, client: FlaskClient, enrolled: dict, tmp_path: Path
) -> None:
    from server.extensions import db
    from server.ops.backup import make_backup, restore_backup
    from server.syncapi.models import SyncState

    push(client, enrolled["token"], [op(1)])
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        epoch = db.session.get_one(SyncState, 1).epoch
        db.session.remove()
        db.engine.dispose()
    backup = make_backup(url, tmp_path / "b", datetime.now(UTC), keep=3)
    push(client, enrolled["token"], [op(2)])
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    restore_backup(url, backup)
    with app.app_context():
        assert len(_requests(app)) == 1
        assert db.session.get_one(SyncState, 1).epoch != epoch


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
