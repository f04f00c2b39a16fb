"""Keeping secrets and phone numbers out of log lines, whoever writes them.

`install()` wraps the process's log record factory: every record of every logger (the app,
werkzeug's and gunicorn's access logs, SQLAlchemy, tracebacks) is scrubbed once, when it is
made, before any handler or formatter sees it. What is scrubbed:

- values of query parameters that carry secrets or personal data (api_key, token, code, phone,
  q, ...), and the merchant page key in `/merchant/<key>`;
- API tokens (`lt_...`) anywhere in a line;
- mobile phone numbers however written (spaces, dots, dashes, full-width digits, +86 / 0086).
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
SECRET_PARAMS = (
    "api_key",
    "apikey",
    "key",
    "token",
    "access_token",
    "code",
    "enroll_code",
    "password",
    "secret",
    "phone",
    "tel",
    "q",
)
"""Query parameters whose values never reach a log."""

_SEP = r"[ .\-\u3000\uff0d\uff0e]"
MOBILE = re.compile(
    rf"(?<!\d)(?:(?:[+\uff0b]|00|\uff10\uff10){_SEP}?(?:86|\uff18\uff16){_SEP}?)?"
    rf"[1\uff11][3-9\uff13-\uff19]\d(?:{_SEP}?\d){{8}}(?!\d)"
)
"""A mainland mobile number, 1[3-9] and nine more digits, in any spelling."""
_PARAM = re.compile(
    r"(?i)((?:^|[?&;\s\"'])(?:" + "|".join(SECRET_PARAMS) + r")(?:=|%3D))[^&\s\"'#]*"
)
_MERCHANT = re.compile(r"(/merchant/)[^/\s?\"'#]+")
_API_TOKEN = re.compile(r"\blt_[A-Za-z0-9_\-]{8,}")


def scrub(text: str) -> str:
    """`text` without secrets or phone numbers."""
    text = _PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    text = _MERCHANT.sub(lambda m: m.group(1) + REDACTED, text)
    text = _API_TOKEN.sub(REDACTED, text)
    return MOBILE.sub(REDACTED, text)


_installed: list[Any] = []


def install() -> None:
    """Scrub every log record this process makes from now on (idempotent)."""
    if _installed:
        return
    make = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub(formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _installed.append(factory)
