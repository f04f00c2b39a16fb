"""Benchmark: a whole city on one PostgreSQL, every console page, API and kiosk sync endpoint.

Builds two cities (a small comparison size and the full size) with bench/citybuild.py, serves
each with gunicorn and deploy/gunicorn.conf.py on loopback, and prints p50 / p95 of every page
side by side, as an admin of all communities and as the social worker of the largest one, then
the kiosk sync figures and the nightly, passbook verify and backup commands.

    nice -n 19 .venv/bin/python -m bench.city --database linli_city \\
        [--requests 1000000] [--small 10000] [--communities 200] [--tries 20] [--reuse]

The large city lives in database NAME and the small one in NAME_small, on the PostgreSQL server
of LINLI_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
`--reuse` keeps a city already built with the same sizes (only `db upgrade` runs), so the same
data can be measured before and after a change. `--jit off` runs the server with PostgreSQL's JIT
off (PGOPTIONS) to compare.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

from bench.citybuild import KIOSK_TOKEN, build_city, conninfo
from kiosk.store import Store
from sync.client import SyncEngine
from sync.messages import PROTOCOL_HEADER, SUPPORTED_PROTOCOLS

ROOT = Path(__file__).resolve().parent.parent
LINLI = str(Path(sys.executable).parent / "linli")
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
ADMIN_URL = os.environ.get(
    "LINLI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "city-bench-password"  # noqa: S105 (the benchmark's own users, on loopback)
QUEUE_PAGE = 50
PUSH_OPS = 500
STATEMENT_TIMEOUT = 60
"""Seconds a statement of the measured server may run (a page past it is reported, not timed)."""


def _url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(name: str, folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LINLI_DATABASE_URL": _url(name),
        "LINLI_INSTANCE_DIR": str(folder),
        "LINLI_BACKUP_DIR": str(folder / "backups"),
        "LINLI_SECRET_KEY": "city-bench",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_COOKIE_SECURE": "0",
        "LINLI_LOGIN_RATE_LIMIT": "1000 per minute",
        "PYTHONPATH": str(ROOT),
    }


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [LINLI, "server", *args], env=env, check=True, capture_output=True, text=True, input=stdin
    )
    return out.stdout.strip()


def _admin(sql: str) -> None:
    with psycopg.connect(conninfo(ADMIN_URL), autocommit=True) as conn:
        conn.execute(sql.encode())


def _marker(requests_n: int, communities: int) -> str:
    return f"linli city: requests={requests_n} communities={communities}"


def _existing_marker(name: str) -> str | None:
    with psycopg.connect(conninfo(ADMIN_URL)) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return None if row is None else (row[0] or "")


def ensure_city(name: str, n: int, communities: int, reuse: bool, folder: Path) -> None:
    """Build the city in database `name`, or keep it when `reuse` and it has the same sizes."""
    env = _env(name, folder)
    if reuse and _existing_marker(name) == _marker(n, communities):
        print(f"{name}: reusing the city of {n:,} requests; upgrading its schema")
        _cli(env, "db", "upgrade")
        return
    print(f"{name}: building a city of {n:,} requests in {communities} communities")
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    _cli(env, "db", "upgrade")
    summary = build_city(_url(name), n, communities)
    slugs = [f"--community=c{i:03d}" for i in range(1, communities + 1)]
    _cli(env, "user", "create", "--username", "city_admin", "--role", "admin", *slugs,
         stdin=PASSWORD + "\n")  # fmt: skip
    _cli(env, "user", "create", "--username", "city_sw", "--role", "social_worker",
         "--community", "c001", stdin=PASSWORD + "\n")  # fmt: skip
    _admin(f"COMMENT ON DATABASE \"{name}\" IS '{_marker(n, communities)}'")
    print(summary.line())


@contextmanager
def gunicorn(name: str, folder: Path, workers: int, jit: str) -> Iterator[str]:
    """gunicorn with deploy/gunicorn.conf.py serving database `name` on a loopback port; its
    statements are cancelled after STATEMENT_TIMEOUT seconds, so a collapsed plan shows as a
    failed page instead of stalling the run."""
    port = _free_port()
    env = {**_env(name, folder), "WEB_CONCURRENCY": str(workers)}
    options = [f"-c statement_timeout={STATEMENT_TIMEOUT}s"]
    if jit == "off":
        options.append("-c jit=off")
    env["PGOPTIONS"] = " ".join(options)
    log = open(folder / f"gunicorn-{name}.log", "ab")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [GUNICORN, "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "server:create_app()"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {folder}/gunicorn-{name}.log")
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _login(url: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url + "/login", timeout=60).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the sign-in page"
    answer = session.post(
        url + "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": match.group(1)},
        allow_redirects=False,
        timeout=60,
    )
    assert answer.status_code == 303, f"sign-in as {username} failed: {answer.status_code}"
    return session


@dataclass
class Timing:
    """p50 / p95 of one page over its tries, and its size."""

    p50: float
    p95: float
    size: int
    failed: str = ""

    def cell(self) -> str:
        """The table cell."""
        if self.failed:
            return self.failed
        return f"{self.p50 * 1000:,.0f} / {self.p95 * 1000:,.0f} ms"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))]


def measure(get: Callable[[], requests.Response], tries: int, warmup: int = 2) -> Timing:
    """Time `get` `tries` times after `warmup` untimed calls; a page that answers an error
    (e.g. its statement passed the timeout) is reported with its status and not tried again (a
    redirect, such as the console home's to the user's first page, is an answer)."""
    size = 0
    walls = []
    for n in range(warmup + tries):
        started = time.perf_counter()
        answer = get()
        size = len(answer.content)
        wall = time.perf_counter() - started
        if answer.status_code >= 400:
            return Timing(0, 0, size, f"HTTP {answer.status_code} after {wall:,.0f} s")
        if n >= warmup:
            walls.append(wall)
    return Timing(statistics.median(walls), _percentile(walls, 0.95), size)


@dataclass
class Facts:
    """The ids and dates the pages are measured on."""

    largest: int
    request_id: int
    volunteer_id: int
    merchant_id: int
    resident_id: int
    today: str
    year_ago: str
    month_ago: str
    api_token: str = ""


def _facts(name: str) -> Facts:
    with psycopg.connect(conninfo(_url(name))) as conn:
        # The largest as built: without the requests earlier runs pushed through their own
        # kiosks (at 10k, 500 of them made a small community the largest).
        largest = conn.execute(
            "SELECT community_id FROM help_request WHERE kiosk_id IS NULL OR kiosk_id NOT IN "
            "(SELECT id FROM kiosk WHERE name LIKE 'bench-%%') "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        assert largest is not None
        request_id = conn.execute(
            "SELECT id FROM help_request WHERE community_id = %s "
            "ORDER BY status = 'received' DESC, id DESC LIMIT 1",
            largest,
        ).fetchone()
        volunteer = conn.execute(
            "SELECT volunteer_id FROM passbook_account a JOIN volunteer v ON v.id = a.volunteer_id"
            " WHERE v.community_id = %s ORDER BY entries DESC LIMIT 1",
            largest,
        ).fetchone()
        merchant = conn.execute(
            "SELECT min(id) FROM merchant WHERE community_id = %s", largest
        ).fetchone()
        resident = conn.execute(
            "SELECT min(id) FROM resident WHERE community_id = %s", largest
        ).fetchone()
    assert request_id is not None
    assert volunteer is not None
    assert merchant is not None
    assert merchant[0] is not None
    assert resident is not None
    assert resident[0] is not None
    today = datetime.now(UTC).date()
    return Facts(
        largest=int(largest[0]),
        request_id=int(request_id[0]),
        volunteer_id=int(volunteer[0]),
        merchant_id=int(merchant[0]),
        resident_id=int(resident[0]),
        today=str(today),
        year_ago=str(today - timedelta(days=365)),
        month_ago=str(today - timedelta(days=30)),
    )


def _page_50(session: requests.Session, url: str) -> str:
    """The queue's page-50 link, reached by following 'next page' like a user."""
    path = "/console/queue"
    for _ in range(QUEUE_PAGE - 1):
        page = session.get(url + path, timeout=600).text
        match = re.search(r'class="next" href="([^"]+)"', page)
        if match is None:
            break
        path = match.group(1).replace("&amp;", "&")
    return path


