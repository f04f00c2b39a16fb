"""民生实事清单, route by route: a social worker reads and changes only her own community's items,
a viewer reads and changes nothing, requests of another community cannot be linked, dropping
needs a reason, every change is audited; patterns in requests are suggested and adopted once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from server.auth.access import POLICY
from tests.server.conftest import World, csrf_token, login, make_request

MINSHENG = sorted(e for e in POLICY if e.startswith("minsheng."))


def _item(app: Flask, world: World, slug: str = "lanqiao") -> int:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.minsheng.services import create_item

    with app.app_context():
        item = create_item(
            world.community[slug], "楼道灯改造", "meeting", "张", None, Actor("社工")
        )
        db.session.commit()
        return int(item.id)


def _post(client: FlaskClient, path: str, data: dict[str, str], page: str) -> tuple[int, str]:
    answer = client.post(path, data={**data, "csrf_token": csrf_token(client, page)})
    return answer.status_code, answer.headers.get("Location", "")


def test_every_minsheng_route_is_covered_here() -> None:
    assert MINSHENG == [
        "minsheng.adopt",
        "minsheng.community_list",
        "minsheng.create",
        "minsheng.decide",
        "minsheng.index",
        "minsheng.item_page",
        "minsheng.link",
        "minsheng.move",
        "minsheng.outcome",
    ]
    for endpoint in ("adopt", "create", "decide", "link", "move", "outcome"):
        assert POLICY[f"minsheng.{endpoint}"].roles == frozenset({"admin", "social_worker"})


def test_another_communitys_social_worker_neither_reads_nor_changes_an_item(
    app: Flask, world: World
) -> None:
    from server.extensions import db
    from server.minsheng.models import MinshengItem

    item_id = _item(app, world)
    client = app.test_client()
    login(client, "social_worker_feicui")
    assert client.get(f"/console/minsheng/items/{item_id}").status_code == 404
    assert client.get(f"/console/minsheng/{world.community['lanqiao']}").status_code == 404
    page = "/console/queue"
    for path, data in (
        (f"/console/minsheng/items/{item_id}/move", {"to": "adopted"}),
        (f"/console/minsheng/items/{item_id}/link", {"request": str(world.requests["feicui"])}),
        (
            f"/console/minsheng/{world.community['lanqiao']}/items",
            {"title": "x", "source": "meeting"},
        ),
        (f"/console/minsheng/{world.community['lanqiao']}/suggestions", {"key": "x"}),
    ):
        assert _post(client, path, data, page)[0] == 404, path
    with app.app_context():
        assert db.session.get_one(MinshengItem, item_id).state == "proposed"
        count = db.session.scalar(sa.select(sa.func.count()).select_from(MinshengItem))
        assert count == 1


def test_a_viewer_reads_but_changes_nothing(app: Flask, world: World) -> None:
    item_id = _item(app, world)
    client = app.test_client()
    login(client, "viewer_lanqiao")
    page = client.get(f"/console/minsheng/items/{item_id}").get_data(as_text=True)
    assert "楼道灯改造" in page
    assert 'class="inline move"' not in page
    status, _ = _post(
        client, f"/console/minsheng/items/{item_id}/move", {"to": "adopted"}, "/console/queue"
    )
    assert status == 403


def test_a_request_of_another_community_cannot_be_linked_and_dropping_needs_a_reason(
    app: Flask, world: World
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db
    from server.minsheng.models import MinshengItem, MinshengLink

    item_id = _item(app, world)
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    page = f"/console/minsheng/items/{item_id}"
    base = f"/console/minsheng/items/{item_id}"
    _post(client, f"{base}/link", {"request": str(world.requests["feicui"])}, page)
    assert "本社区没有这条求助" in client.get(page).get_data(as_text=True)
    _post(client, f"{base}/move", {"to": "dropped", "reason": " "}, page)
    assert "请填写这一项" in client.get(page).get_data(as_text=True)
    _post(client, f"{base}/move", {"to": "done"}, page)
    assert "不能改为已办结" in client.get(page).get_data(as_text=True)
    _post(client, f"{base}/move", {"to": "dropped", "reason": "已列入市政计划"}, page)
    with app.app_context():
        item = db.session.get_one(MinshengItem, item_id)
        assert (item.state, item.drop_reason) == ("dropped", "已列入市政计划")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MinshengLink)) == 0
        audited = list(
            db.session.execute(
                sa.select(AuditEntry.what).where(AuditEntry.what.like(f"民生实事 #{item_id}%"))
            ).scalars()
        )
        assert audited == [f"民生实事 #{item_id}", f"民生实事 #{item_id}: proposed → dropped"]


@pytest.mark.parametrize("count", [9, 10])
def test_ten_requests_of_one_category_from_one_building_this_season_are_suggested_once(
    app: Flask, world: World, count: int
) -> None:
    from server.extensions import db
    from server.minsheng.models import MinshengItem, MinshengLink

    cid = world.community["lanqiao"]
    with app.app_context():
        for _ in range(count - 1):  # the world's request is one electrical of building 3
            make_request(cid, "3-2-301", "electrical")
        make_request(cid, "3-2-301", "plumbing")
        db.session.commit()
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    page = client.get(f"/console/minsheng/{cid}").get_data(as_text=True)
    if count < 10:
        assert 'id="suggestions"' not in page
        return
    assert "3号楼" in page
    assert "10 条求助" in page
    with app.app_context():
        from server.localtime import local_today
        from server.minsheng.queries import suggestions

        with app.test_request_context():
            (suggestion,) = suggestions(cid, local_today())
    status, location = _post(
        client, f"/console/minsheng/{cid}/suggestions", {"key": suggestion.key, "title": ""},
        f"/console/minsheng/{cid}",
    )  # fmt: skip
    assert status == 303
    item_page = client.get(location).get_data(as_text=True)
    assert "关联求助（10 条）" in item_page
    assert "已采纳" in item_page
    assert 'id="suggestions"' not in client.get(f"/console/minsheng/{cid}").get_data(as_text=True)
    with app.app_context():
        item = db.session.execute(sa.select(MinshengItem)).scalar_one()
        assert (item.source, item.state) == ("pattern", "adopted")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MinshengLink)) == 10
