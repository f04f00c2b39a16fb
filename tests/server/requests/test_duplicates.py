"""Possible duplicates: open requests for the same room and category, and for the same building
and category within the last day, shown on the request page and the queue and as JSON for the
intake form; merging names the surviving request by number or by ticket."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, csrf_token, login, make_request

LANQIAO_ROOM = "3-2-301"
"""The world's lanqiao request is here (electrical, received)."""


@dataclass
class Neighbours:
    """Requests around the world's lanqiao request, by what they are."""

    same_room: int
    same_building: int
    old_same_room: int
    old_same_building: int
    other_category: int
    other_building: int
    closed: int
    other_community: int


def _set(rid: int, **values: object) -> None:
    from server.extensions import db
    from server.requests.models import HelpRequest

    req = db.session.get_one(HelpRequest, rid)
    for name, value in values.items():
        setattr(req, name, value)
    db.session.flush()


@pytest.fixture
def near(app: Flask, world: World) -> Neighbours:
    """The neighbours, committed; feicui has a room coded like lanqiao's, with its own request."""
    from server.communities.models import Community
    from server.communities.services import import_rooms, parse_rooms_csv
    from server.extensions import db
    from server.timeutil import utcnow

    lanqiao, feicui = world.community["lanqiao"], world.community["feicui"]
    now = utcnow()
    with app.app_context():
        import_rooms(
            db.session.get_one(Community, feicui),
            parse_rooms_csv("building,unit,room\n3,2,301\n", "rooms.csv"),
        )
        made = Neighbours(
            same_room=make_request(lanqiao, LANQIAO_ROOM),
            same_building=make_request(lanqiao, "3-1-101"),
            old_same_room=make_request(lanqiao, LANQIAO_ROOM),
            old_same_building=make_request(lanqiao, "3-2-302"),
            other_category=make_request(lanqiao, LANQIAO_ROOM, category="plumbing"),
            other_building=make_request(lanqiao, "1-1-101"),
            closed=make_request(lanqiao, "3-1-101"),
            other_community=make_request(feicui, LANQIAO_ROOM),
        )
        _set(made.same_room, ticket="A-0002", received_at=now - timedelta(hours=1))
        _set(made.same_building, ticket="A-0003", received_at=now - timedelta(hours=2))
        _set(made.old_same_room, ticket="A-0004", received_at=now - timedelta(days=5))
        _set(made.old_same_building, ticket="A-0005", received_at=now - timedelta(hours=30))
        _set(made.other_category, ticket="A-0006")
        _set(made.other_building, ticket="A-0007")
        _set(made.closed, ticket="A-0008", status="cancelled")
        _set(made.other_community, ticket="A-0002")
        db.session.commit()
    return made


def _listed(app: Flask, rid: int) -> list[tuple[int, str]]:
    from server.extensions import db
    from server.requests import queries
    from server.requests.models import HelpRequest

    with app.app_context():
        found = queries.possible_duplicates_of(db.session.get_one(HelpRequest, rid))
        return [(d.request.id, d.why) for d in found]


def test_same_room_and_same_building_within_a_day_newest_first(
    app: Flask, world: World, near: Neighbours
) -> None:
    own = world.requests["lanqiao"]
    assert _listed(app, own) == [
        (near.same_room, "same_room"),
        (near.same_building, "same_building"),
        (near.old_same_room, "same_room"),
    ]
    # Seen from the building neighbour: the room's two open requests of the day.
    assert _listed(app, near.same_building) == [
        (own, "same_building"),
        (near.same_room, "same_building"),
    ]
    # Received 30 hours ago: its building's requests are no longer "the same day".
    assert _listed(app, near.old_same_building) == []
    assert _listed(app, near.other_building) == []
    assert _listed(app, near.closed) == [], "a final request has no possible duplicates"
    assert _listed(app, near.other_community) == [], "another community's room is another room"


