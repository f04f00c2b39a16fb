"""Plan shapes of the indexed city queries, on small cities built by bench/citybuild.py.

Each test runs the real code path (a console page through the test client, or the nightly
roll-up), captures the statement it sends to PostgreSQL and asserts, from EXPLAIN ANALYZE, that
it reads through the index made for it and examines about as many rows in a city ten times
larger: a plan that falls back to scanning the table is caught here, without timing anything.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import _pg_admin, _pg_url

pytestmark = pytest.mark.postgres

SIZES = (2_000, 20_000)
COMMUNITIES = 20
PASSWORD = "city plans password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def cities(pg_template: str) -> Iterator[dict[int, str]]:
    """Two migrated cities, of 2,000 and 20,000 requests: size -> database URL."""
    from bench.citybuild import build_city

    urls: dict[int, str] = {}
    try:
        for size in SIZES:
            name = f"linli_city_{size}_{uuid.uuid4().hex[:8]}"
            _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
            urls[size] = _pg_url(name)
            build_city(urls[size], size, COMMUNITIES, say=lambda _line: None)
        yield urls
    finally:
        for url in urls.values():
            name = sa.engine.make_url(url).database
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def city_app(url: str) -> Iterator[Flask]:
    """The server app on a city, with an admin of every community."""
    from server import create_app
    from server.auth.services import create_user
    from server.extensions import db

    app = create_app({"LINLI_DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        if db.session.execute(sa.text("SELECT 1 FROM user_account")).first() is None:
            slugs = list(db.session.execute(sa.text("SELECT slug FROM community")).scalars())
            create_user("plans_admin", PASSWORD, "admin", slugs)
            db.session.commit()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def statements_of(app: Flask, action: Callable[[], object], marker: str) -> list[tuple[str, Any]]:
    """The SELECT statements `action` sent that contain `marker`, with their parameters."""
    from server.extensions import db

    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
        if marker in statement and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, params))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", capture)
        try:
            action()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", capture)
    assert seen, f"no statement with {marker!r} was sent"
    return seen


def explain(app: Flask, statement: str, params: Any) -> dict[str, Any]:
    """The top plan node of EXPLAIN (ANALYZE, FORMAT JSON)."""
    from server.extensions import db

    with app.app_context():
        raw = db.session.connection().exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params
        )
        plan = raw.scalar_one()
        db.session.rollback()
    data = plan if isinstance(plan, list) else json.loads(plan)
    return dict(data[0]["Plan"])


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan tree."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans_of(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """The nodes that read `table` (directly or through one of its indexes)."""
    return [n for n in nodes(plan) if n.get("Relation Name") == table or "Index Name" in n]


def rows_examined(plan: dict[str, Any], table: str) -> int:
    """Rows the scans of `table` produced or threw away by filter, per loop summed."""
    total = 0
    for node in nodes(plan):
        if node.get("Relation Name") == table:
            loops = int(node.get("Actual Loops", 1))
            total += (int(node["Actual Rows"]) + int(node.get("Rows Removed by Filter", 0))) * loops
    return total


def signed_in(app: Flask) -> Any:
    """A test client signed in as the admin."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page)
    assert token is not None
    answer = client.post(
        "/login", data={"username": "plans_admin", "password": PASSWORD, "csrf_token": token[1]}
    )
    assert answer.status_code == 303
    return client


def _scalar(app: Flask, sql: str) -> Any:
    from server.extensions import db

    with app.app_context():
        return db.session.execute(sa.text(sql)).scalar_one()


def test_request_page_finds_merged_duplicates_through_an_index(cities: dict[int, str]) -> None:
    examined = {}
    for size, url in cities.items():
        with city_app(url) as app:
            target = _scalar(
                app,
                "SELECT duplicate_of_id FROM help_request WHERE duplicate_of_id IS NOT NULL "
                "ORDER BY id DESC LIMIT 1",
            )
            client = signed_in(app)

            def page(client: Any = client, target: int = target) -> None:
                assert client.get(f"/console/requests/{target}").status_code == 200

            [(statement, params)] = statements_of(app, page, "help_request.duplicate_of_id =")
            plan = explain(app, statement, params)
            uses = {n.get("Index Name") for n in nodes(plan)}
            assert "ix_help_request_duplicate_of_id" in uses, plan
            assert not [n for n in nodes(plan) if n["Node Type"] == "Seq Scan"
                        and n.get("Relation Name") == "help_request"], plan  # fmt: skip
            examined[size] = rows_examined(plan, "help_request")
    assert examined[SIZES[1]] <= 5, examined


