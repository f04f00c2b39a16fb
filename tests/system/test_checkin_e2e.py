"""报平安 end to end: a real server process, a real kiosk process, the fault proxy between them.

A check-in tapped while the server is unreachable is saved on the kiosk at once, then reaches
the server exactly once when the network returns, although the first answer is lost (the kiosk
pushes the batch again) and the proxy replays a push (the server sees it twice).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from typing import Any

import requests
import sqlalchemy as sa

from kiosk.runtime import DB_NAME
from tests.faultproxy import (
    DROP_REQUEST,
    DROP_RESPONSE,
    DUPLICATE,
    PASS,
    FaultProxy,
    ProxiedRequest,
)
from tests.procs import KioskProc, ServerProc, wait_until


def _server_rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _kiosk_rows(kiosk: KioskProc, sql: str, *params: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(kiosk.data / DB_NAME, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def _tap_checkin(kiosk: KioskProc, room: str) -> tuple[str, str]:
    """What the home tile does with the room known in the visit: post its form. Returns the
    greeting page's address and text."""
    with requests.Session() as browser:
        home = browser.get(kiosk.url + "/", params={"room": room}, timeout=10).text
        token = re.search(r'name="form_token" value="([^"]+)"', home)
        assert token is not None, "the home screen has no 报平安 form for a known room"
        answer = browser.post(
            kiosk.url + "/checkin", data={"room": room, "form_token": token.group(1)}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer.url, answer.text


def test_an_offline_checkin_reaches_the_server_once_through_lost_and_replayed_pushes(
    server_proc: ServerProc, make_kiosk: Callable[..., KioskProc]
) -> None:
    with FaultProxy("127.0.0.1", server_proc.port) as proxy:
        kiosk = make_kiosk("hall")
        code = server_proc.secret("kiosk", "enroll", "--community", "lanqiao", "--name", "hall")
        kiosk.enroll(proxy.url, code)
        kiosk.start()
        wait_until(lambda: kiosk.status()["online"], what="the kiosk's first sync")

        proxy.set_mode(DROP_REQUEST)  # the server is unreachable from here on
        wait_until(lambda: not kiosk.status()["online"], what="the kiosk to notice")
        before = kiosk.create(category="electrical", room="3-2-302")
        assert before.status_code == 201, before.text
        url, page = _tap_checkin(kiosk, "3-2-301")
        assert "收到您的平安，祝您今天开心。" in page
        assert "已保存，联网后自动发送" in page
        checkin_id = url.rsplit("/", 1)[-1]
        after = kiosk.create(category="plumbing", room="3-2-301")
        assert after.status_code == 201, after.text
        # Saved and committed on the kiosk, in order between the two requests.
        ops = _kiosk_rows(kiosk, "SELECT type, op_id FROM outbox ORDER BY seq")
        assert [t for t, _ in ops] == ["request.create", "checkin.create", "request.create"]
        assert ops[1][1] == checkin_id
        assert _server_rows(server_proc.database_url, "SELECT count(*) FROM sign_of_life") == [(0,)]

        pushes = 0

        def lose_then_replay(request: ProxiedRequest) -> str:
            """The first push is applied but its answer lost; the next is sent twice."""
            nonlocal pushes
            if "/push" not in request.path:
                return PASS
            pushes += 1
            return {1: DROP_RESPONSE, 2: DUPLICATE}.get(pushes, PASS)

        proxy.set_policy(lose_then_replay)
        wait_until(
            lambda: (
                _kiosk_rows(kiosk, "SELECT status FROM checkins WHERE id = ?", checkin_id)
                == [("recorded",)]
            ),
            timeout=60,
            what="the check-in to be recorded by the server",
        )
        wait_until(lambda: kiosk.status()["queued"] == 0, what="an empty queue")
        assert pushes >= 2, "the batch was pushed again after the lost answer"
        assert proxy.stats.by_mode.get(DROP_RESPONSE) == 1
        assert proxy.stats.by_mode.get(DUPLICATE) == 1

    signs = _server_rows(
        server_proc.database_url,
        "SELECT s.source_key, s.channel, r.code FROM sign_of_life s JOIN room r "
        "ON r.id = s.room_id",
    )
    assert signs == [(f"kiosk:{checkin_id}", "kiosk", "3-2-301")]
    applied = [
        (kind, status)
        for op_id, kind, status in _server_rows(
            server_proc.database_url, "SELECT op_id, type, status FROM applied_op"
        )
        if str(uuid.UUID(str(op_id))) == checkin_id
    ]
    assert applied == [("checkin.create", "applied")]
    # The two requests arrived once each; the check-in made none.
    assert _server_rows(server_proc.database_url, "SELECT count(*) FROM help_request") == [(2,)]
    assert _server_rows(server_proc.database_url, "SELECT count(*) FROM sync_conflict") == [(0,)]
