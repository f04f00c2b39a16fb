"""The `linli` command. Its groups come from the `linli.commands` entry points.

The root lives in sync/ because sync/ imports neither side: `server` and `kiosk`
each register their own groups (see pyproject.toml), loaded only when installed.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points

import click

from sync import logfmt


class _PluginGroup(click.Group):
    def _plugins(self) -> dict[str, object]:
        return {ep.name: ep for ep in entry_points(group="linli.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = self._plugins().get(cmd_name)
        if ep is None:
            return None
        loaded = ep.load()  # type: ignore[attr-defined]
        return loaded if isinstance(loaded, click.Command) else None


@click.group(cls=_PluginGroup)
@click.version_option(package_name="linli")
def cli() -> None:
    """Linli (邻里): offline-first help requests for community centres."""
    try:
        logfmt.configure(
            os.environ.get("LINLI_LOG_LEVEL", "INFO"), os.environ.get("LINLI_LOG_FORMAT", "text")
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="linli")
