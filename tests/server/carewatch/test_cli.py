"""Meals and activity attendance imported from a list; the watch evaluated from the command
line under the nightly lock."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from tests.server.conftest import World


def _run(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    from server import cli

    monkeypatch.setattr(cli, "_app", lambda: app)
    result = CliRunner().invoke(cli.server_group, list(args))
    return result.exit_code, result.output + (repr(result.exception) if result.exception else "")


def test_an_attendance_list_counts_each_line_once(
    app: Flask, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.carewatch.models import SignOfLife
    from server.extensions import db

    sheet = tmp_path / "meals.csv"
    sheet.write_text(
        "room,name,kind,at\n"
        "3-2-301,RESIDENT-LANQIAO,meal,2026-11-30 11:30\n"
        "3-2-301,RESIDENT-LANQIAO,activity,2026-11-30 15:00\n",
        encoding="utf-8",
    )
    args = ("care", "import", "--community", "lanqiao", str(sheet))
    assert _run(app, monkeypatch, *args) == (
        0,
        f"{sheet}: 2 rows, 2 signs of life recorded, 0 already present\n",
    )
    again = _run(app, monkeypatch, *args)[1]
    assert again.endswith("0 signs of life recorded, 2 already present\n")
    with app.app_context():
        signs = db.session.execute(sa.select(SignOfLife).order_by(SignOfLife.at)).scalars().all()
        assert [(s.channel, s.resident_id) for s in signs] == [
            ("meal", world.residents["lanqiao"]),
            ("activity", world.residents["lanqiao"]),
        ]
        assert signs[0].at.isoformat() == "2026-11-30T03:30:00+00:00"  # 11:30 in Shanghai


def test_a_list_with_an_unknown_person_records_nothing(
    app: Flask, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.carewatch.models import SignOfLife
    from server.extensions import db

    sheet = tmp_path / "meals.csv"
    sheet.write_text(
        "room,name,kind,at\n"
        "3-2-301,RESIDENT-LANQIAO,meal,2026-11-30 11:30\n"
        "3-2-301,NOBODY,meal,2026-11-30 11:30\n"
        "3-2-301,RESIDENT-LANQIAO,dance,2026-11-30 11:30\n",
        encoding="utf-8",
    )
    code, output = _run(app, monkeypatch, "care", "import", "--community", "lanqiao", str(sheet))
    assert code == 1
    assert "第3行" in output
    assert "第4行" in output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(SignOfLife.id))) == 0


def test_evaluate_from_the_command_line(
    app: Flask, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _run(app, monkeypatch, "care", "evaluate")
    assert (code, output) == (0, "care watch: 0 watched resident(s), 0 follow-up step(s) raised\n")
