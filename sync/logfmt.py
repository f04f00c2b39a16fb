"""Structured logs: one JSON object per line, for log shippers (LINLI_LOG_FORMAT=json).

Every line is scrubbed of secrets and phone numbers (sync/scrub.py), in either format.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from sync import scrub

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Time (UTC), level, logger, message, any `extra=` fields, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line for `record`."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                plain = isinstance(value, (int, float, bool))
                entry[key] = value if plain else scrub.scrub(str(value))
        if record.exc_info:
            entry["exc"] = record.exc_text or scrub.scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    """Log to stderr as text (default) or JSON lines, every record scrubbed."""
    scrub.install()
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        raise ValueError(f"LINLI_LOG_FORMAT must be text or json, not {fmt!r}")
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
