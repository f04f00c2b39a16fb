"""EXPLAIN (ANALYZE, BUFFERS) of the statements behind the city's slow pages, from the real code.

Runs each page's query function (queue, page 50, live refresh, a year's report, /metrics, the
hours page's awaiting list, the passbook, a merchant's page, a kiosk's pull from nothing) inside
the app against a city built by bench/city.py, captures every statement it sends, and prints
each one's plan with its execution time. With `--old REF` the queue's statements are also
taken from the code at git REF (the functions before the rewrite), so one run shows before and
after.

    nice -n 19 .venv/bin/python -m bench.cityexplain --database linli_city [--old cf98922]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "LINLI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _old_module(ref: str, path: str, name: str) -> ModuleType:
    """The module at `path` as it was at git `ref`, imported under `name`."""
    text = subprocess.run(
        ["git", "show", f"{ref}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="linli-old-"))
    file = folder / f"{name}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (and its parameters) the engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def hook(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)


def explain(engine: sa.Engine, label: str, run: Callable[[], object], skip: int = 0) -> None:
    """Run `run`, then print EXPLAIN (ANALYZE, BUFFERS) of each statement it sent."""
    with captured(engine) as seen:
        started = time.perf_counter()
        run()
        wall = time.perf_counter() - started
    print(f"===== {label}: {len(seen)} statements, {wall * 1000:,.0f} ms in the app")
    for statement, params in seen[skip:]:
        if "FROM category" in statement and "help_request" not in statement:
            continue  # the nine categories, read whole
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            plan = [r[0] for r in cur.fetchall()]
        finally:
            raw.close()
        first = " ".join(statement.split())
        print(f"--- {first[:400]}{' ...' if len(first) > 400 else ''}")
        for line in plan:
            print("  " + line)
    print(flush=True)


def main() -> None:
    """Print the plans of the slow pages' statements, before (--old) and after."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="linli_city")
    parser.add_argument("--old", default="", help="git ref of the code before the rewrite")
    parser.add_argument("--only", default="", help="labels containing this text")
    args = parser.parse_args()
    base, _, _ = ADMIN_URL.rpartition("/")
    os.environ["LINLI_DATABASE_URL"] = f"{base}/{args.database}"
    os.environ.setdefault("LINLI_SECRET_KEY", "city-explain")
    os.environ.setdefault("LINLI_INSTANCE_DIR", tempfile.mkdtemp(prefix="linli-explain-"))

    from server import create_app
    from server.extensions import db
    from server.health import counters
    from server.kiosks.models import Kiosk
    from server.passbook import queries as passbook_queries
    from server.passbook import services as passbook
    from server.passbook.models import Merchant
    from server.reports import queries as reports
    from server.requests import queries
    from server.requests.models import HelpRequest
    from server.syncapi import services as sync
    from server.timeutil import utcnow
    from server.volunteers import queries as volunteers
    from server.volunteers.models import ServiceRecord
    from server.volunteers.services import forgotten_before

    app = create_app()
    with app.app_context():
        engine = db.engine
        scope = frozenset(db.session.execute(sa.text("SELECT id FROM community")).scalars().all())
        largest = db.session.execute(
            sa.select(HelpRequest.community_id)
            .group_by(HelpRequest.community_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        ).scalar_one()
        action = queries.QueueFilter()
        size = app.config["LINLI_QUEUE_PAGE_SIZE"]
        cursor = None
        for _ in range(49):
            _, cursor = queries.queue_page(scope, action, cursor, size)
        db.session.rollback()
        old = None
        if args.old:
            old = _old_module(args.old, "server/requests/queries.py", "old_queries")
        today = reports.local_today()
        year = reports.Period(today - timedelta(days=365), today)
        kiosk = db.session.execute(
            sa.select(Kiosk)
            .where(Kiosk.community_id == largest, Kiosk.token_hash.is_not(None))
            .order_by(Kiosk.id)
            .limit(1)
        ).scalar_one()
        live = queries.live_cursor(utcnow() - timedelta(seconds=10))
        merchant = (
            db.session.execute(
                sa.select(Merchant).where(Merchant.community_id == largest).order_by(Merchant.id)
            )
            .scalars()
            .first()
        )
        busiest = db.session.execute(
            sa.text("SELECT volunteer_id FROM passbook_account ORDER BY entries DESC LIMIT 1")
        ).scalar_one()
        forgotten = forgotten_before()

        def metrics_before() -> object:
            return db.session.execute(
                sa.select(HelpRequest.community_id, HelpRequest.status, sa.func.count()).group_by(
                    HelpRequest.community_id, HelpRequest.status
                )
            ).all()

        def hours_before() -> object:
            return db.session.execute(
                sa.select(ServiceRecord)
                .where(ServiceRecord.status == "pending", ServiceRecord.community_id.in_(scope))
                .order_by(ServiceRecord.source, ServiceRecord.started_at)
            ).all()

        cases: list[tuple[str, Callable[[], object]]] = []
        if old is not None:
            cases += [
                ("before: queue needs action, page 1 (admin)",
                 lambda: old.queue_page(scope, old.QueueFilter(), None, size)),
                ("before: queue needs action, page 50 (admin)",
                 lambda: old.queue_page(scope, old.QueueFilter(), cursor, size)),
            ]  # fmt: skip
        cases += [
            ("after: queue needs action, page 1 (admin)",
             lambda: queries.queue_page(scope, action, None, size)),
            ("after: queue needs action, page 50 (admin)",
             lambda: queries.queue_page(scope, action, cursor, size)),
            ("after: live refresh since a cursor 10 s old (admin)",
             lambda: queries.queue_changes(scope, action, live)),
            ("report, one community, a year: states",
             lambda: reports.requests_by_category_and_state(largest, year)),
            ("report, one community, a year: response measures",
             lambda: reports.response_measures(largest, year)),
            ("report, one community, a year: elders",
             lambda: reports.elders_served(largest, year)),
            ("report, one community, a year: service by team",
             lambda: reports.service_by_team(largest, year)),
            ("/metrics before: requests counted by community and state", metrics_before),
            ("/metrics after: the maintained counters", counters.totals),
            ("hours page before: every pending record (admin)", hours_before),
            ("hours page after: awaiting approval, first page and bounded count (admin)",
             lambda: volunteers.awaiting_page(scope, forgotten, None)),
            ("passbook page after: the busiest volunteer's latest entries",
             lambda: passbook.statement(busiest)),
            ("merchant page: latest redemptions",
             lambda: passbook_queries.merchant_context(merchant)),
            ("kiosk pull from nothing, first page, unbounded (before)",
             lambda: sync.pull(kiosk, None, 1000)),
            ("kiosk pull from nothing, first page, settled bounded (after)",
             lambda: sync.pull(kiosk, None, 1000, utcnow() - timedelta(days=30))),
        ]  # fmt: skip
        for label, run in cases:
            if args.only in label:
                explain(engine, label, run)
                db.session.rollback()


if __name__ == "__main__":
    main()
