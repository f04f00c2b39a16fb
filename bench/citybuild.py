"""Build a realistic city in a migrated PostgreSQL database with set-based SQL and COPY.

`build_city(url, requests, communities)` fills an empty, migrated Linli database: communities of
skewed sizes (the largest has about 3.5% of the requests), buildings and rooms, residents and
consents, several kiosks per community, teams, volunteers, agencies and merchants, two years
of requests walked through the lifecycle (events, deadlines met and missed, escalations,
duplicates, personal data purged after the retention period), service hours, passbook ledgers
with valid hash chains, the kiosks' applied operations and the change log kiosks pull, and the
daily roll-ups. Used by bench/city.py and by tests/system/test_city_plans.py.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psycopg

from server.demo_data import GIVEN, SURNAMES, WORDS
from server.health.counters import RECOUNT
from server.passbook.models import GENESIS
from server.passbook.services import entry_hash
from sync.statuses import SETTLED

SETTLED_SQL = ", ".join(f"'{status}'" for status in sorted(SETTLED))
"""The settled states, as an SQL list (change.settled_at)."""

BUILDINGS = 8
UNITS = 3
FLOORS = 6
ROOMS_PER_FLOOR = 2
ROOMS = BUILDINGS * UNITS * FLOORS * ROOMS_PER_FLOOR
"""Rooms per community (288)."""
RESIDENTS = ROOMS // 2
"""Residents per community: one in every other room."""
KIOSKS = 3
TEAMS = 3
VOLUNTEERS = 12
DAYS = 730
POINTS_PER_HOUR = 10
RETENTION_DAYS = 365
KIOSK_TOKEN = "city-kiosk-{id}"  # noqa: S105 (the benchmark's known kiosk tokens, not a secret)
"""The bearer token of kiosk `id` in a built city."""

CATEGORY_WEIGHTS = {
    "electrical": 15,
    "plumbing": 15,
    "appliance": 12,
    "health": 12,
    "meals": 12,
    "company": 8,
    "errands": 14,
    "emergency": 2,
    "other": 10,
}
TEAM_OF_CATEGORY = {
    "electrical": 1,
    "plumbing": 1,
    "appliance": 1,
    "errands": 2,
    "meals": 2,
    "other": 2,
    "health": 3,
    "company": 3,
    "emergency": 3,
}
TEAM_NAMES = [("小蜜蜂维修队", ["electrical", "plumbing", "appliance"]),
              ("帮帮团", ["errands", "meals", "other"]),
              ("健康使者团", ["health", "company", "emergency"])]  # fmt: skip
# Status mix by age band: the last day, the last two weeks, older (mostly finished, a few stuck).
STATUS_MIX = {
    "new": [("received", 35), ("triaged", 15), ("dispatched", 15), ("accepted", 10),
            ("on_site", 10), ("completed", 10), ("escalated", 5)],
    "recent": [("received", 3), ("triaged", 5), ("dispatched", 5), ("accepted", 4),
               ("on_site", 3), ("completed", 8), ("followed_up", 7), ("escalated", 3),
               ("external_feedback", 2), ("reopened", 1), ("closed_fixed", 45),
               ("closed_not_fixed", 6), ("cancelled", 6), ("duplicate", 2)],
    "old": [("received", 0.2), ("triaged", 0.2), ("completed", 0.7), ("followed_up", 1.0),
            ("external_feedback", 0.4), ("closed_fixed", 76.5), ("closed_not_fixed", 9),
            ("cancelled", 9), ("duplicate", 3)],
}  # fmt: skip
REPAIR_PATH = ["received", "triaged", "dispatched", "accepted", "on_site", "completed"]
PATHS = {
    "received": ["received"],
    "triaged": ["received", "triaged"],
    "dispatched": REPAIR_PATH[:3],
    "accepted": REPAIR_PATH[:4],
    "on_site": REPAIR_PATH[:5],
    "completed": REPAIR_PATH,
    "followed_up": [*REPAIR_PATH, "followed_up"],
    "closed_fixed": [*REPAIR_PATH, "followed_up", "closed_fixed"],
    "closed_not_fixed": [*REPAIR_PATH, "followed_up", "closed_not_fixed"],
    "escalated": ["received", "triaged", "escalated"],
    "external_feedback": ["received", "triaged", "escalated", "external_feedback"],
    "cancelled": ["received", "cancelled"],
    "duplicate": ["received", "triaged", "duplicate"],
    "reopened": [*REPAIR_PATH, "followed_up", "closed_not_fixed", "reopened"],
}
"""The events a request in each status went through, in order."""
DONE = ("completed", "followed_up", "closed_fixed", "closed_not_fixed", "reopened")
FINAL = ("closed_fixed", "closed_not_fixed", "cancelled", "duplicate")
SEQUENCED = [
    "community", "building", "room", "resident", "consent_record", "kiosk", "team", "volunteer",
    "agency", "merchant", "help_request", "request_event", "escalation", "service_record",
    "ledger_entry", "applied_op", "change", "daily_stat",
]  # fmt: skip


@dataclass
class CitySummary:
    """What a build made, and how long it took."""

    requests: int
    communities: int
    counts: dict[str, int]
    seconds: float
    largest_community_id: int = 1

    def line(self) -> str:
        """One line for the terminal."""
        parts = ", ".join(f"{n:,} {name}" for name, n in self.counts.items())
        return f"city: {self.communities} communities, {parts} in {self.seconds:.0f} s"


def conninfo(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _case(column: str, weights: list[tuple[str, float]]) -> str:
    """SQL picking a label by `column` (uniform in [0,1)) with the given weights."""
    total = sum(w for _, w in weights)
    acc = 0.0
    parts = []
    for label, weight in weights[:-1]:
        acc += weight / total
        parts.append(f"WHEN {column} < {acc:.6f} THEN '{label}'")
    return f"CASE {' '.join(parts)} ELSE '{weights[-1][0]}' END"


def _array(items: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + i.replace("'", "''") + "'" for i in items) + "]"


class _Builder:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        requests: int,
        communities: int,
        say: Callable[[str], None],
    ) -> None:
        self.conn = conn
        self.n = requests
        self.c = communities
        self.say = say
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.ts = f"'{self.now.isoformat()}'::timestamptz"

    @staticmethod
    def array(values: list[float]) -> str:
        return "ARRAY[" + ",".join(f"{v:.9f}" for v in values) + "]::float8[]"

    def run(self, label: str, sql: str) -> None:
        started = time.perf_counter()
        with self.conn.cursor() as cur:
            cur.execute(sql.encode())
            rows = cur.rowcount
        self.say(f"  {label}: {rows:,} rows in {time.perf_counter() - started:.1f} s")

    def places(self) -> None:
        c, b, r = self.c, BUILDINGS, ROOMS
        per_building = r // b
        self.run("communities", f"""
            INSERT INTO community (id, slug, name, phone, created_at)
            SELECT g, 'c' || lpad(g::text, 3, '0'), '城区第' || g || '社区',
                   '010-6' || lpad(g::text, 7, '0'), {self.ts} - interval '800 days'
            FROM generate_series(1, {c}) g""")  # fmt: skip
        self.run("buildings", f"""
            INSERT INTO building (id, community_id, code)
            SELECT (c - 1) * {b} + k, c, k::text
            FROM generate_series(1, {c}) c, generate_series(1, {b}) k""")  # fmt: skip
        self.run("rooms", f"""
            INSERT INTO room (id, community_id, building_id, unit, number, code)
            SELECT (c - 1) * {r} + k, c, (c - 1) * {b} + 1 + (k - 1) / {per_building},
                   u::text, n::text, (1 + (k - 1) / {per_building}) || '-' || u || '-' || n
            FROM generate_series(1, {c}) c, generate_series(1, {r}) k,
                 LATERAL (SELECT 1 + ((k - 1) % {per_building}) / {FLOORS * ROOMS_PER_FLOOR} AS u,
                   (1 + ((k - 1) % {FLOORS * ROOMS_PER_FLOOR}) / {ROOMS_PER_FLOOR}) * 100
                   + 1 + (k - 1) % {ROOMS_PER_FLOOR} AS n) x""")  # fmt: skip
        self.run("residents", f"""
            INSERT INTO resident (id, community_id, room_id, name, phone, birth_year,
                is_living_alone, mobility, emergency_contact_name, emergency_contact_phone,
                created_at, updated_at)
            SELECT (c - 1) * {RESIDENTS} + j, c, (c - 1) * {r} + 2 * j - 1,
                   substr('{SURNAMES}', 1 + (random() * 19)::int, 1)
                     || ({_array(GIVEN)})[1 + (random() * 11)::int],
                   '13' || lpad((random() * 999999999)::bigint::text, 9, '0'),
                   1930 + (random() * 30)::int, random() < 0.4,
                   (ARRAY['independent','independent','walking_aid','wheelchair','bedridden'])
                     [1 + (random() * 4)::int],
                   substr('{SURNAMES}', 1 + (random() * 19)::int, 1) || '女士',
                   '13' || lpad((random() * 999999999)::bigint::text, 9, '0'),
                   {self.ts} - interval '700 days' * random(), {self.ts}
            FROM generate_series(1, {c}) c, generate_series(1, {RESIDENTS}) j""")  # fmt: skip
        self.run("consents", """
            INSERT INTO consent_record (resident_id, kind, version, given_at, recorded_by)
            SELECT id, 'health', 'health-consent-v1', created_at, 'city'
            FROM resident WHERE random() < 0.4""")  # fmt: skip
        self.run("kiosks", f"""
            INSERT INTO kiosk (id, community_id, name, ticket_prefix, token_hash, enrolled_at,
                last_seq, last_seen_at, duplicates, created_at)
            SELECT (c - 1) * {KIOSKS} + k, c, 'c' || lpad(c::text, 3, '0') || '-kiosk-' || k,
                   chr(64 + k), encode(sha256(convert_to(
                     replace('{KIOSK_TOKEN}', '{{id}}', ((c - 1) * {KIOSKS} + k)::text), 'UTF8')),
                     'hex'),
                   {self.ts} - interval '730 days', 0, {self.ts}, 0,
                   {self.ts} - interval '731 days'
            FROM generate_series(1, {c}) c, generate_series(1, {KIOSKS}) k""")  # fmt: skip
        teams = " UNION ALL ".join(
            f"SELECT {i + 1} AS t, '{name}' AS name, '{json.dumps(codes)}'::json AS codes"
            for i, (name, codes) in enumerate(TEAM_NAMES)
        )
        self.run("teams", f"""
            INSERT INTO team (id, community_id, name, category_codes, is_active)
            SELECT (c - 1) * {TEAMS} + t.t, c, t.name, t.codes, true
            FROM generate_series(1, {c}) c, ({teams}) t""")  # fmt: skip
        self.run("volunteers", f"""
            INSERT INTO volunteer (id, community_id, name, phone, gender, birth_year, skills,
                availability, is_active, joined_on, created_at)
            SELECT (c - 1) * {VOLUNTEERS} + v, c,
                   substr('{SURNAMES}', 1 + (random() * 19)::int, 1)
                     || ({_array(GIVEN)})[1 + (random() * 11)::int],
                   '139' || lpad(((c - 1) * {VOLUNTEERS} + v)::text, 8, '0'),
                   (ARRAY['female','male'])[1 + (v % 2)], 1950 + (random() * 50)::int,
                   '["水电维修"]'::json, '周末', true, ({self.ts}::date - 720),
                   {self.ts} - interval '720 days'
            FROM generate_series(1, {c}) c, generate_series(1, {VOLUNTEERS}) v""")  # fmt: skip
        self.run("team members", f"""
            INSERT INTO team_member (team_id, volunteer_id, is_lead, joined_at)
            SELECT (c - 1) * {TEAMS} + 1 + (v - 1) % {TEAMS}, (c - 1) * {VOLUNTEERS} + v,
                   v <= {TEAMS}, {self.ts} - interval '720 days'
            FROM generate_series(1, {c}) c, generate_series(1, {VOLUNTEERS}) v""")  # fmt: skip
        self.run("agencies and merchants", f"""
            WITH a AS (
              INSERT INTO agency (id, community_id, name, kind, endpoint_url)
              SELECT g, g, '区供电所', 'department', 'http://127.0.0.1:9/city-agency'
              FROM generate_series(1, {c}) g RETURNING id)
            INSERT INTO merchant (id, community_id, name, address, key_hash, is_active, created_at)
            SELECT id, id, '便民超市' || id, '社区东门',
                   encode(sha256(convert_to('city-merchant-' || id, 'UTF8')), 'hex'), true,
                   {self.ts} - interval '720 days'
            FROM a""")  # fmt: skip

    def requests(self) -> None:
        categories = dict(
            self.conn.execute("SELECT code, id FROM category").fetchall()  # type: ignore[arg-type]
        )
        deadlines = dict(
            self.conn.execute(  # type: ignore[arg-type]
                "SELECT id, coalesce(deadline_minutes, 2880) FROM category"
            ).fetchall()
        )
        weights = [(str(categories[code]), w) for code, w in CATEGORY_WEIGHTS.items()]
        weight = [1 / math.sqrt(i + 1) for i in range(self.c)]
        total = sum(weight)
        thresholds, acc = [], 0.0
        for w in weight[:-1]:
            acc += w / total
            thresholds.append(acc)
        words = " ".join(
            f"WHEN {categories[code]} THEN "
            f"({_array(texts)})[1 + floor(b.r_words * {len(texts)})::int]"
            for code, texts in WORDS.items()
        )
        deadline = " ".join(f"WHEN {cid} THEN {m}" for cid, m in deadlines.items())
        team = " ".join(f"WHEN {categories[code]} THEN {t}" for code, t in TEAM_OF_CATEGORY.items())
        urgent = categories["emergency"]
        status_sql = (
            f"CASE WHEN b.age < 1 THEN {_case('b.r_status', STATUS_MIX['new'])} "
            f"WHEN b.age < 14 THEN {_case('b.r_status', STATUS_MIX['recent'])} "
            f"ELSE {_case('b.r_status', STATUS_MIX['old'])} END"
        )
        started = time.perf_counter()
        self.conn.execute(f"""
            CREATE TEMP TABLE city_req AS
            SELECT b.*, {status_sql} AS status,
                   CASE b.category_id {deadline} END AS deadline,
                   CASE b.category_id {team} END AS team_no,
                   CASE b.category_id {words} END AS words
            FROM (
              SELECT g AS id, x.cid, x.age,
                     {self.ts} - interval '1 day' * x.age AS received_at,
                     ({_case('random()', weights)})::int AS category_id,
                     random() AS r_status, random() AS r_room, random() AS r_kiosk,
                     random() AS r_res, random() AS r_words, random() AS r_arrive,
                     random() AS r_close, random() AS r_misc
              FROM generate_series(1, {self.n}) g,
                   LATERAL (SELECT width_bucket(random(), {self.array(thresholds)}) + 1 AS cid,
                     greatest({DAYS} * (1 - g::float8 / {self.n}) - random() / 1440, 0.0001)
                       AS age) x
            ) b""")  # type: ignore[call-overload]  # fmt: skip
        self.say(f"  request plan: {self.n:,} rows in {time.perf_counter() - started:.1f} s")
        self.run("requests", f"""
            INSERT INTO help_request (id, client_id, community_id, kiosk_id, category_id, room_id,
                ticket, phone, details, is_on_behalf, consent_version, status, is_urgent,
                is_cancel_requested, public_note, device_created_at, received_at, updated_at,
                priority, team_id, volunteers, resident_id, hours, outcome, satisfaction,
                arrived_at, closed_at, overdue_marked_at, personal_data_purged_at)
            SELECT r.id, gen_random_uuid(), r.cid, r.kiosk_id, r.category_id,
                   CASE WHEN r.resident_no IS NULL
                        THEN (r.cid - 1) * {ROOMS} + 1 + floor(r.r_room * {ROOMS})::int
                        ELSE (r.cid - 1) * {ROOMS} + 2 * r.resident_no - 1 END,
                   CASE WHEN r.kiosk_id IS NULL THEN 'P-'
                        ELSE chr(64 + 1 + (r.kiosk_id - 1) % {KIOSKS}) || '-' END
                     || lpad((r.id % 10000)::text, 4, '0'),
                   CASE WHEN r.purged THEN NULL
                        ELSE '13' || lpad((r.r_misc * 999999999)::bigint::text, 9, '0') END,
                   CASE WHEN r.purged THEN NULL ELSE r.words END,
                   r.r_misc < 0.2, CASE WHEN r.kiosk_id IS NULL THEN NULL ELSE 'v1' END,
                   r.status, r.category_id = {urgent},
                   r.status NOT IN {FINAL} AND r.r_close < 0.01,
                   CASE WHEN r.status IN ('completed', 'followed_up', 'closed_fixed')
                        AND r.r_close < 0.3 THEN '师傅已经修好了' END,
                   r.received_at - interval '3 seconds', r.received_at, r.updated_at,
                   CASE WHEN r.category_id = {urgent} THEN 'emergency'
                        WHEN r.r_misc > 0.92 THEN 'high' ELSE 'normal' END,
                   CASE WHEN r.status NOT IN ('received', 'triaged', 'cancelled')
                        THEN (r.cid - 1) * {TEAMS} + r.team_no END,
                   CASE WHEN r.status IN {DONE} THEN '王师傅' END,
                   (r.cid - 1) * {RESIDENTS} + r.resident_no,
                   CASE WHEN r.status IN {DONE} THEN round((0.5 + r.r_close * 2.5)::numeric, 1) END,
                   CASE WHEN r.status IN ('closed_fixed', 'reopened') THEN 'fixed'
                        WHEN r.status = 'closed_not_fixed' THEN 'not_fixed' END,
                   CASE WHEN r.status IN ('followed_up', 'closed_fixed', 'closed_not_fixed')
                        THEN 3 + floor(r.r_close * 3)::int END,
                   r.arrived_at, r.closed_at,
                   CASE WHEN r.arrived_at > r.received_at + interval '1 minute' * r.deadline
                          OR (r.arrived_at IS NULL AND r.status NOT IN {FINAL}
                              AND r.age > 1 AND r.age * 1440 > r.deadline)
                        THEN least(r.received_at + interval '1 minute' * r.deadline
                                   + interval '1 day', {self.ts}) END,
                   CASE WHEN r.purged THEN r.closed_at + interval '{RETENTION_DAYS + 1} days' END
            FROM (
              SELECT q.*, t.arrived_at, u.closed_at,
                     coalesce(u.closed_at, greatest(q.received_at, t.arrived_at,
                       q.received_at + interval '1 minute' * q.r_close * least(q.age * 1440, 4000)))
                       AS updated_at,
                     u.closed_at < {self.ts} - interval '{RETENTION_DAYS} days'
                       AND q.status IN {FINAL} AS purged,
                     CASE WHEN q.r_kiosk < 0.85
                          THEN (q.cid - 1) * {KIOSKS} + 1 + floor(q.r_kiosk / 0.85 * {KIOSKS})::int
                     END AS kiosk_id,
                     CASE WHEN q.r_res < 0.5 THEN 1 + floor(q.r_res * 2 * {RESIDENTS})::int END
                       AS resident_no
              FROM city_req q,
                   LATERAL (SELECT
                     CASE WHEN q.status IN ('on_site', {str(DONE)[1:-1]})
                          THEN least(q.received_at + interval '1 minute' * q.deadline
                                     * (0.2 + q.r_arrive * 1.1),
                                     {self.ts} - interval '2 minutes') END AS arrived_at
                   ) t,
                   LATERAL (SELECT
                     CASE WHEN q.status IN {FINAL}
                          THEN least(coalesce(t.arrived_at, q.received_at)
                                     + interval '1 hour' * (2 + q.r_close * 70),
                                     {self.ts} - interval '1 second') END AS closed_at
                   ) u
            ) r""")  # fmt: skip
        self.conn.execute("DROP TABLE city_req")
        self.run("duplicates", """
            UPDATE help_request h SET duplicate_of_id = p.prev
            FROM (SELECT id, lag(id) OVER (PARTITION BY community_id ORDER BY id) AS prev
                  FROM help_request) p
            WHERE h.id = p.id AND h.status = 'duplicate' AND p.prev IS NOT NULL""")  # fmt: skip
        path_rows = ", ".join(
            f"('{status}', {i + 1}, '{step}', {len(path)}, "
            f"{path.index('on_site') + 1 if 'on_site' in path else len(path)})"
            for status, path in PATHS.items()
            for i, step in enumerate(path)
        )
        self.run("events", f"""
            INSERT INTO request_event (request_id, at, actor, from_status, to_status, note, kind)
            SELECT h.id,
                   CASE WHEN p.n = 1 THEN h.received_at
                        WHEN p.ord <= p.s THEN h.received_at
                          + (coalesce(h.arrived_at, h.updated_at) - h.received_at)
                            * ((p.ord - 1)::float8 / greatest(p.s - 1, 1))
                        ELSE coalesce(h.arrived_at, h.received_at)
                          + (h.updated_at - coalesce(h.arrived_at, h.received_at))
                            * ((p.ord - p.s)::float8 / greatest(p.n - p.s, 1)) END,
                   CASE WHEN p.ord > 1 THEN '社工' || chr(19968 + h.community_id)
                        WHEN h.kiosk_id IS NULL THEN '社工' ELSE 'kiosk' END,
                   p.prev, p.step,
                   CASE p.step WHEN 'cancelled' THEN '居民来电取消'
                     WHEN 'duplicate' THEN '与上一条重复'
                     WHEN 'closed_not_fixed' THEN '需要更换配件'
                   END,
                   'status'
            FROM help_request h
            JOIN (SELECT status, ord, step, n, s,
                         lag(step) OVER (PARTITION BY status ORDER BY ord) AS prev
                  FROM (VALUES {path_rows}) v(status, ord, step, n, s)) p
              ON p.status = h.status""")  # fmt: skip
        self.run("notes", """
            INSERT INTO request_event (request_id, at, actor, note, kind)
            SELECT id, received_at + interval '10 minutes', '社工',
                   '已电话联系居民，约好上门时间', 'note'
            FROM help_request WHERE id % 5 = 0""")  # fmt: skip
        self.run("escalations", """
            INSERT INTO escalation (request_id, agency_id, delivery_status, attempts, last_error,
                delivered_at, payload, created_at)
            SELECT id, community_id,
                   CASE WHEN status = 'external_feedback' OR id % 7 <> 0 THEN 'delivered'
                        ELSE 'failed' END,
                   CASE WHEN status = 'external_feedback' OR id % 7 <> 0 THEN 1 ELSE 3 END,
                   CASE WHEN status <> 'external_feedback' AND id % 7 = 0
                        THEN 'connection refused' END,
                   CASE WHEN status = 'external_feedback' OR id % 7 <> 0
                        THEN received_at + interval '2 hours' END,
                   json_build_object('request', id), received_at + interval '1 hour'
            FROM help_request WHERE status IN ('escalated', 'external_feedback')""")  # fmt: skip

    def hours(self) -> None:
        self.run("service records", f"""
            INSERT INTO service_record (community_id, volunteer_id, team_id, request_id, source,
                content, started_at, ended_at, minutes, status, is_auto_closed, recorded_by,
                decided_by, decided_at, created_at)
            SELECT h.community_id,
                   (h.community_id - 1) * {VOLUNTEERS}
                     + (h.team_id - 1) % {TEAMS} + 1 + {TEAMS} * (h.id % {VOLUNTEERS // TEAMS}),
                   h.team_id, h.id, CASE WHEN h.id % 10 = 0 THEN 'manual' ELSE 'recorded' END,
                   c.name_zh || '：上门服务', h.arrived_at,
                   h.arrived_at + interval '1 minute' * (30 + h.id % 150), 30 + h.id % 150,
                   CASE WHEN h.arrived_at > {self.ts} - interval '3 days' THEN 'pending'
                        WHEN h.id % 20 = 0 THEN 'declined' ELSE 'approved' END,
                   false, '社工',
                   CASE WHEN h.arrived_at <= {self.ts} - interval '3 days' THEN '社工' END,
                   CASE WHEN h.arrived_at <= {self.ts} - interval '3 days'
                        THEN h.arrived_at + interval '1 day' + interval '1 second' * (h.id % 3600)
                   END,
                   h.arrived_at
            FROM help_request h JOIN category c ON c.id = h.category_id
            WHERE h.status IN {DONE} AND h.team_id IS NOT NULL AND h.id % 10 < 7""")  # fmt: skip

    def passbook(self) -> None:
        started = time.perf_counter()
        accounts: dict[int, SimpleNamespace] = {}
        records = self.conn.execute(
            "SELECT id, volunteer_id, minutes, source, content, decided_at FROM service_record "
            "WHERE status = 'approved' ORDER BY volunteer_id, decided_at, id"
        ).fetchall()
        written = 0
        with self.conn.cursor() as cur:
            with cur.copy(
                "COPY ledger_entry (volunteer_id, seq, posting_key, kind, points, balance_after, "
                "reason, service_record_id, merchant_id, actor, at, prev_hash, hash) FROM STDIN"
            ) as copy:
                for rid, vid, minutes, source, content, decided_at in records:
                    acct = accounts.get(vid)
                    if acct is None:
                        acct = accounts[vid] = SimpleNamespace(
                            balance=0, entries=0, head=GENESIS, at=None
                        )
                    h, m = divmod(minutes, 60)
                    manual = " (added by hand)" if source == "manual" else ""
                    postings = [
                        ("hours", minutes * POINTS_PER_HOUR // 60, f"hours:{rid}", decided_at,
                         rid, f"{h} h {m:02d} min × {POINTS_PER_HOUR} points/h{manual}: {content}")
                    ]  # fmt: skip
                    if acct.entries % 8 == 7 and acct.balance >= 40:
                        postings.append(
                            ("redemption", -30, f"redeem:city:{vid}:{acct.entries}",
                             decided_at + timedelta(hours=1), None, "兑换：大米一袋")
                        )  # fmt: skip
                    for kind, points, key, at, record_id, reason in postings:
                        e = self._entry(acct, vid, kind, points, key, at, record_id, reason)
                        copy.write_row(
                            (e.volunteer_id, e.seq, e.posting_key, e.kind, e.points,
                             e.balance_after, e.reason, e.service_record_id, e.merchant_id,
                             e.actor, e.at, e.prev_hash, e.hash)
                        )  # fmt: skip
                        written += 1
            with cur.copy(
                "COPY passbook_account (volunteer_id, balance, entries, head_hash, updated_at) "
                "FROM STDIN"
            ) as copy:
                for vid, acct in accounts.items():
                    copy.write_row((vid, acct.balance, acct.entries, acct.head, acct.at))
        self.say(
            f"  passbook: {written:,} chained entries, {len(accounts):,} accounts "
            f"in {time.perf_counter() - started:.1f} s"
        )

    def _entry(
        self,
        acct: SimpleNamespace,
        vid: int,
        kind: str,
        points: int,
        key: str,
        at: datetime,
        record_id: int | None,
        reason: str,
    ) -> SimpleNamespace:
        merchant_id = (vid - 1) // VOLUNTEERS + 1 if kind == "redemption" else None
        entry = SimpleNamespace(
            volunteer_id=vid, seq=acct.entries + 1, posting_key=key, kind=kind, points=points,
            balance_after=acct.balance + points, reason=reason[:300], service_record_id=record_id,
            merchant_id=merchant_id, actor="社工", at=at, prev_hash=acct.head,
        )  # fmt: skip
        entry.hash = entry_hash(entry)  # type: ignore[arg-type]
        acct.balance, acct.entries, acct.head, acct.at = (
            entry.balance_after,
            entry.seq,
            entry.hash,
            at,
        )
        return entry

    def sync_log(self) -> None:
        self.run("applied ops", """
            INSERT INTO applied_op (op_id, kiosk_id, seq, type, digest, status, result, device_at,
                applied_at)
            SELECT client_id, kiosk_id, row_number() OVER (PARTITION BY kiosk_id ORDER BY id),
                   'request.create', md5(client_id::text) || md5(id::text), 'applied',
                   '{"status": "received"}'::json, device_created_at, received_at
            FROM help_request WHERE kiosk_id IS NOT NULL""")  # fmt: skip
        self.run("kiosk positions", """
            UPDATE kiosk k SET last_seq = s.last
            FROM (SELECT kiosk_id, max(seq) AS last FROM applied_op GROUP BY kiosk_id) s
            WHERE k.id = s.kiosk_id""")  # fmt: skip
        base = self.conn.execute("SELECT coalesce(max(seq), 0) FROM change").fetchone()
        start = int(base[0]) if base else 0
        self.run("change log", f"""
            INSERT INTO change (seq, entity, key, community_id, kiosk_id, data, changed_at,
                                settled_at)
            SELECT {start} + row_number() OVER (ORDER BY o, t, id), entity, key, community_id,
                   kiosk_id, data, t, CASE WHEN entity = 'request' AND data ->> 'status'
                                      IN ({SETTLED_SQL})
                                      THEN t END
            FROM (
              SELECT 0 AS o, id, created_at AS t, 'community' AS entity, slug AS key,
                     id AS community_id, NULL::int AS kiosk_id,
                     json_build_object('slug', slug, 'name', name, 'phone', phone) AS data
              FROM community
              UNION ALL
              SELECT 1, r.id, c.created_at, 'room', r.community_id || ':' || r.code, r.community_id,
                     NULL, json_build_object('code', r.code, 'building', b.code, 'unit', r.unit,
                                             'room', r.number)
              FROM room r JOIN building b ON b.id = r.building_id
                          JOIN community c ON c.id = r.community_id
              UNION ALL
              SELECT 2, id, updated_at, 'request', client_id::text, community_id, kiosk_id,
                     json_build_object('status', status, 'note', public_note,
                                       'cancel_requested', is_cancel_requested,
                                       'updated_at', to_char(updated_at AT TIME ZONE 'UTC',
                                                             'YYYY-MM-DD"T"HH24:MI:SS.US+00:00'))
              FROM help_request WHERE kiosk_id IS NOT NULL
            ) x""")  # fmt: skip
        self.run(
            "sync counter", "UPDATE sync_state SET last_change_seq = (SELECT max(seq) FROM change)"
        )

    def milestones(self) -> None:
        # The bulk load runs without triggers: fill in what request_event_milestones keeps.
        self.run("request milestones", """
            UPDATE help_request h SET acknowledged_at = m.ack, first_dispatched_at = m.dispatched,
                   first_completed_at = m.completed, first_closed_at = m.closed
            FROM (SELECT request_id,
                         min(at) FILTER (WHERE from_status IS NOT NULL) AS ack,
                         min(at) FILTER (WHERE to_status = 'dispatched') AS dispatched,
                         min(at) FILTER (WHERE to_status = 'completed') AS completed,
                         min(at) FILTER (WHERE to_status IN ('closed_fixed', 'closed_not_fixed'))
                             AS closed
                  FROM request_event WHERE kind = 'status' GROUP BY request_id) m
            WHERE h.id = m.request_id""")  # fmt: skip

    def rollups(self) -> None:
        self.run("daily statistics", """
            INSERT INTO daily_stat (day, community_id, category, received, urgent, completed,
                closed, cancelled)
            SELECT day, community_id, code, sum(received), sum(urgent), sum(completed),
                   sum(closed), sum(cancelled)
            FROM (
              SELECT (h.received_at AT TIME ZONE 'Asia/Shanghai')::date AS day, h.community_id,
                     c.code, 1 AS received, h.is_urgent::int AS urgent, 0 AS completed,
                     0 AS closed, 0 AS cancelled
              FROM help_request h JOIN category c ON c.id = h.category_id
              UNION ALL
              SELECT (e.at AT TIME ZONE 'Asia/Shanghai')::date, h.community_id, c.code, 0, 0,
                     (e.to_status = 'completed')::int,
                     (e.to_status IN ('closed_fixed', 'closed_not_fixed'))::int,
                     (e.to_status = 'cancelled')::int
              FROM request_event e JOIN help_request h ON h.id = e.request_id
                   JOIN category c ON c.id = h.category_id
              WHERE e.to_status IN ('completed', 'closed_fixed', 'closed_not_fixed', 'cancelled')
            ) x
            WHERE day < (now() AT TIME ZONE 'Asia/Shanghai')::date
            GROUP BY day, community_id, code""")  # fmt: skip

    def counters(self) -> None:
        # The bulk load runs without triggers: fill in what the metric_count triggers keep.
        self.conn.execute("DELETE FROM metric_count")
        for name, sql in RECOUNT.items():
            self.run(f"{name} counters", f"""
                INSERT INTO metric_count (name, community_id, label, value)
                SELECT '{name}', * FROM ({sql}) t""")  # fmt: skip

    def finish(self) -> dict[str, int]:
        counts = {}
        for table in SEQUENCED:
            self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"greatest((SELECT max(id) FROM {table}), 1))"
            )
        for table in ("help_request", "request_event", "service_record", "ledger_entry",
                      "change", "resident", "kiosk"):  # fmt: skip
            row = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts


def build_city(
    url: str,
    requests: int,
    communities: int = 200,
    say: Callable[[str], None] = print,
) -> CitySummary:
    """Fill the empty, migrated database at `url` with a city, in one transaction."""
    started = time.perf_counter()
    with psycopg.connect(conninfo(url)) as conn:
        # Bulk load: no per-row triggers (NOTIFY, append-only guards) nor foreign-key checks; the
        # builder writes consistent ids itself.
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '256MB'")
        builder = _Builder(conn, requests, communities, say)
        builder.places()
        builder.requests()
        builder.milestones()
        builder.hours()
        builder.passbook()
        builder.sync_log()
        builder.rollups()
        builder.counters()
        counts = builder.finish()
        conn.execute("SET session_replication_role = origin")
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        step = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        say(f"  vacuum and analyze in {time.perf_counter() - step:.1f} s")
    return CitySummary(requests, communities, counts, time.perf_counter() - started)
