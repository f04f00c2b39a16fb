"""Local time: times are stored in UTC; days, months and wall clocks follow LINLI_TIMEZONE.

The one place the server turns UTC into local time and back: report periods and the nightly
roll-up count local days through `local_midnight`, and every console template formats a time
through the one `localtime` filter while the page names the zone (`time_zone_label`), so
nobody reads a UTC clock as local.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_name
from flask import Flask, current_app

from server.i18n import current_language, day_time_words, day_words
from server.timeutil import utcnow

DEFAULT_FORMAT = "%Y-%m-%d %H:%M"
SCREEN = "screen"
"""`localtime` format: day and 24-hour clock in the reader's words (`11月30日 14:05`)."""
DAY = "day"
"""`localtime` format: the day in the reader's words (`11月30日`, `30 Nov`)."""


@lru_cache(maxsize=8)
def zone(key: str) -> ZoneInfo:
    """The time zone named by an IANA key (cached)."""
    return ZoneInfo(key)


def local_zone() -> ZoneInfo:
    """The app's local time zone."""
    return zone(current_app.config["LINLI_TIMEZONE"])


def local_midnight(day: date, tz: ZoneInfo | None = None) -> datetime:
    """The first instant of a local day (in `tz`, default the app's zone), UTC-aware."""
    return datetime.combine(day, time.min, tz or local_zone()).astimezone(UTC)


def local_today() -> date:
    """Today's date in the app's local zone."""
    return utcnow().astimezone(local_zone()).date()


def localtime(value: datetime | str | None, fmt: str = DEFAULT_FORMAT) -> str:
    """A UTC-aware time (or an ISO 8601 string with an offset) as local wall time.

    `fmt` is a strftime format, or `SCREEN` (`11月30日 14:05`, `30 Nov 14:05`) or `DAY`
    (`11月30日`) for the reader's language.
    """
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        # Stored times are always aware (UTCDateTime); a naive one is a bug, not "local".
        raise ValueError(f"cannot show a naive time {moment!r} in a local zone")
    local = moment.astimezone(local_zone())
    if fmt == SCREEN:
        return day_time_words(local)
    if fmt == DAY:
        return day_words(local)
    return local.strftime(fmt)


@lru_cache(maxsize=16)
def zone_label(key: str, language: str = "zh") -> str:
    """The zone's name in `language` and its IANA key, e.g. `中国标准时间 (Asia/Shanghai)`.

    A zone without daylight saving is named by its standard time ("China Standard Time");
    one with it by its generic name ("Central European Time"), true of summer and winter rows.
    """
    tz = zone(key)
    winter, summer = (datetime(2026, month, 15, tzinfo=tz) for month in (1, 7))
    name = get_timezone_name(
        winter if winter.utcoffset() == summer.utcoffset() else tz, locale=language
    )
    return f"{name} ({key})"


def _template_context() -> dict[str, Any]:
    return {
        "time_zone_label": zone_label(current_app.config["LINLI_TIMEZONE"], current_language()),
    }


def init_app(app: Flask) -> None:
    """Check LINLI_TIMEZONE at start-up; install the `localtime` filter and the zone's label."""
    key = app.config["LINLI_TIMEZONE"]
    try:
        zone(key)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"LINLI_TIMEZONE {key!r} is not a known time zone") from exc
    app.add_template_filter(localtime, "localtime")
    app.context_processor(_template_context)
