"""What /healthz asks the database: whether it answers, and at which migration it is."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from server.extensions import db

REVISION_QUERY = "SELECT version_num FROM alembic_version"


@dataclass(frozen=True)
class DatabaseState:
    """The database as /healthz sees it."""

    unreachable: str | None
    """Why no connection could be made (the error's class name), or None: it answers."""
    revisions: frozenset[str]
    """The migration revisions it is at (empty: none recorded, or unreadable)."""
    dialect: str


def database_state() -> DatabaseState:
    """One connection and one query: is the database there, and at which revisions."""
    dialect = db.engine.dialect.name
    try:
        conn = db.engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        return DatabaseState(exc.__class__.__name__, frozenset(), dialect)
    with conn:
        try:
            current = frozenset(conn.execute(sa.text(REVISION_QUERY)).scalars())
        except sa.exc.SQLAlchemyError:
            current = frozenset()
    return DatabaseState(None, current, dialect)
