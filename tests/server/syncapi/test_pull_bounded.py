"""A pull from nothing brings what a kiosk shows: open requests and recently settled ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from sync.cursor import Cursor
from sync.ids import uuid7
from tests.server.syncapi.test_sync_api import H, moved_back, op, pull_all, push


def _cancel(seq: int, request_id: str) -> dict:
    return {
        "op_id": str(uuid7()),
        "seq": seq,
        "type": "request.cancel",
        "at": datetime.now(UTC).isoformat(),
        "payload": {"request_id": request_id},
    }


def test_a_pull_from_nothing_leaves_out_requests_settled_long_ago(
    app: Any, client: FlaskClient, enrolled: dict
) -> None:
    from server.extensions import db
    from server.requests.changes import request_change
    from server.requests.models import HelpRequest
    from server.synclog.changes import record_changes
    from server.synclog.models import Change

    token = enrolled["token"]
    _, before, _ = pull_all(client, token)
    old, recent, kept_open = op(1), op(2), op(3)
    push(client, token, [old, recent, kept_open])
    push(client, token, [_cancel(4, old["op_id"]), _cancel(5, recent["op_id"])])
    with app.app_context():
        # Staff touched the third request (still open) two months ago, as long ago as the
        # first one was cancelled (beyond LINLI_PULL_SETTLED_DAYS): the open one still comes.
        req = db.session.execute(
            sa.select(HelpRequest).where(HelpRequest.client_id == uuid.UUID(kept_open["op_id"]))
        ).scalar_one()
        record_changes([request_change(req)])
        long_ago = datetime.now(UTC) - timedelta(days=60)
        for key in (old["op_id"], kept_open["op_id"]):
            db.session.execute(
                sa.update(Change)
                .where(Change.entity == "request", Change.key == key)
                .values(changed_at=long_ago, settled_at=moved_back(Change, long_ago))
            )
        db.session.commit()

    def requests(changes: list[dict]) -> set[str]:
        return {c["key"] for c in changes if c["entity"] == "request"}

    fresh, _, _ = pull_all(client, token)
    assert requests(fresh) == {recent["op_id"], kept_open["op_id"]}
    assert {c["entity"] for c in fresh} >= {"category", "room", "community"}
    reset, _, was_reset = pull_all(client, token, Cursor(epoch="gone", seq=1).encode())
    assert was_reset
    assert requests(reset) == {recent["op_id"], kept_open["op_id"]}
    # A kiosk catching up from its cursor still learns of every change since then.
    since, _, _ = pull_all(client, token, before)
    assert requests(since) == {old["op_id"], recent["op_id"], kept_open["op_id"]}


def _settle_long_ago(app: Any, client: FlaskClient, token: str, count: int) -> list[str]:
    """`count` requests pushed and cancelled, their changes dated two months back; their ids."""
    from server.extensions import db
    from server.synclog.models import Change

    creates = [op(seq) for seq in range(1, count + 1)]
    push(client, token, creates)
    push(client, token, [_cancel(count + i + 1, c["op_id"]) for i, c in enumerate(creates)])
    with app.app_context():
        db.session.execute(
            sa.update(Change)
            .where(Change.entity == "request")
            .values(
                changed_at=datetime.now(UTC) - timedelta(days=60),
                settled_at=moved_back(Change, datetime.now(UTC) - timedelta(days=60)),
            )
        )
        db.session.commit()
    return [c["op_id"] for c in creates]


def _pages(client: FlaskClient, token: str, query: str) -> list[dict]:
    """Every page of one download, each page's body."""
    headers = {**H, "Authorization": f"Bearer {token}"}
    pages, cursor = [], None
    while True:
        url = "/api/sync/v1/pull?" + query + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers).get_json()
        pages.append(body)
        cursor = body["cursor"]
        if not body["more"]:
            return pages


def test_every_page_of_a_download_from_nothing_keeps_its_bound(
    app: Any, client: FlaskClient, enrolled: dict
) -> None:
    token = enrolled["token"]
    old = set(_settle_long_ago(app, client, token, 6))
    pages = _pages(client, token, "limit=3")
    assert len(pages) > 3  # the reference data alone fills several pages of three
    keys = {c["key"] for page in pages for c in page["changes"]}
    assert not keys & old
    # Once the download is over, the cursor is an ordinary one: a later change to one of
    # those requests (staff reopen it) comes like any other.
    assert Cursor.decode(pages[-1]["cursor"]).until is None


def test_a_kiosk_with_old_unsettled_requests_learns_their_fate(
    app: Any, client: FlaskClient, enrolled: dict
) -> None:
    token = enrolled["token"]
    old = set(_settle_long_ago(app, client, token, 2))
    # A kiosk restored from an image of three months ago still shows them received.
    since = (datetime.now(UTC) - timedelta(days=90)).isoformat()
    pages = _pages(client, token, "limit=3&open_since=" + since.replace("+", "%2B"))
    keys = {c["key"] for page in pages for c in page["changes"]}
    assert old <= keys
    statuses = {c["data"]["status"] for p in pages for c in p["changes"] if c["key"] in old}
    assert statuses == {"cancelled"}


def test_a_bad_open_since_is_refused_by_name(client: FlaskClient, enrolled: dict) -> None:
    headers = {**H, "Authorization": f"Bearer {enrolled['token']}"}
    for raw in ("yesterday", "2026-01-01T00:00:00"):
        answer = client.get(f"/api/sync/v1/pull?open_since={raw}", headers=headers)
        assert answer.status_code == 400
        assert answer.get_json()["error"] == "bad_open_since"
        assert "open_since" in answer.get_json()["detail"]
