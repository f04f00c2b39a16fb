"""The site under load on real gunicorn (deploy/gunicorn.conf.py) and PostgreSQL: a storm of
sign-ins with production argon2 costs, and twenty live-queue streams. /healthz, sign-in and
the queue must still answer, and database connections stay bounded."""

from __future__ import annotations

import re
import secrets
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.procs import gunicorn

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-password-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
WORKERS = 2


@pytest.fixture
def backend() -> str:
    """Only PostgreSQL: several workers, as in production."""
    return "postgresql"


@contextmanager
def _gunicorn(database_url: str, folder: Path, **settings: str) -> Iterator[str]:
    """gunicorn with the deploy config (gthread, 16 threads) and WORKERS workers."""
    args = ["--config", str(ROOT / "deploy" / "gunicorn.conf.py")]
    with gunicorn(database_url, folder, args, WEB_CONCURRENCY=str(WORKERS), **settings) as url:
        yield url


@pytest.fixture
def users(app: Any, community: dict[str, Any]) -> list[str]:
    """Twelve viewers of lanqiao, hashed with production's argon2 parameters."""
    from server.auth.services import create_user
    from server.extensions import db

    names = [f"viewer{i:02d}" for i in range(12)]
    with app.app_context():
        for name in names:
            create_user(name, PASSWORD, "viewer", ["lanqiao"])
        db.session.commit()
        db.engine.dispose()  # this process holds no connection while the server is measured
    return names


def _sign_in(base: str, username: str, password: str = PASSWORD) -> tuple[requests.Session, int]:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    token = CSRF.search(page)
    assert token
    answer = session.post(
        f"{base}/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    return session, answer.status_code


def _healthz_latencies(base: str, count: int) -> list[tuple[int, float]]:
    seen = []
    for _ in range(count):
        started = time.monotonic()
        code = requests.get(f"{base}/healthz", timeout=30).status_code
        seen.append((code, time.monotonic() - started))
        time.sleep(0.2)
    return seen


@pytest.mark.slow
@pytest.mark.postgres
def test_healthz_answers_while_eight_clients_spray_sign_ins(
    database_url: str, tmp_path: Path, users: list[str]
) -> None:
    """Production argon2 costs (the server is another process: no test hashing). The
    per-address limit is lifted because a real spray comes from many addresses: only the
    cap on concurrent hashing stands between the storm and the rest of the site."""
    settings = {"LINLI_LOGIN_ADDRESS_RATE_LIMIT": "100000 per minute"}
    with _gunicorn(database_url, tmp_path / "server", **settings) as base:
        stop = threading.Event()
        outcomes: Counter[int] = Counter()
        lock = threading.Lock()

        def spray() -> None:
            session = requests.Session()
            token = CSRF.search(session.get(f"{base}/login", timeout=30).text)
            assert token
            while not stop.is_set():
                code = session.post(
                    f"{base}/login",
                    data={
                        "username": f"guess-{secrets.token_hex(6)}",
                        "password": secrets.token_hex(8),
                        "csrf_token": token.group(1),
                    },
                    allow_redirects=False,
                    timeout=60,
                ).status_code
                with lock:
                    outcomes[code] += 1

        sprayers = [threading.Thread(target=spray) for _ in range(8)]
        for sprayer in sprayers:
            sprayer.start()
        try:
            time.sleep(1)  # the storm is under way
            seen = _healthz_latencies(base, 25)
            _, right = _sign_in(base, users[0])
        finally:
            stop.set()
            for sprayer in sprayers:
                sprayer.join(timeout=120)
    latencies = [t for _, t in seen]
    print(f"spray answers: {dict(outcomes)}")
    print(
        "healthz latencies (s): "
        + " ".join(f"{t:.3f}" for t in latencies)
        + f"; median {statistics.median(latencies):.3f}, max {max(latencies):.3f}"
    )
    assert outcomes[401] > 0, outcomes  # passwords were really checked
    assert set(outcomes) <= {401, 503}, outcomes
    assert [code for code, _ in seen] == [200] * len(seen)
    assert max(latencies) < 1.0
    assert right in (303, 503)


def _connections(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _open_streams(sessions: list[requests.Session], base: str) -> list[requests.Response]:
    opened = []
    for session in sessions:
        for _ in range(2):
            opened.append(session.get(f"{base}/console/queue/stream", stream=True, timeout=(5, 30)))
    return opened


@pytest.mark.slow
@pytest.mark.postgres
def test_twenty_live_streams_leave_the_site_answering(
    app: Any, community: dict[str, Any], database_url: str, tmp_path: Path, users: list[str]
) -> None:
    from server.extensions import db
    from tests.server.conftest import make_request

    settings = {"LINLI_LIVE_HEARTBEAT_SECONDS": "2"}
    with _gunicorn(database_url, tmp_path / "server", **settings) as base:
        sessions = []
        for name in users[:10]:
            session, code = _sign_in(base, name)
            assert code == 303
            sessions.append(session)
        streams = _open_streams(sessions, base)
        try:
            codes = [s.status_code for s in streams]
            live = [s for s in streams if s.status_code == 200]
            refused = [s for s in streams if s.status_code != 200]
            print(f"20 streams from 10 sessions on {WORKERS} workers: {Counter(codes)}")
            assert len(live) <= WORKERS * 8
            assert len(refused) >= 20 - WORKERS * 8
            assert all(s.status_code == 429 and s.headers["Retry-After"] for s in refused)

            # Sign-in, /healthz and the polled rows still answer.
            _, code = _sign_in(base, users[10])
            assert code == 303
            assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
            assert sessions[0].get(f"{base}/console/queue/rows", timeout=10).status_code == 200

            connections = _connections(database_url)
            print(f"PostgreSQL connections with {len(live)} streams open: {connections}")
            # Each worker: its pool's few idle connections and one LISTEN connection.
            assert connections <= WORKERS * 6

            with app.app_context():
                make_request(community["id"], "3-1-101", details="NEW", phone=None)
                db.session.commit()
                db.engine.dispose()
            for stream in live:
                lines = stream.iter_lines()
                assert any(line == b"event: changed" for line in lines)
        finally:
            for stream in streams:
                stream.close()

        # Closed streams free their slots (a heartbeat's failed write notices the close): as
        # many open again. Refused tries hold nothing, so trying again costs no slot.
        held: list[requests.Response] = []
        try:
            for _attempt in range(30):
                for session in sessions:
                    if len(held) < len(live):
                        again = session.get(
                            f"{base}/console/queue/stream", stream=True, timeout=(5, 30)
                        )
                        if again.status_code == 200:
                            held.append(again)
                        else:
                            again.close()
                if len(held) >= len(live):
                    break
                time.sleep(1)
            print(f"after closing every stream, {len(held)} opened again")
            assert len(held) == len(live)
        finally:
            for stream in held:
                stream.close()