def test_report_period_reads_the_community_received_index(cities: dict[int, str]) -> None:
    examined = {}
    for size, url in cities.items():
        with city_app(url) as app:
            client = signed_in(app)
            start = _scalar(app, "SELECT (current_date - 30)::text")
            end = _scalar(app, "SELECT current_date::text")

            def report(client: Any = client, start: str = start, end: str = end) -> None:
                answer = client.get(f"/reports/1?start={start}&end={end}")
                assert answer.status_code == 200

            found = statements_of(app, report, "help_request.received_at >=")
            for statement, params in found:
                plan = explain(app, statement, params)
                uses = {n.get("Index Name") for n in nodes(plan)}
                # 0010_city's covering index replaced 0008's on the same key.
                assert "ix_help_request_report" in uses, (statement, plan)
            month = _scalar(
                app,
                "SELECT count(*) FROM help_request WHERE community_id = 1 "
                "AND received_at >= current_date - 31",
            )
            plan = explain(app, *found[0])
            examined[size] = (rows_examined(plan, "help_request"), month)
    # Rows read follow the month's requests, not the community's two years of history.
    for read, month in examined.values():
        assert read <= 2 * month + 10, examined


def test_nightly_rollup_reads_one_days_events_through_an_index(cities: dict[int, str]) -> None:
    from zoneinfo import ZoneInfo

    from server.ops.nightly import rollup
    from server.timeutil import utcnow

    examined = {}
    for size, url in cities.items():
        with city_app(url) as app:
            found = statements_of(
                app, lambda: rollup(1, ZoneInfo("Asia/Shanghai"), utcnow()), "request_event.at >="
            )
            [(statement, params)] = found
            plan = explain(app, statement, params)
            uses = {n.get("Index Name") for n in nodes(plan)}
            assert "ix_request_event_at" in uses, plan
            events = _scalar(app, "SELECT count(*) FROM request_event")
            examined[size] = (rows_examined(plan, "request_event"), events)
    # A day's events are a few hundredths of two years': far from every event.
    for read, events in examined.values():
        assert read < events / 20, examined


def test_residents_list_joins_room_once(cities: dict[int, str]) -> None:
    with city_app(cities[SIZES[0]]) as app:
        client = signed_in(app)

        def listing() -> None:
            assert client.get("/console/residents").status_code == 200

        [(statement, params)] = statements_of(app, listing, "FROM resident")
        assert statement.count("JOIN room") == 1, statement
        plan = explain(app, statement, params)
        assert len([n for n in nodes(plan) if n.get("Relation Name") == "room"]) == 1, plan


def test_meeting_sheet_finds_escalated_and_reopened_through_a_partial_index(
    cities: dict[int, str],
) -> None:
    for url in cities.values():
        with city_app(url) as app:
            client = signed_in(app)

            def sheet(client: Any = client) -> None:
                assert client.get("/reports/1/meeting").status_code == 200

            # The complex cases' count and their first page both ask for the marked events.
            for statement, params in statements_of(app, sheet, "request_event.to_status IN"):
                plan = explain(app, statement, params)
                uses = {n.get("Index Name") for n in nodes(plan)}
                assert "ix_request_event_marked" in uses, plan
                assert not [n for n in nodes(plan) if "Seq Scan" in n["Node Type"]
                            and n.get("Relation Name") == "request_event"], plan  # fmt: skip


def test_hours_page_reads_latest_decisions_from_the_decided_at_index(
    cities: dict[int, str],
) -> None:
    for url in cities.values():
        with city_app(url) as app:
            client = signed_in(app)

            def hours(client: Any = client) -> None:
                assert client.get("/volunteers/hours").status_code == 200

            [(statement, params)] = statements_of(
                app, hours, "ORDER BY service_record.decided_at DESC"
            )
            plan = explain(app, statement, params)
            uses = {n.get("Index Name") for n in nodes(plan)}
            assert "ix_service_record_decided_at" in uses, plan
            assert rows_examined(plan, "service_record") < 200, plan