def test_a_room_and_category_about_to_be_entered_and_the_bound(
    app: Flask, world: World, near: Neighbours
) -> None:
    from server.communities.models import Room
    from server.extensions import db
    from server.requests import queries
    from server.requests.models import Category

    with app.app_context():
        room = db.session.execute(
            sa.select(Room).where(
                Room.community_id == world.community["lanqiao"], Room.code == "3-2-302"
            )
        ).scalar_one()
        electrical = db.session.execute(
            sa.select(Category.id).where(Category.code == "electrical")
        ).scalar_one()
        found = queries.possible_duplicates(room, electrical)
        assert [(d.request.id, d.why) for d in found] == [
            (world.requests["lanqiao"], "same_building"),
            (near.same_room, "same_building"),
            (near.same_building, "same_building"),
            (near.old_same_building, "same_room"),
        ]
        assert len(queries.possible_duplicates(room, electrical, limit=2)) == 2


def test_queue_flags_rows_with_possible_duplicates(
    app: Flask, client: FlaskClient, world: World, near: Neighbours
) -> None:
    from server.requests import queries

    with app.app_context():
        asked = [world.requests["lanqiao"], near.same_building, near.old_same_building]
        asked += [near.other_category, near.other_building, near.other_community]
        flagged = queries.with_possible_duplicates(asked)
    assert flagged == {world.requests["lanqiao"], near.same_building}
    login(client, "social_worker_lanqiao")
    page = client.get("/console/queue?view=all").get_data(as_text=True)
    rows = dict(re.findall(r'<tr[^>]*data-id="(\d+)"[^>]*>(.*?)</tr>', page, re.S))
    assert "可能重复" in rows[str(world.requests["lanqiao"])]
    assert "可能重复" not in rows[str(near.other_building)]
    assert "可能重复" not in rows[str(near.closed)]


def test_request_page_lists_them_with_a_one_click_merge(
    app: Flask, client: FlaskClient, world: World, near: Neighbours
) -> None:
    from server.extensions import db
    from server.requests.models import HelpRequest

    own = world.requests["lanqiao"]
    login(client, "social_worker_lanqiao")
    page = client.get(f"/console/requests/{own}").get_data(as_text=True)
    box = page.split('id="possible-duplicates"')[1].split("</section>")[0]
    assert "<h2>可能重复</h2>" in page
    assert f"/console/requests/{near.same_room}" in box
    assert f"/console/requests/{near.closed}" not in box
    assert f"/console/requests/{near.other_community}" not in box
    assert f'name="into" value="{near.same_room}"' in box
    answer = client.post(
        f"/console/requests/{own}/merge",
        data={"into": str(near.same_room), "csrf_token": csrf_token(client, "/console/queue")},
    )
    assert answer.status_code == 303
    with app.app_context():
        req = db.session.get_one(HelpRequest, own)
        assert (req.status, req.duplicate_of_id) == ("duplicate", near.same_room)
    viewer = app.test_client()
    login(viewer, "viewer_lanqiao")
    seen = viewer.get(f"/console/requests/{near.same_building}").get_data(as_text=True)
    assert f"/console/requests/{near.same_room}" in seen.split('id="possible-duplicates"')[1]
    assert "/merge" not in seen, "a viewer sees the list but no merge"


def _merge(client: FlaskClient, rid: int, into: str) -> tuple[int, str]:
    token = csrf_token(client, "/console/queue")
    answer = client.post(f"/console/requests/{rid}/merge", data={"into": into, "csrf_token": token})
    return answer.status_code, html.unescape(answer.get_data(as_text=True))


def _merged_into(app: Flask, rid: int) -> int | None:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        return db.session.get_one(HelpRequest, rid).duplicate_of_id


def test_merge_by_ticket(app: Flask, client: FlaskClient, world: World, near: Neighbours) -> None:
    login(client, "social_worker_lanqiao")
    # A-0002 is held in feicui too, which this social worker does not reach.
    assert _merge(client, near.same_building, "a-0002")[0] == 303
    assert _merged_into(app, near.same_building) == near.same_room
    assert _merge(client, near.other_building, "#A-0004")[0] == 303
    assert _merged_into(app, near.other_building) == near.old_same_room
    assert _merge(client, near.other_category, f"#{near.same_room}")[0] == 303
    assert _merged_into(app, near.other_category) == near.same_room


