"""`linli server notify add` and `list`: credentials from stdin, never shown back in full."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from tests.server.conftest import World


def _cli(app: Flask, monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str = "") -> Any:
    from server import cli

    monkeypatch.setattr(cli, "_app", lambda: app)
    return CliRunner().invoke(cli.server_group, args, input=stdin)


def test_channels_are_added_from_stdin_and_listed_masked(
    app: Flask, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789"
    added = _cli(
        app,
        monkeypatch,
        ["notify", "add", "--community", "lanqiao", "--kind", "dingtalk", "--name", "社区群"],
        f"{url}\nSECdingsecret0001\n",
    )
    assert added.exit_code == 0, added.output
    team = "小蜜蜂 lanqiao"
    sms = [
        "notify", "add", "--community", "lanqiao", "--kind", "sms", "--name", "队长短信",
        "--team", team, "--key-id", "LTAIkey", "--sign-name", "邻里", "--template", "SMS_1",
        "--phones", "13911112222",
    ]  # fmt: skip
    assert _cli(app, monkeypatch, sms, "smssecret0002\n").exit_code == 0
    listed = _cli(app, monkeypatch, ["notify", "list", "--community", "lanqiao"])
    assert listed.exit_code == 0, listed.output
    assert "社区群" in listed.output
    assert "队长短信" in listed.output
    for secret in ("abcdef0123456789", "SECdingsecret0001", "smssecret0002"):
        assert secret not in listed.output
    assert "0001" in listed.output  # the last four, to tell secrets apart
    bad_team = _cli(app, monkeypatch, [*sms[:-2], "--team", "没有的队"], "s\n")
    assert bad_team.exit_code != 0
    assert "没有的队" in bad_team.output