def test_queue_needs_action_reads_open_requests_only(cities: dict[int, str]) -> None:
    examined = {}
    for size, url in cities.items():
        with city_app(url) as app:
            client = signed_in(app)

            def queue(client: Any = client) -> None:
                assert client.get("/console/queue").status_code == 200

            found = statements_of(app, queue, "help_request.status NOT IN")
            read = 0
            opened: set[str] = set()
            for statement, params in found:
                plan = explain(app, statement, params)
                uses = {n.get("Index Name") for n in nodes(plan)}
                # The partial indexes on open requests (by time, or community first), or in a
                # small city the status index for a bucket of a few open states: never history.
                open_indexes = {"ix_help_request_open", "ix_help_request_open_community"}
                assert uses & (open_indexes | {"ix_help_request_status"}), plan
                opened |= uses & open_indexes
                assert not [n for n in nodes(plan) if "Seq Scan" in n["Node Type"]
                            and n.get("Relation Name") == "help_request"], plan  # fmt: skip
                read += rows_examined(plan, "help_request")
            assert opened, "no statement of the page read the open requests' index"
            total = _scalar(app, "SELECT count(*) FROM help_request")
            examined[size] = (read, total)
    # A page reads open requests, never the history: far below the table in both cities.
    for read, total in examined.values():
        assert read < total / 5, examined


def test_live_refresh_reads_only_rows_changed_since_the_cursor(cities: dict[int, str]) -> None:
    for url in cities.values():
        with city_app(url) as app:
            client = signed_in(app)
            first = client.get("/console/queue/rows")
            cursor = first.headers["X-Live-Cursor"]

            def refresh(client: Any = client, cursor: str = cursor) -> None:
                answer = client.get("/console/queue/rows", query_string={"since": cursor})
                assert answer.status_code == 200
                assert answer.headers["X-Live-Delta"] == "1"

            [(statement, params)] = statements_of(app, refresh, "help_request.updated_at >=")
            plan = explain(app, statement, params)
            uses = {n.get("Index Name") for n in nodes(plan)}
            assert "ix_help_request_updated" in uses, plan
            assert rows_examined(plan, "help_request") <= 5, plan


def test_hours_page_finds_unrecorded_jobs_by_an_anti_join(cities: dict[int, str]) -> None:
    for url in cities.values():
        with city_app(url) as app:
            client = signed_in(app)
            # The finished jobs are listed for one chosen community (the admin has them all).
            community = _scalar(app, "SELECT min(id) FROM community")

            def hours(client: Any = client, community: int = community) -> None:
                path = f"/volunteers/hours?community={community}"
                assert client.get(path).status_code == 200

            [(statement, params)] = statements_of(app, hours, "NOT (EXISTS (SELECT")
            assert "NOT IN" not in statement, statement
            if url != cities[max(SIZES)]:
                # In the small city (about 1,200 service records) a hashed scan of them all is
                # as good a plan as the probes, and the planner has taken either from run to
                # run; in the larger city only the probes are reasonable.
                continue
            plan = explain(app, statement, params)
            uses = {n.get("Index Name") for n in nodes(plan)}
            assert "ix_service_record_request_id" in uses, plan
            assert not [n for n in nodes(plan) if "Seq Scan" in n["Node Type"]
                        and n.get("Relation Name") == "service_record"], plan  # fmt: skip


def _no_seq_scan(plan: dict[str, Any], table: str) -> bool:
    return not [n for n in nodes(plan) if "Seq Scan" in n["Node Type"]
                and n.get("Relation Name") == table]  # fmt: skip


