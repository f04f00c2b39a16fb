"""Password hashes: production's argon2 cost by default, the cheap test cost only when asked for,
an unknown cost refused at start, and a hash of another cost upgraded at sign-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import argon2
import pytest
import sqlalchemy as sa
from flask import Flask


def _app(tmp_path: Path, **config: Any) -> Flask:
    from server import create_app

    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    return create_app({"LINLI_DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, **config})


def test_production_cost_is_argon2_cffis_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.auth.services import HASH_COSTS
    from server.config import Settings

    monkeypatch.setenv("LINLI_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("LINLI_PASSWORD_HASH_COST", raising=False)
    assert Settings().PASSWORD_HASH_COST == "standard"
    app = _app(tmp_path)
    assert app.config["LINLI_PASSWORD_HASH_COST"] == "standard"
    standard = HASH_COSTS["standard"]
    default = argon2.PasswordHasher()
    assert standard.time_cost == default.time_cost >= 2
    assert standard.memory_cost == default.memory_cost >= 19 * 1024  # KiB (OWASP's minimum)
    assert standard.parallelism == default.parallelism
    assert standard.type is argon2.Type.ID


def test_an_unknown_cost_stops_the_app_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINLI_INSTANCE_DIR", str(tmp_path / "instance"))
    with pytest.raises(ValueError, match="LINLI_PASSWORD_HASH_COST 'cheap' is not one of"):
        _app(tmp_path, LINLI_PASSWORD_HASH_COST="cheap")


def test_users_get_hashes_of_the_configured_cost_and_old_ones_are_upgraded_at_sign_in(
    app: Flask, community: dict[str, Any]
) -> None:
    from server.auth.models import User
    from server.auth.services import authenticate, create_user
    from server.extensions import db

    password = "correct horse battery"
    assert app.config["LINLI_PASSWORD_HASH_COST"] == "test"  # the suite's cheap cost
    with app.app_context():
        create_user("wang", password, "admin", ["lanqiao"])
        db.session.commit()
        cheap = db.session.execute(sa.select(User.password_hash)).scalar_one()
    assert argon2.extract_parameters(cheap).time_cost == 1

    app.config["LINLI_PASSWORD_HASH_COST"] = "standard"
    with app.app_context():
        assert authenticate("wang", password) is not None
        db.session.commit()
        upgraded = db.session.execute(sa.select(User.password_hash)).scalar_one()
    assert argon2.extract_parameters(upgraded) == argon2.extract_parameters(
        argon2.PasswordHasher().hash(password)
    )
    assert argon2.PasswordHasher().verify(upgraded, password)
