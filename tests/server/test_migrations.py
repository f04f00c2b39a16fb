"""Migrations and models agree: a database upgraded to head is what the models describe, on
SQLite and PostgreSQL (alembic's autogenerate comparison finds nothing to change)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory


def _differences(database_url: str, metadata: sa.MetaData) -> list[Any]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_a_database_upgraded_to_head_is_what_the_models_describe(database_url: str) -> None:
    """`database_url` was made by `linli server db upgrade` (tests/conftest.py); nothing is
    ignored: no table, column, type, default, index or constraint differs."""
    from pathlib import Path

    import server
    from server import models  # noqa: F401  (every model on db.metadata)
    from server.extensions import db

    scripts = ScriptDirectory(str(Path(server.__file__).parent / "migrations"))
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            at = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    assert set(at) == set(scripts.get_heads()), "the test database is not at head"
    assert _differences(database_url, db.metadata) == []


def test_the_comparison_sees_a_model_the_migrations_lack(database_url: str) -> None:
    """The check above can fail: a column, an index and a table only the models have are found."""
    from server import models  # noqa: F401
    from server.extensions import db

    metadata = sa.MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(metadata)
    requests = metadata.tables["help_request"]
    requests.append_column(sa.Column("only_in_models", sa.Integer, nullable=True))
    sa.Index("ix_only_in_models", requests.c.only_in_models)
    sa.Table("only_in_models", metadata, sa.Column("id", sa.Integer, primary_key=True))
    found = {
        (diff[0], getattr(diff[-1], "name", None))
        for diff in _differences(database_url, metadata)
        if isinstance(diff, tuple)
    }
    assert ("add_column", "only_in_models") in found
    assert ("add_index", "ix_only_in_models") in found
    assert ("add_table", "only_in_models") in found
