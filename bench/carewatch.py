"""Benchmark: the care watch's evaluation and watch board on PostgreSQL.

Builds one community with N watched elders (three weeks of signs of life each, about 15% of
them overdue now), then times: the first evaluation (raising every due step 1), a steady
evaluation with nothing to raise (what the 5-minute timer does most of the time), and the
watch board's query.

    nice -n 19 .venv/bin/python -m bench.carewatch [--elders 3000] [--tries 5]

Uses a scratch database `linli_bench_care` on LINLI_BENCH_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta

import sqlalchemy as sa

ADMIN_URL = os.environ.get(
    "LINLI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NAME = "linli_bench_care"


def _admin(statement: str) -> None:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


def _build(elders: int, rng: random.Random) -> int:
    """The community, its rooms, residents, plans and signs; returns the community's id."""
    from server.carewatch.models import CarePlan, SignOfLife
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.extensions import db
    from server.people.models import Resident
    from server.timeutil import utcnow

    community = create_community("bench", "基准社区", None)
    lines = ["building,unit,room"] + [
        f"{b},{u},{f}{r:02d}"
        for b in range(1, 1 + elders // 40 + 1)
        for u in (1, 2)
        for f in range(1, 11)
        for r in (1, 2)
    ]
    import_rooms(community, parse_rooms_csv("\n".join(lines) + "\n", "rooms.csv"))
    rooms = list(
        db.session.execute(
            sa.text("SELECT id FROM room WHERE community_id = :c ORDER BY id"),
            {"c": community.id},
        ).scalars()
    )
    now = utcnow()
    start = now - timedelta(days=21)
    residents = [
        {
            "community_id": community.id,
            "room_id": rooms[i % len(rooms)],
            "name": f"居民{i}",
            "is_living_alone": True,
            "mobility": "independent",
            "created_at": start,
            "updated_at": start,
        }
        for i in range(elders)
    ]
    ids = list(
        db.session.execute(
            Resident.__table__.insert().returning(Resident.__table__.c.id), residents
        ).scalars()
    )
    rhythms = [("daily", 24), ("every_2_3_days", 72), ("weekly", 168)]
    plans, signs = [], []
    for n, rid in enumerate(ids):
        rhythm, hours = rhythms[n % 3]
        plans.append(
            {
                "community_id": community.id,
                "resident_id": rid,
                "is_watched": True,
                "reason": "living_alone",
                "rhythm": rhythm,
                "consent": "given",
                "consent_note": "bench",
                "consent_at": start,
                "watched_since": start,
                "updated_at": start,
                "updated_by": "bench",
            }
        )
        overdue = rng.random() < 0.15
        at = start + timedelta(hours=rng.uniform(1, 12))
        end = now - timedelta(hours=hours + 8) if overdue else now
        k = 0
        while at < end:
            signs.append(
                {
                    "community_id": community.id,
                    "resident_id": rid,
                    "channel": rng.choice(["kiosk", "meal", "visit", "activity"]),
                    "outcome": "ok",
                    "at": at,
                    "source_key": f"bench:{rid}:{k}",
                    "recorded_by": "bench",
                    "created_at": at,
                }
            )
            k += 1
            at += timedelta(hours=hours * rng.uniform(0.3, 0.95))
    db.session.execute(CarePlan.__table__.insert(), plans)
    for i in range(0, len(signs), 5000):
        db.session.execute(SignOfLife.__table__.insert(), signs[i : i + 5000])
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    print(f"{elders} watched elders, {len(signs)} signs of life over 21 days")
    return int(community.id)


def _timed(action: object, tries: int) -> list[float]:
    from server.extensions import db

    out = []
    for _ in range(tries):
        began = time.perf_counter()
        action()  # type: ignore[operator]
        out.append((time.perf_counter() - began) * 1000)
        db.session.rollback()
    return out


def main() -> None:
    """Build, measure, print, drop."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--elders", type=int, default=3000)
    parser.add_argument("--tries", type=int, default=5)
    args = parser.parse_args()
    _admin(f"DROP DATABASE IF EXISTS {NAME}")
    _admin(f"CREATE DATABASE {NAME}")
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        with tempfile.TemporaryDirectory() as folder:
            os.environ["LINLI_INSTANCE_DIR"] = folder
            os.environ["LINLI_DATABASE_URL"] = f"{base}/{NAME}"
            from flask_migrate import upgrade

            from server import create_app
            from server.carewatch.queries import board
            from server.carewatch.services import evaluate
            from server.extensions import db

            app = create_app()
            with app.app_context():
                upgrade()
                community_id = _build(args.elders, random.Random(15))
                began = time.perf_counter()
                first = evaluate()
                db.session.commit()
                cold = (time.perf_counter() - began) * 1000
                print(f"first evaluation: {first} in {cold:.0f} ms")
                steady = _timed(evaluate, args.tries)
                rows = _timed(lambda: board(community_id), args.tries)
                print(
                    f"steady evaluation (nothing to raise): median {statistics.median(steady):.0f}"
                    f" ms, max {max(steady):.0f} ms over {args.tries} runs"
                )
                print(
                    f"watch board query ({args.elders} rows): median {statistics.median(rows):.0f}"
                    f" ms, max {max(rows):.0f} ms over {args.tries} runs"
                )
                db.session.remove()
                db.engine.dispose()
    finally:
        _admin(f"DROP DATABASE IF EXISTS {NAME}")


if __name__ == "__main__":
    main()