@dataclass
class Results:
    """Every figure of one city, by row label."""

    cells: dict[str, str] = field(default_factory=dict)


def bench_pages(url: str, facts: Facts, tries: int, out: Results, only: str) -> None:
    """Every console page, report, export and API, as admin and as social worker."""
    admin = _login(url, "city_admin")
    worker = _login(url, "city_sw")
    c = facts.largest
    year = f"start={facts.year_ago}&end={facts.today}"
    month = f"start={facts.month_ago}&end={facts.today}"
    api = {"Authorization": f"Bearer {facts.api_token}"}

    def run(label: str, session: requests.Session, path: str, **kw: object) -> None:
        timing = measure(
            lambda: session.get(url + path, timeout=600, allow_redirects=False, **kw), tries
        )
        out.cells[label] = timing.cell()
        print(f"    {label}: {timing.cell()} ({timing.size:,} bytes)", flush=True)

    deep = f'queue "needs action", page {QUEUE_PAGE} (admin)'
    page_50 = _page_50(admin, url) if re.search(only, deep) else ""
    plain = requests.Session()
    pages: list[tuple[str, requests.Session, str, dict[str, object]]] = [
        ('queue "needs action", all communities (admin)', admin, "/console/queue", {}),
        ("queue rows, the live refresh (admin)", admin, "/console/queue/rows", {}),
        (deep, admin, page_50, {}),
        ("queue, largest community's social worker", worker, "/console/queue", {}),
        ("queue rows, social worker", worker, "/console/queue/rows", {}),
        ("one request's page", admin, f"/console/requests/{facts.request_id}", {}),
        ("residents list (admin)", admin, "/console/residents", {}),
        ("residents list (social worker)", worker, "/console/residents", {}),
        ("report, one community, a year", admin, f"/reports/{c}?{year}", {}),
        ("report, one community, a month", admin, f"/reports/{c}?{month}", {}),
        ("needs map, a year", admin, f"/reports/{c}/needs-map?{year}", {}),
        ("weekly joint meeting sheet (admin)", admin, f"/reports/{c}/meeting", {}),
        ("weekly joint meeting sheet (social worker)", worker, f"/reports/{c}/meeting", {}),
        ("reports index (admin)", admin, "/reports/", {}),
        ("CSV export, requests of a year", admin, f"/reports/{c}/requests.csv?{year}", {}),
        ("CSV export, requests of a month", admin, f"/reports/{c}/requests.csv?{month}", {}),
        ("CSV export, hours of a year", admin, f"/reports/{c}/hours.csv?{year}", {}),
        ("CSV export, hours of a month", admin, f"/reports/{c}/hours.csv?{month}", {}),
        ("console home (admin)", admin, "/console/", {}),
        ("one request's work order", admin, f"/console/requests/{facts.request_id}/work-order", {}),
        ("jobs (admin)", admin, "/console/jobs", {}),
        ("kiosks (admin)", admin, "/console/kiosks", {}),
        ("users (admin)", admin, "/console/users", {}),
        ("one resident's page (admin)", admin, f"/console/residents/{facts.resident_id}", {}),
        ("volunteers (admin)", admin, "/volunteers/", {}),
        ("volunteers (social worker)", worker, "/volunteers/", {}),
        ("one volunteer's page", admin, f"/volunteers/{facts.volunteer_id}", {}),
        ("one volunteer's service record", admin, f"/volunteers/{facts.volunteer_id}/record", {}),
        ("teams (admin)", admin, "/volunteers/teams", {}),
        ("hours (admin)", admin, "/volunteers/hours", {}),
        ("hours (social worker)", worker, "/volunteers/hours", {}),
        ("passbook, busiest volunteer", admin, f"/passbook/{facts.volunteer_id}", {}),
        ("passbook merchants (admin)", admin, "/passbook/merchants", {}),
        ("passbook, one merchant", admin, f"/passbook/merchants/{facts.merchant_id}", {}),
        ("staff API, first page", plain, "/api/v1/requests", {"headers": api}),
        ("staff API, one community, a month", plain,
         f"/api/v1/requests?community=c{c:03d}&since={facts.month_ago}T00:00:00Z",
         {"headers": api}),
        ("staff API, rejected operations", plain, "/api/v1/rejections", {"headers": api}),
        ("Open311, requests", plain, f"/open311/v2/requests.json?api_key={facts.api_token}", {}),
        ("/metrics", plain, "/metrics", {}),
        ("/healthz", plain, "/healthz", {}),
    ]  # fmt: skip
    for label, session, path, kw in pages:
        if re.search(only, label):
            run(label, session, path, **kw)
    second = "hours (admin), awaiting approval, next page"
    if re.search(only, second):
        page = admin.get(url + "/volunteers/hours", timeout=600).text
        match = re.search(r'class="next" href="([^"]+)"', page)
        if match is not None:
            run(second, admin, match.group(1).replace("&amp;", "&"))
    delta = "queue rows, live refresh since the page's cursor (admin)"
    if re.search(only, delta):
        # Like the page: each refresh sends the cursor the previous answer gave.
        since = [admin.get(url + "/console/queue/rows", timeout=600).headers["X-Live-Cursor"]]

        def refresh() -> requests.Response:
            answer = admin.get(url + "/console/queue/rows", params={"since": since[0]}, timeout=600)
            since[0] = answer.headers.get("X-Live-Cursor", since[0])
            return answer

        timing = measure(refresh, tries)
        out.cells[delta] = timing.cell()
        print(f"    {delta}: {timing.cell()} ({timing.size:,} bytes)", flush=True)