def test_possible_duplicates_read_the_room_and_the_days_open_requests(
    cities: dict[int, str],
) -> None:
    from server.communities.models import Room
    from server.extensions import db
    from server.requests import queries
    from server.requests.models import HelpRequest

    examined = {}
    for size, url in cities.items():
        with city_app(url) as app:
            target = _scalar(
                app,
                "SELECT id FROM help_request WHERE status NOT IN "
                "('cancelled', 'closed_fixed', 'closed_not_fixed', 'duplicate') "
                "ORDER BY received_at DESC LIMIT 1",
            )
            client = signed_in(app)

            def page(client: Any = client, target: int = target) -> None:
                assert client.get(f"/console/requests/{target}").status_code == 200

            found = statements_of(app, page, "help_request.category_id =")
            room = [s for s in found if "help_request.room_id !=" not in s[0]]
            building = [s for s in found if "help_request.room_id !=" in s[0]]
            assert len(room) == 1, found
            assert len(building) == 1, "the target is of the last day: its building is read"
            read = 0
            # The building's: the community's open requests of the day, or its rooms' requests.
            for (statement, params), indexes in (
                (room[0], {"ix_help_request_room_id"}),
                (building[0], {"ix_help_request_open_community", "ix_help_request_room_id"}),
            ):
                plan = explain(app, statement, params)
                assert indexes & {n.get("Index Name") for n in nodes(plan)}, plan
                assert _no_seq_scan(plan, "help_request"), plan
                read += rows_examined(plan, "help_request")

            def entry(app: Flask = app, target: int = target) -> None:
                req = db.session.get_one(HelpRequest, target)
                queries.possible_duplicates(db.session.get_one(Room, req.room_id), req.category_id)

            for statement, params in statements_of(app, entry, "help_request.category_id ="):
                plan = explain(app, statement, params)
                assert _no_seq_scan(plan, "help_request"), plan
            total = _scalar(app, "SELECT count(*) FROM help_request")
            examined[size] = (read, total)
    # A room's history and a community's open requests of one day: far below the table, and
    # about the same in a city ten times larger.
    small, large = examined[SIZES[0]], examined[SIZES[1]]
    assert large[0] < large[1] / 20, examined
    assert large[0] <= 10 * small[0] + 50, examined


def test_queue_flags_possible_duplicates_by_index_probes(cities: dict[int, str]) -> None:
    examined = {}
    for size, url in cities.items():
        with city_app(url) as app:
            client = signed_in(app)

            def queue(client: Any = client) -> None:
                assert client.get("/console/queue").status_code == 200

            [(statement, params)] = statements_of(app, queue, "EXISTS")
            plan = explain(app, statement, params)
            assert _no_seq_scan(plan, "help_request"), plan
            assert _no_seq_scan(plan, "room"), plan
            total = _scalar(app, "SELECT count(*) FROM help_request")
            examined[size] = (rows_examined(plan, "help_request"), total)
    for read, total in examined.values():
        assert read < total / 5, examined


def test_merge_by_ticket_finds_the_ticket_through_an_index(cities: dict[int, str]) -> None:
    from server.errors import InvalidInput
    from server.extensions import db
    from server.requests import queries
    from server.requests.models import HelpRequest

    for url in cities.values():
        with city_app(url) as app:
            ticket = _scalar(app, "SELECT ticket FROM help_request ORDER BY id DESC LIMIT 1")
            scope = frozenset(range(1, COMMUNITIES + 1))

            def lookup(ticket: str = ticket, scope: frozenset[int] = scope) -> None:
                req = db.session.get_one(HelpRequest, 1)
                # Several kiosks' prefixes may hold it (an error then): the plan is what is asked.
                with contextlib.suppress(InvalidInput):
                    queries.merge_target(req, ticket, scope)

            [(statement, params)] = statements_of(app, lookup, "help_request.ticket =")
            plan = explain(app, statement, params)
            assert "ix_help_request_ticket" in {n.get("Index Name") for n in nodes(plan)}, plan
            assert rows_examined(plan, "help_request") <= 50, plan


