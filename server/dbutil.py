"""Small database helpers shared by services: dialect-aware inserts and secret hashing."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from server.extensions import db


def insert_for(model: Any) -> Any:
    """An INSERT for `model` with the dialect's ON CONFLICT support (SQLite or PostgreSQL)."""
    if db.engine.dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret (tokens and codes, never passwords)."""
    return hashlib.sha256(secret.encode()).hexdigest()
