"""Structured logs: LINLI_LOG_FORMAT=json makes every log line one JSON object."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sync.logfmt import JsonFormatter
from tests.procs import linli


def test_commands_log_json_lines_when_asked(tmp_path: Path) -> None:
    env = {
        "LINLI_LOG_FORMAT": "json",
        "LINLI_INSTANCE_DIR": str(tmp_path),
        "LINLI_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = linli("server", "db", "upgrade", env=env)
    lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines, result.stderr
    entries = [json.loads(line) for line in lines]
    assert all({"ts", "level", "logger", "msg"} <= set(e) for e in entries)
    assert any(e["logger"].startswith("alembic") and e["level"] == "info" for e in entries)


def test_an_unknown_log_format_is_one_clear_error(tmp_path: Path) -> None:
    result = linli(
        "sync", "status", "--data", str(tmp_path), env={"LINLI_LOG_FORMAT": "xml"}, check=False
    )
    assert result.returncode == 2
    assert "LINLI_LOG_FORMAT must be text or json" in result.stderr


def test_json_lines_carry_extra_fields_and_tracebacks() -> None:
    record = logging.LogRecord(
        "linli.test", logging.ERROR, __file__, 1, "push %s", ("failed",), None
    )
    record.kiosk = "hall"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "push failed"
    assert entry["kiosk"] == "hall"
    assert "RuntimeError: boom" in entry["exc"]
