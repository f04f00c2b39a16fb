"""The report's response measures from the maintained milestones equal the slow way's.

`response_measures` reads one row per request (its first times, kept by a trigger on its
status events); `response_measures_from_events` reads every status event. On a random data
set, events recorded out of time order and notes among them, both give the same figures.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from tests.server.seed import Seed, add_request

PATHS = [
    ["triaged", "dispatched", "accepted", "on_site", "completed", "followed_up", "closed_fixed"],
    ["triaged", "dispatched", "accepted", "on_site", "completed", "closed_not_fixed"],
    ["triaged", "dispatched", "on_site", "completed", "reopened", "triaged", "dispatched"],
    ["triaged", "escalated", "external_feedback", "closed_fixed"],
    ["cancelled"],
    ["duplicate"],
    ["triaged"],
    [],
]
ROOMS = ["3-2-301", "3-2-302", "3-1-101", "1-1-101", "1-1-102"]
CATEGORIES = ["electrical", "plumbing", "meals"]


def _random_requests(community_id: int, rng: random.Random) -> None:
    from server.extensions import db
    from server.requests.models import RequestEvent

    start = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)
    for _ in range(80):
        received = start + timedelta(minutes=rng.randrange(0, 130 * 24 * 60))
        path = rng.choice(PATHS)
        steps: list[tuple[int, str | None, str]] = []
        minutes, before = 0, "received"
        for status in path:
            # Times to the microsecond, as real ones are: the picks must be exact, not rounded.
            minutes += rng.randrange(1, 3000) + rng.randrange(60 * 10**6) / (60 * 10**6)
            steps.append((minutes, before, status))
            before = status
        arrived = next((m for m, _, s in steps if s == "on_site"), None)
        rng.shuffle(steps)  # recorded out of time order: the first time still wins
        request_id = add_request(
            community_id,
            rng.choice(ROOMS),
            rng.choice(CATEGORIES),
            received,
            before,
            steps,
            arrived_after=arrived,
        )
        if rng.random() < 0.3:  # a note before any change of status: not an acknowledgement
            db.session.add(
                RequestEvent(
                    request_id=request_id,
                    at=received + timedelta(seconds=30),
                    actor="社工",
                    from_status="received",
                    note="打过电话",
                    kind="note",
                )
            )
    db.session.commit()


def test_the_fast_response_measures_equal_the_slow_ones(ctx: None, seed: Seed) -> None:
    from server.reports.queries import Period, response_measures, response_measures_from_events

    _random_requests(seed.community["lanqiao"], random.Random(20261130))
    for period in (
        Period(date(2026, 1, 1), date(2026, 3, 31)),
        Period(date(2026, 2, 1), date(2026, 2, 28)),
        Period(date(2026, 1, 1), date(2026, 12, 31)),
    ):
        fast = response_measures(seed.community["lanqiao"], period)
        slow = response_measures_from_events(seed.community["lanqiao"], period)
        assert fast == slow
        assert sum(m.n for m in fast.overall) > 10  # the data set reaches every step
        assert all(m.n > 0 for m in fast.overall)