def test_unknown_or_ambiguous_ticket_is_named(
    app: Flask, client: FlaskClient, world: World, near: Neighbours
) -> None:
    from server.extensions import db

    with app.app_context():
        _set(near.old_same_building, ticket="A-0003")
        db.session.commit()
    login(client, "social_worker_lanqiao")
    own = world.requests["lanqiao"]
    status, page = _merge(client, own, "A-9999")
    assert status == 400
    assert "没有小票号为 A-9999 的求助" in page
    status, page = _merge(client, own, "A-0003")
    assert status == 400
    assert "小票号 A-0003 对应多条求助" in page
    assert f"#{near.same_building}" in page
    assert f"#{near.old_same_building}" in page
    status, page = _merge(client, own, "not a ticket")
    assert status == 400
    assert "既不是编号，也不是 A-0012 这样的小票号" in page
    assert _merged_into(app, own) is None
    # The merged request's own ticket is not a target: the other holder is.
    with app.app_context():
        _set(near.same_room, ticket="A-0001")
        db.session.commit()
    assert _merge(client, own, "A-0001")[0] == 303
    assert _merged_into(app, own) == near.same_room


def test_ticket_held_in_two_of_the_users_communities_prefers_the_requests_own(
    app: Flask, client: FlaskClient, world: World, near: Neighbours
) -> None:
    from server.auth.services import create_user
    from server.extensions import db

    with app.app_context():
        create_user("both", "a long enough password", "social_worker", ["lanqiao", "feicui"])
        db.session.commit()
    login(client, "both", "a long enough password")
    assert _merge(client, near.same_building, "A-0002")[0] == 303
    assert _merged_into(app, near.same_building) == near.same_room
    status, page = _merge(client, near.other_community, "A-0004")
    assert status == 400
    assert "两条求助须在同一社区" in page


def test_json_endpoint_is_scoped_to_the_users_communities(
    app: Flask, world: World, near: Neighbours
) -> None:
    own = world.requests["lanqiao"]
    lanqiao = app.test_client()
    login(lanqiao, "social_worker_lanqiao")
    answer = lanqiao.get(f"/console/requests/duplicates?room={LANQIAO_ROOM}&category=electrical")
    assert answer.status_code == 200
    items = answer.get_json()
    assert [(i["id"], i["why"]) for i in items] == [
        (own, "same_room"),
        (near.same_room, "same_room"),
        (near.same_building, "same_building"),
        (near.old_same_room, "same_room"),
    ]
    first = items[1]
    assert first["ticket"] == "A-0002"
    assert first["status"] == "received"
    assert first["status_words"] == "已收到"
    assert first["received_at"].startswith("20")
    assert first["url"] == f"/console/requests/{near.same_room}"
    assert "phone" not in first
    assert "details" not in first
    unknown = lanqiao.get("/console/requests/duplicates?room=9-9-999&category=electrical")
    assert unknown.status_code == 404
    for half in (f"room={LANQIAO_ROOM}", "category=electrical", ""):
        chosen = lanqiao.get(f"/console/requests/duplicates?{half}")
        assert (chosen.status_code, chosen.get_json()) == (200, []), "none until both are chosen"
    bad = lanqiao.get(f"/console/requests/duplicates?room={LANQIAO_ROOM}&category=nonsense")
    assert bad.status_code == 400
    # A social worker of feicui: the same room code is feicui's own room, with its request.
    feicui = app.test_client()
    login(feicui, "social_worker_feicui")
    theirs = feicui.get(f"/console/requests/duplicates?room={LANQIAO_ROOM}&category=electrical")
    assert [i["id"] for i in theirs.get_json()] == [near.other_community]
    nothing = feicui.get("/console/requests/duplicates?room=3-1-101&category=electrical")
    assert nothing.status_code == 404
    viewer = app.test_client()
    login(viewer, "viewer_lanqiao")
    refused = viewer.get(f"/console/requests/duplicates?room={LANQIAO_ROOM}&category=electrical")
    assert refused.status_code == 403


def test_every_status_has_console_words() -> None:
    from server.requests.words import STATUS_WORDS
    from sync.statuses import STATUSES

    assert set(STATUS_WORDS) == set(STATUSES)