def _pull_all(url: str, token: str) -> tuple[int, int, float]:
    """Pull from nothing to the end: changes, bytes on the wire, seconds."""
    headers = {
        "Authorization": f"Bearer {token}",
        PROTOCOL_HEADER: str(SUPPORTED_PROTOCOLS[1]),
        "Accept-Encoding": "gzip",
    }
    changes = wire = 0
    cursor = ""
    started = time.perf_counter()
    while True:
        answer = requests.get(
            f"{url}/api/sync/v1/pull", params={"cursor": cursor}, headers=headers, timeout=600
        )
        assert answer.status_code == 200, answer.text[:200]
        wire += int(answer.headers.get("Content-Length", len(answer.content)))
        body = answer.json()
        changes += len(body["changes"])
        cursor = body["cursor"]
        if not body["more"]:
            break
    return changes, wire, time.perf_counter() - started


def _new_kiosk(
    env: dict[str, str], url: str, folder: Path, community: str, name: str
) -> tuple[Store, SyncEngine]:
    """A kiosk enrolled in `community` (a slug) by the CLI's enrollment code, not yet synced."""
    code = _cli(env, "kiosk", "enroll", "--community", community, "--name", name)
    store = Store(folder / f"{name}.sqlite3")
    engine = SyncEngine(store)
    store.save_enrollment(url, engine.enroll(url, code.splitlines()[-1]))
    return store, engine


