"""Typed server settings. Each can be overridden by a `LINLI_<NAME>` environment variable.

Every setting here is documented in the README (a test checks it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Settings:
    """Server settings and their defaults."""

    INSTANCE_DIR: str = "instance"
    """Folder for the default SQLite database, the generated secret key and backups."""
    DATABASE_URL: str = ""
    """SQLAlchemy URL; empty means a SQLite file `linli.sqlite3` in the instance folder."""
    SECRET_KEY: str = ""
    """Signs session cookies; empty means a random key stored in the instance folder."""
    ENROLL_CODE_HOURS: int = 24
    """How long a kiosk enrolment code stays valid."""
    PULL_PAGE_SIZE: int = 1000
    """Changes per pull page."""
    API_PAGE_SIZE: int = 100
    """Default page size of the staff read API (at most 1000)."""
    SQLITE_BUSY_TIMEOUT: int = 30
    """Seconds a SQLite writer waits for the lock before failing."""
    LOG_LEVEL: str = "INFO"
    """Log level of the server process."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read `LINLI_*` variables over the defaults, converting to each field's type."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f"LINLI_{f.name}")
            if raw is None:
                continue
            default = f.default
            try:
                values[f.name] = int(raw) if isinstance(default, int) else raw
            except ValueError as exc:
                raise ValueError(f"LINLI_{f.name} must be a whole number, not {raw!r}") from exc
        return cls(**values)

    def as_flask(self) -> dict[str, Any]:
        """The settings as Flask config keys (prefixed `LINLI_`)."""
        out = {f"LINLI_{f.name}": getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out.update(self.extra)
        return out
