"""One local time: report periods, the nightly's days and the console follow LINLI_TIMEZONE."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tests.server.seed import add_request

LATE_ON_MARCH_31_UTC = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "march", "april"),
    [("Asia/Shanghai", 0, 1), ("UTC", 1, 0)],
)
def test_a_report_month_follows_linli_timezone(
    app: Flask, community: dict[str, Any], zone: str, march: int, april: int
) -> None:
    from server.extensions import db
    from server.reports.queries import Period, requests_by_category_and_state

    app.config["LINLI_TIMEZONE"] = zone
    with app.app_context():
        add_request(community["id"], "3-2-301", "electrical", LATE_ON_MARCH_31_UTC, "received")
        db.session.commit()
        in_march = requests_by_category_and_state(
            community["id"], Period(date(2026, 3, 1), date(2026, 3, 31))
        )
        in_april = requests_by_category_and_state(
            community["id"], Period(date(2026, 4, 1), date(2026, 4, 30))
        )
    assert (in_march.total, in_april.total) == (march, april)


def test_local_days_are_calendar_days_of_the_zone(app: Flask) -> None:
    from server.localtime import local_midnight, local_today, zone
    from server.ops.nightly import local_day_bounds

    shanghai = zone("Asia/Shanghai")
    assert local_midnight(date(2026, 4, 1), shanghai) == datetime(2026, 3, 31, 16, tzinfo=UTC)
    # A day with a daylight-saving change is 23 hours long, not 24.
    start, end = local_day_bounds(date(2026, 3, 8), zone("America/New_York"))
    assert (start, end - start) == (datetime(2026, 3, 8, 5, tzinfo=UTC), timedelta(hours=23))
    app.config["LINLI_TIMEZONE"] = "Pacific/Kiritimati"  # UTC+14: a day ahead of UTC
    with app.app_context():
        assert local_today() == datetime.now(zone("Pacific/Kiritimati")).date()
        assert local_midnight(date(2026, 4, 1)) == datetime(2026, 3, 31, 10, tzinfo=UTC)
