"""The `linli server` commands change through the same services as the admin screens, so
each change is audited too (as the command line)."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from tests.procs import linli


def test_setup_commands_are_audited_as_the_command_line(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = tmp_path / "server.sqlite3"
    shutil.copy(sqlite_template, db)
    env = {"LINLI_DATABASE_URL": f"sqlite:///{db}", "LINLI_INSTANCE_DIR": str(tmp_path)}
    rooms = tmp_path / "rooms.csv"
    rooms.write_text("楼栋,单元,房间号\n1,1,101\n")
    for args in (
        ("community", "create", "--slug", "beiyuan", "--name", "北苑社区"),
        ("rooms", "import", "--community", "beiyuan", str(rooms)),
        ("team", "create", "--community", "beiyuan", "--name", "小蜜蜂",
         "--category", "electrical"),
        ("agency", "create", "--community", "beiyuan", "--name", "供电所", "--kind", "department",
         "--url", "http://127.0.0.1:9/x"),
        ("kiosk", "enroll", "--community", "beiyuan", "--name", "beiyuan-hall"),
        ("kiosk", "revoke", "beiyuan-hall"),
        ("api-token", "create", "--name", "hotline", "--community", "beiyuan"),
        ("api-token", "revoke", "hotline"),
    ):  # fmt: skip
        linli("server", *args, env=env)
    refused = linli(
        "server", "team", "create", "--community", "beiyuan", "--name", "x", "--category",
        "nonsense", env=env, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT actor, why, what FROM audit_entry ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert {(actor, why) for actor, why, _ in rows} == {("command line", "command line")}
    assert [what for _, _, what in rows] == [
        "community beiyuan",
        "rooms import rooms.csv: 1 added, 0 present",
        "team 小蜜蜂",
        "agency 供电所",
        "kiosk beiyuan-hall: enrolment code",
        "kiosk beiyuan-hall revoked",
        "API token hotline",
        "API token hotline revoked",
    ]
