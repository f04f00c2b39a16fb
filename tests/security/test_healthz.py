"""/healthz is cheap to call: the code's migration heads are read once per process, and a
call costs one trivial query; it still reports a database behind the code as down."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient


def test_healthz_does_not_read_the_migration_scripts_per_call(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic.script import ScriptDirectory

    from server.extensions import db
    from server.health import routes

    loads: list[str] = []

    class Counting(ScriptDirectory):
        def __init__(self, directory: str, *args: Any, **kwargs: Any) -> None:
            loads.append(directory)
            super().__init__(directory, *args, **kwargs)

    monkeypatch.setattr(routes, "ScriptDirectory", Counting)
    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        answers = [client.get("/healthz") for _ in range(5)]
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[-1].get_json()["status"] == "ok"
    print(f"script loads: {len(loads)}; statements: {statements}")
    assert len(loads) <= 1
    assert len(statements) == 5


@pytest.mark.parametrize("how", ["behind", "unmigrated"])
def test_healthz_reports_a_database_behind_the_code(
    client: FlaskClient, app: Flask, how: str
) -> None:
    from server.extensions import db

    assert client.get("/healthz").status_code == 200  # the heads are learned here
    with app.app_context():
        if how == "behind":
            db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0003'"))
        else:
            db.session.execute(sa.text("DROP TABLE alembic_version"))
        db.session.commit()
    answer = client.get("/healthz")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["error"] == "migrations_pending"
    expected = "['0003']" if how == "behind" else "[]"
    assert body["detail"].startswith(f"database at {expected}, code at ")


def test_metrics_called_in_a_burst_runs_its_queries_once(client: FlaskClient, app: Flask) -> None:
    from server.extensions import db

    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        first = client.get("/metrics")
        once = len(statements)
        answers = [client.get("/metrics") for _ in range(20)]
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    print(f"first /metrics: {once} statements; 20 more calls: {len(statements) - once}")
    assert first.status_code == 200
    assert once > 0
    assert len(statements) == once
    assert all(a.get_data() == first.get_data() for a in answers)