def test_kiosk_download_from_nothing_reads_its_community_not_the_change_log(
    cities: dict[int, str],
) -> None:
    """The first page of a bounded download merges the community's unsettled rows and its
    requests settled since the bound: it never walks every community's rows by seq."""
    from datetime import timedelta

    from server.extensions import db
    from server.kiosks.models import Kiosk
    from server.syncapi import services as sync
    from server.timeutil import utcnow

    for size, url in cities.items():
        with city_app(url) as app:
            with app.app_context():
                kiosk = (
                    db.session.execute(
                        sa.select(Kiosk).where(Kiosk.token_hash.is_not(None)).order_by(Kiosk.id)
                    )
                    .scalars()
                    .first()
                )
                assert kiosk is not None
                db.session.expunge(kiosk)

            def pull(kiosk: Any = kiosk) -> None:
                sync.pull(kiosk, None, 1000, utcnow() - timedelta(days=30))

            [(statement, params)] = statements_of(app, pull, "FROM change")
            plan = explain(app, statement, params)
            uses = {n.get("Index Name") for n in nodes(plan)}
            if size == max(SIZES):
                assert {"ix_change_unsettled", "ix_change_settled"} <= uses, plan
            # (uq_change_seq may serve the part after the download's start: an empty range.)
            total = _scalar(app, "SELECT count(*) FROM change")
            assert rows_examined(plan, "change") < total / 5, plan


def test_merchant_page_reads_its_redemptions_through_an_index(cities: dict[int, str]) -> None:
    for url in cities.values():
        with city_app(url) as app:
            client = signed_in(app)
            merchant = _scalar(app, "SELECT min(id) FROM merchant")

            def page(client: Any = client, merchant: int = merchant) -> None:
                assert client.get(f"/passbook/merchants/{merchant}").status_code == 200

            [(statement, params)] = statements_of(app, page, "ledger_entry.merchant_id =")
            plan = explain(app, statement, params)
            uses = {n.get("Index Name") for n in nodes(plan)}
            assert "ix_ledger_entry_merchant" in uses, plan
            assert rows_examined(plan, "ledger_entry") <= 50, plan


def test_staff_api_page_of_a_community_and_month_reads_that_community(
    cities: dict[int, str],
) -> None:
    from datetime import timedelta

    from server.extensions import db
    from server.staffapi.services import create_api_token
    from server.timeutil import utcnow

    since = (utcnow() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for url in cities.values():
        with city_app(url) as app:
            with app.app_context():
                slugs = list(db.session.execute(sa.text("SELECT slug FROM community")).scalars())
                _, secret = create_api_token(f"plans-{uuid.uuid4().hex[:8]}", slugs)
                db.session.commit()
            slug = _scalar(
                app,
                "SELECT c.slug FROM community c JOIN help_request r ON r.community_id = c.id "
                "GROUP BY c.slug ORDER BY count(*) DESC LIMIT 1",
            )

            def page(secret: str = secret, slug: str = slug) -> None:
                answer = app.test_client().get(
                    f"/api/v1/requests?community={slug}&since={since}",
                    headers={"Authorization": f"Bearer {secret}"},
                )
                assert answer.status_code == 200, answer.get_data(as_text=True)

            [(statement, params)] = statements_of(app, page, "matching")
            plan = explain(app, statement, params)
            # The community's month by its index, then the page's rows by key: not a walk of
            # the primary key in id order filtering every request out but the page's.
            total = _scalar(app, "SELECT count(*) FROM help_request")
            assert rows_examined(plan, "help_request") < total / 5, plan
            assert _no_seq_scan(plan, "help_request"), plan


def test_jobs_list_reads_the_requests_being_worked_on(cities: dict[int, str]) -> None:
    from server.requests.models import ACTIVE_SQL
    from sync.statuses import ACTIVE_WORK

    assert set(re.findall(r"'(\w+)'", ACTIVE_SQL)) == ACTIVE_WORK
    for size, url in cities.items():
        with city_app(url) as app:
            client = signed_in(app)

            def jobs(client: Any = client) -> None:
                assert client.get("/console/jobs").status_code == 200

            [(statement, params)] = statements_of(
                app, jobs, "ORDER BY help_request.received_at, help_request.id"
            )
            plan = explain(app, statement, params)
            if size == max(SIZES):
                assert "ix_help_request_active" in {n.get("Index Name") for n in nodes(plan)}, plan
            assert _no_seq_scan(plan, "help_request"), plan
