"""The demo's care watch: watched elders in the three pilot communities, three weeks of
check-ins, one overdue at each step, one paused, one who declined."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from flask import Flask


@pytest.fixture
def backend() -> str:
    """The demo seeds SQLite (one backend is enough to check what it makes)."""
    return "sqlite"


def test_the_demo_watches_elders_with_one_overdue_at_each_step(app: Flask) -> None:
    from server.carewatch.queries import board, declined_count
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.demo import COMMUNITIES, SEED, _rooms_csv
    from server.demo_data import seed_care, seed_people, seed_requests
    from server.extensions import db
    from server.localtime import local_today
    from server.reports.queries import Period, care_months

    with app.app_context():
        rng = random.Random(SEED)
        ids = []
        for slug, name, phone, *shape in COMMUNITIES:
            community = create_community(slug, name, phone)
            import_rooms(community, parse_rooms_csv(_rooms_csv(*shape), f"{slug}.csv"))
            ids.append(community.id)
        slugs = [c[0] for c in COMMUNITIES]
        seed_people(slugs, rng)
        seed_requests(slugs, rng)
        assert seed_care(slugs, rng) == 30
        db.session.commit()
        today = local_today()
        for community_id in ids:
            rows = board(community_id)
            assert len(rows) == 10
            assert declined_count(community_id) == 1
            at_step = sorted(r.step.step for r in rows if r.step is not None)
            assert at_step == [1, 2, 3]
            assert sum(1 for r in rows if r.is_quiet) == 1
            assert all(r.last_at is not None for r in rows if not r.is_quiet)
            lines = care_months(community_id, Period(today - timedelta(days=21), today))
            answered = [h for line in lines for h in line.summary.contact_hours]
            assert answered, "some missed rhythms were answered over the three weeks"
            assert all(0 <= h < 24 for h in answered)