def bench_kiosk(url: str, name: str, facts: Facts, folder: Path, out: Results) -> None:
    """Pulls from nothing (an existing and a new kiosk of the largest community) and a push of
    500 operations (a new kiosk of the smallest community)."""
    with psycopg.connect(conninfo(_url(name))) as conn:
        row = conn.execute(
            "SELECT min(id) FROM kiosk WHERE community_id = %s AND token_hash IS NOT NULL "
            "AND name LIKE 'c%%-kiosk-%%'",
            (facts.largest,),
        ).fetchone()
    assert row is not None
    token = KIOSK_TOKEN.format(id=row[0])
    runs = [_pull_all(url, token) for _ in range(3)]
    changes, wire, _ = runs[-1]
    seconds = statistics.median(r[2] for r in runs)
    cell = f"{changes:,} changes, {wire / 1e3:,.0f} kB, {seconds:.2f} s"
    out.cells["kiosk pull from nothing (busiest community's kiosk)"] = cell
    print(f"    kiosk pull from nothing: {cell}", flush=True)

    env = _env(name, folder)
    kiosk_name = f"bench-{int(time.time())}"
    store, engine = _new_kiosk(env, url, folder, f"c{facts.largest:03d}", kiosk_name)
    engine.stats.requests = engine.stats.bytes_received = 0
    started = time.perf_counter()
    engine.sync_once()
    wall = time.perf_counter() - started
    cell = (
        f"{engine.stats.requests} calls, {engine.stats.bytes_received / 1e3:,.0f} kB, {wall:.2f} s"
    )
    out.cells["new kiosk's first sync (reference data and its requests)"] = cell
    print(f"    new kiosk's first sync: {cell}", flush=True)

    store.close()
    # The push goes to the community with the fewest requests, through a kiosk of its own:
    # its 500 new requests stay out of the largest community, whose pages every run measures
    # (with `--reuse`, pushing there made each run's queue 500 requests longer than the last).
    with psycopg.connect(conninfo(_url(name))) as conn:
        smallest = conn.execute(
            "SELECT c.slug FROM community c LEFT JOIN help_request r ON r.community_id = c.id "
            "GROUP BY c.id, c.slug ORDER BY count(r.id), c.id LIMIT 1"
        ).fetchone()
    assert smallest is not None
    store, engine = _new_kiosk(env, url, folder, smallest[0], f"{kiosk_name}-push")
    engine.sync_once()
    rooms = [r["code"] for r in store.rooms()]
    categories = [c["code"] for c in store.categories() if c["code"] != "emergency"]
    for i in range(PUSH_OPS):
        store.create_request(
            category=categories[i % len(categories)],
            room=rooms[i % len(rooms)],
            phone="1380000" + f"{i:04d}",
            details="客厅的灯不亮了" if i % 3 == 0 else None,
        )
    engine.stats.requests = 0
    started = time.perf_counter()
    engine.sync_once()
    wall = time.perf_counter() - started
    assert store.status()["queued"] == 0, "the pushed operations did not drain"
    cell = f"{engine.stats.requests} calls, {wall:.2f} s"
    out.cells[f"kiosk push of {PUSH_OPS} operations (smallest community)"] = cell
    print(f"    kiosk push of {PUSH_OPS} ops: {cell}", flush=True)
    store.close()


