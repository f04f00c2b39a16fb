"""Sign-in under attack: a limit per address whatever the names, a lockout per name that
grows and holds across processes, an audited unlock, and a cap on concurrent hashing."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.cli import invoke

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The test app's cheap argon2 cost, counting every password check (the gunicorn test uses
    production's)."""
    from argon2 import PasswordHasher

    from server.auth import services

    checked: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            checked.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setitem(
        services.HASH_COSTS, "test", Counting(time_cost=1, memory_cost=64, parallelism=1)
    )
    return checked


@pytest.fixture
def user(app: Flask, community: dict[str, Any]) -> str:
    """An admin of lanqiao named `wang`."""
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("wang", PASSWORD, "admin", ["lanqiao"], "王")
        db.session.commit()
    return "wang"


WRONG = "not the password"


def _try(client: FlaskClient, username: str, password: str = WRONG, **kw: Any) -> Any:
    page = client.get("/login").get_data(as_text=True)
    match = CSRF.search(page)
    assert match
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": match.group(1)},
        **kw,
    )


def _unlimited(app: Flask) -> None:
    """Only the lockout: no per-address or per-name limits in the way."""
    app.config["LINLI_LOGIN_RATE_LIMIT"] = "1000 per minute"
    app.config["LINLI_LOGIN_ADDRESS_RATE_LIMIT"] = "1000 per minute"


def test_spraying_user_names_from_one_address_is_limited(
    client: FlaskClient, app: Flask, user: str
) -> None:
    app.config["LINLI_LOGIN_ADDRESS_RATE_LIMIT"] = "5 per minute"
    codes = [_try(client, f"nobody-{secrets.token_hex(4)}").status_code for _ in range(7)]
    print("random names:", codes)
    assert codes == [401] * 5 + [429] * 2
    # The right password from that address waits as well.
    assert _try(client, user, PASSWORD).status_code == 429
    # Another address is not affected.
    other = _try(app.test_client(), user, PASSWORD, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 303


def _lock_ends_in(app: Flask, name: str) -> float:
    from server.auth.models import SignInFailure
    from server.extensions import db
    from server.timeutil import utcnow

    with app.app_context():
        row = db.session.get_one(SignInFailure, name)
        assert row.locked_until is not None
        return (row.locked_until - utcnow()).total_seconds()


def _expire_lock(app: Flask, name: str) -> None:
    """As if the lock's time had passed."""
    from server.auth.models import SignInFailure
    from server.extensions import db
    from server.timeutil import utcnow

    with app.app_context():
        db.session.get_one(SignInFailure, name).locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()


def test_lockout_grows_holds_across_processes_and_hides_which_names_exist(
    app: Flask, database_url: str, user: str, fast_password_hashing: list[str]
) -> None:
    from server import create_app

    _unlimited(app)
    # A second app on the same database: another gunicorn worker, with its own memory.
    other = create_app(
        {"LINLI_DATABASE_URL": database_url, "TESTING": True, "LINLI_PASSWORD_HASH_COST": "test"}
    )
    _unlimited(other)
    answers: dict[str, list[tuple[int, str]]] = {}
    waits: dict[str, list[int]] = {}
    for name in (user, "no-such-user"):
        seen = answers[name] = []
        waits[name] = []
        for attempt in range(7):
            # Alternate workers: the count lives in the database, not in one process.
            client = (app if attempt % 2 else other).test_client()
            answer = _try(client, name)
            text = answer.get_data(as_text=True).replace(name, "NAME")
            error = re.search(r'class="error"[^>]*>([^<]*)<', text)
            seen.append((answer.status_code, error.group(1) if error else ""))
            if answer.status_code == 429:
                waits[name].append(int(answer.headers["Retry-After"]))
    print(answers)
    # The same answers for a real name and an unknown one, and the same hashing work.
    assert answers[user] == answers["no-such-user"]
    assert [code for code, _ in answers[user]] == [401] * 5 + [429] * 2
    assert answers[user][5][1].startswith("这个用户名登录失败次数过多")
    assert all(55 <= wait <= 60 for wait in waits[user] + waits["no-such-user"]), waits
    assert len(fast_password_hashing) == 10  # five checks each; locked tries hash nothing

    # While locked even the right password is refused, in either process.
    assert _try(app.test_client(), user, PASSWORD).status_code == 429
    assert _try(other.test_client(), user, PASSWORD).status_code == 429
    assert 55 <= _lock_ends_in(app, user) <= 60

    # Each failure after a lock ends doubles the next one.
    for expected in (120, 240, 480):
        _expire_lock(app, user)
        assert _try(app.test_client(), user).status_code == 401
        assert expected - 5 <= _lock_ends_in(app, user) <= expected
        assert _try(other.test_client(), user, PASSWORD).status_code == 429

    # After the lock, the right password signs in and the count starts again.
    _expire_lock(app, user)
    assert _try(other.test_client(), user, PASSWORD).status_code == 303
    assert _try(app.test_client(), user).status_code == 401
    assert _try(app.test_client(), user, PASSWORD).status_code == 303
    with other.app_context():
        from server.extensions import db

        db.session.remove()
        db.engine.dispose()


def test_unlock_from_the_command_line_is_audited(
    app: Flask, database_url: str, user: str, tmp_path: Any
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    _unlimited(app)
    client = app.test_client()
    for _ in range(6):
        _try(client, user)
    assert _try(client, user, PASSWORD).status_code == 429
    env = {"LINLI_DATABASE_URL": database_url, "LINLI_INSTANCE_DIR": str(tmp_path / "cli")}
    done = invoke("server", "user", "unlock", user, env=env)
    assert "unlocked wang (forgot 5 failed sign-ins)" in done.stdout
    unknown = invoke("server", "user", "unlock", "no-such-user", env=env, check=False)
    assert unknown.returncode == 1
    assert "没有名为 'no-such-user' 的用户" in unknown.stderr
    assert _try(client, user, PASSWORD).status_code == 303
    with app.app_context():
        rows = db.session.execute(sa.select(AuditEntry)).scalars().all()
        assert [(r.actor, r.action, r.what, r.why) for r in rows] == [
            (
                "command line",
                "change",
                "user wang: sign-in lock lifted after 5 failed sign-ins",
                "linli server user unlock",
            )
        ]


def test_a_sign_in_finding_every_hashing_slot_taken_is_told_to_retry(
    client: FlaskClient, app: Flask, user: str, fast_password_hashing: list[str]
) -> None:
    from server.auth.services import HASH_SLOTS

    slots = app.extensions[HASH_SLOTS]
    assert slots.acquire(blocking=False)  # the process's one slot, as a sign-in in progress
    try:
        page = _try(client, user, PASSWORD)
        as_json = _try(client, user, PASSWORD, headers={"Accept": "application/json"})
    finally:
        slots.release()
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "1"
    assert "服务器正忙于处理登录" in page.get_data(as_text=True)
    assert as_json.status_code == 503
    assert as_json.get_json() == {
        "error": "sign_in_busy",
        "detail": "服务器正忙于处理登录：请再试一次",
    }
    assert fast_password_hashing == []
    # A refusal for load is not a failed guess: no lockout counts it.
    assert _try(client, user, PASSWORD).status_code == 303
