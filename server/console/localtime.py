"""Times on console pages: stored in UTC, shown in the configured local zone (LINLI_TIMEZONE).

Every console template formats a time through the one `localtime` filter, and the page
names the zone (`time_zone_label`), so nobody reads a UTC clock as local.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_name
from flask import Blueprint, current_app
from flask.blueprints import BlueprintSetupState

DEFAULT_FORMAT = "%Y-%m-%d %H:%M"


@lru_cache(maxsize=8)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


def local_zone() -> ZoneInfo:
    """The app's local time zone."""
    return _zone(current_app.config["LINLI_TIMEZONE"])


def localtime(value: datetime | str | None, fmt: str = DEFAULT_FORMAT) -> str:
    """A UTC-aware time (or an ISO 8601 string with an offset) as local wall time."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        # Stored times are always aware (UTCDateTime); a naive one is a bug, not "local".
        raise ValueError(f"cannot show a naive time {moment!r} in a local zone")
    return moment.astimezone(local_zone()).strftime(fmt)


@lru_cache(maxsize=8)
def zone_label(key: str) -> str:
    """The zone's name in English and Chinese, and its IANA key.

    A zone without daylight saving is named by its standard time ("China Standard Time");
    one with it by its generic name ("Central European Time"), true of summer and winter rows.
    """
    zone = _zone(key)
    winter, summer = (datetime(2026, month, 15, tzinfo=zone) for month in (1, 7))
    if winter.utcoffset() == summer.utcoffset():
        en, zh = (get_timezone_name(winter, locale=loc) for loc in ("en", "zh"))
    else:
        en, zh = (get_timezone_name(zone, locale=loc) for loc in ("en", "zh"))
    return f"{en} {zh} ({key})"


def _template_context() -> dict[str, Any]:
    return {"time_zone_label": zone_label(current_app.config["LINLI_TIMEZONE"])}


def _check_zone(state: BlueprintSetupState) -> None:
    """Fail at start-up, not on the first page, when LINLI_TIMEZONE names no zone."""
    key = state.app.config["LINLI_TIMEZONE"]
    try:
        _zone(key)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"LINLI_TIMEZONE {key!r} is not a known time zone") from exc


def register(bp: Blueprint) -> None:
    """Install the `localtime` filter and the zone's label for every template of the app."""
    bp.record_once(_check_zone)
    bp.add_app_template_filter(localtime, "localtime")
    bp.app_context_processor(_template_context)
