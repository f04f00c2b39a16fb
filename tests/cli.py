"""The `linli` command run in this process (click's CliRunner), for tests where a real process is
not the point; `tests.procs.linli` runs it as a new process (kill -9, real servers, the README)."""

from __future__ import annotations

import subprocess
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any

import click
from click.testing import CliRunner
from flask import Flask


@contextmanager
def _apps_disposed() -> Iterator[None]:
    """Close the database connections of every server app the command builds."""
    import server

    made: list[Flask] = []
    real = server.create_app

    def recording(config: dict[str, Any] | None = None) -> Flask:
        app = real(config)
        made.append(app)
        return app

    server.create_app = recording  # type: ignore[assignment]
    try:
        yield
    finally:
        server.create_app = real  # type: ignore[assignment]
        from server.extensions import db

        for app in made:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def invoke(
    *args: str,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `linli <args>` in this process; the same result as `tests.procs.linli`.

    The group (`server`, `kiosk`, `sync`) is called directly: the root command would replace
    this process's log handlers (pytest's among them), which only a real process may do.
    """
    group, *rest = args
    (entry,) = entry_points(group="linli.commands", name=group)
    command = entry.load()
    assert isinstance(command, click.Command)
    with _apps_disposed():
        result = CliRunner().invoke(
            command,
            rest,
            input=input_text,
            env=dict(env or {}),
            prog_name=f"linli {group}",
            catch_exceptions=True,
        )
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        stderr += "".join(traceback.format_exception(*result.exc_info))
    done = subprocess.CompletedProcess(["linli", *args], result.exit_code, result.stdout, stderr)
    if check and done.returncode != 0:
        raise AssertionError(
            f"linli {' '.join(args)} exited {done.returncode}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}"
        )
    return done
