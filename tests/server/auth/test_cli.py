"""`linli server user create`: the password comes from stdin when it is not a terminal."""

from __future__ import annotations

from pathlib import Path

from tests.procs import linli


def test_user_create_reads_the_password_from_stdin(sqlite_template: Path, tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "server.sqlite3"
    shutil.copy(sqlite_template, db)
    env = {"LINLI_DATABASE_URL": f"sqlite:///{db}", "LINLI_INSTANCE_DIR": str(tmp_path)}
    linli("server", "community", "create", "--slug", "lanqiao", "--name", "蓝桥社区", env=env)
    weak = linli(
        "server", "user", "create", "--username", "sw", "--role", "social_worker",
        "--community", "lanqiao", env=env, input_text="short\n", check=False,
    )  # fmt: skip
    assert weak.returncode != 0
    assert "密码至少需要 12 个字符" in weak.stderr
    made = linli(
        "server", "user", "create", "--username", "sw", "--role", "social_worker",
        "--community", "lanqiao", env=env, input_text="a long enough password\n",
    )  # fmt: skip
    assert "created user sw (social_worker) for lanqiao" in made.stdout

    import sqlalchemy as sa
    from argon2 import PasswordHasher

    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text(
                    "SELECT password_hash, role FROM user_account "
                    "JOIN user_community ON user_community.user_id = user_account.id"
                )
            ).one()
    finally:
        engine.dispose()
    assert stored.role == "social_worker"
    assert stored.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(stored.password_hash, "a long enough password")