def bench_commands(name: str, folder: Path, out: Results, only: str) -> None:
    """Wall time of the nightly job, passbook verify and a backup."""
    env = _env(name, folder)
    for label, args in (
        ("linli server passbook verify", ("passbook", "verify")),
        ("linli server db backup", ("db", "backup")),
        ("linli server nightly", ("nightly",)),
    ):
        if not re.search(only, label):
            continue
        started = time.perf_counter()
        answer = subprocess.run(
            [LINLI, "server", *args], env=env, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - started
        status = "" if answer.returncode == 0 else f" (exit {answer.returncode})"
        out.cells[label] = f"{wall:,.1f} s{status}"
        print(f"    {label}: {wall:,.1f} s{status}", flush=True)
    shutil.rmtree(folder / "backups", ignore_errors=True)


def bench_city(name: str, args: argparse.Namespace, folder: Path) -> Results:
    """Every measurement of one city."""
    out = Results()
    folder.mkdir(parents=True, exist_ok=True)
    facts = _facts(name)
    env = _env(name, folder)
    facts.api_token = _cli(
        env, "api-token", "create", "--name", f"bench-{time.time_ns()}"
    ).splitlines()[-1]
    print(f"{name}: measuring (largest community {facts.largest}, {args.tries} tries a page)")
    with gunicorn(name, folder, args.workers, args.jit) as url:
        bench_pages(url, facts, args.tries, out, args.only)
        if re.search(args.only, "kiosk"):
            bench_kiosk(url, name, facts, folder, out)
    bench_commands(name, folder, out, args.only)
    return out


def _machine() -> str:
    with psycopg.connect(conninfo(ADMIN_URL)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        jit = conn.execute("SHOW jit").fetchone()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {memory:.0f} GB, Python "
        f"{platform.python_version()}, PostgreSQL {row[0] if row else '?'} "
        f"(jit {jit[0] if jit else '?'} on the server)"
    )


def main() -> None:
    """Build or reuse both cities, measure both, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="linli_city", help="Database of the large city.")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000, help="Requests of the small city.")
    parser.add_argument("--communities", type=int, default=200)
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--jit", choices=("server", "off"), default="server",
                        help="'off': the app's connections run with jit=off")  # fmt: skip
    parser.add_argument("--reuse", action="store_true", help="Keep cities already built.")
    parser.add_argument("--only", default="", help="Measure only the rows matching this regex.")
    args = parser.parse_args()
    cities = [(f"{args.database}_small", args.small), (args.database, args.requests)]
    folder = Path(tempfile.mkdtemp(prefix="linli-city-"))
    started = time.perf_counter()
    try:
        for name, n in cities:
            ensure_city(name, n, args.communities, args.reuse, folder)
        results = [bench_city(name, args, folder / name) for name, _ in cities]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    labels = list(dict.fromkeys(label for r in results for label in r.cells))
    if not labels:
        print(f"\nno row matches --only {args.only!r}; the cities are ready")
        return
    width = max(len(label) for label in labels)
    cols = [f"{n:,} requests" for _, n in cities]
    print()
    print(f"# city benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# {_machine()}")
    print(f"# {args.communities} communities, gunicorn {args.workers} workers, jit {args.jit}, "
          f"p50 / p95 of {args.tries} tries after 2 warm-ups")  # fmt: skip
    print(f"# command: python -m bench.city {' '.join(sys.argv[1:])}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# load average at the end (1, 5, 15 min): {load}")
    print()
    print(f"| {'page':<{width}} | {cols[0]:>30} | {cols[1]:>30} |")
    print(f"|{'-' * (width + 2)}|{'-' * 32}|{'-' * 32}|")
    for label in labels:
        small, large = (r.cells.get(label, "-") for r in results)
        print(f"| {label:<{width}} | {small:>30} | {large:>30} |")
    print(f"\nbenchmark done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
