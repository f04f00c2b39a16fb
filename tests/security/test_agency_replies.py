"""The agency's reply page (职能部门处置反馈), route by route: a 转办单's link opens only its own
escalation, shows only what the 转办单 shows, answers need the page's CSRF token, every answer
is audited with the link's id and reaches the request's timeline and the kiosks' change log;
a replaced, used-up, closed or unknown link gets a clear page; links are issued only by staff
of the request's community; loads and answers are rate-limited per address."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from server.auth.access import POLICY
from tests.server.conftest import World, csrf_token, login

LINK = re.compile(r"(http://localhost/r/[A-Za-z0-9_-]+)")


@dataclass
class Escalated:
    """Each community's request escalated to its agency by 转办单, and one reply link each."""

    escalations: dict[str, int]
    links: dict[str, str]


def _escalate_by_order(app: Flask, world: World, slug: str) -> int:
    from server.audit.actor import Actor
    from server.dispatch.models import Agency
    from server.extensions import db
    from server.requests import services as lifecycle
    from server.requests.models import HelpRequest

    with app.app_context():
        agency = db.session.get_one(Agency, world.agencies[slug])
        agency.delivery, agency.endpoint_url, agency.reply_days = "order", "", 2
        req = db.session.get_one(HelpRequest, world.requests[slug])
        escalation = lifecycle.escalate(req, Actor("社工"), agency, "请派人查看线路")
        db.session.commit()
        assert escalation.delivery_status == "order"
        return int(escalation.id)


def issue_link(app: Flask, world: World, slug: str, escalation_id: int) -> str:
    """Sign in as the community's social worker and issue a reply link: its URL."""
    client = app.test_client()
    login(client, f"social_worker_{slug}")
    rid = world.requests[slug]
    page = f"/console/requests/{rid}"
    answer = client.post(
        f"/console/requests/{rid}/escalations/{escalation_id}/reply-link",
        data={"csrf_token": csrf_token(client, page)},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    text = answer.get_data(as_text=True)
    assert 'id="reply-link"' in text
    assert "转办单" in text
    match = LINK.search(text)
    assert match
    return match.group(1).removeprefix("http://localhost")


@pytest.fixture
def escalated(app: Flask, world: World) -> Escalated:
    """Both communities' requests escalated by 转办单, each with a fresh reply link."""
    escalations = {slug: _escalate_by_order(app, world, slug) for slug in ("lanqiao", "feicui")}
    links = {slug: issue_link(app, world, slug, e) for slug, e in escalations.items()}
    return Escalated(escalations, links)


def _answer(client: FlaskClient, link: str, state: str, note: str = "") -> tuple[int, str]:
    token = csrf_token(client, link)
    answer = client.post(link, data={"state": state, "note": note, "csrf_token": token})
    return answer.status_code, answer.get_data(as_text=True)


def test_the_reply_routes_are_public_and_the_issue_route_is_staff_only() -> None:
    assert POLICY["replies.answer_page"].kind == "public"
    assert POLICY["replies.answer"].kind == "public"
    assert POLICY["replies_console.issue"].kind == "session"
    assert POLICY["replies_console.issue"].roles == frozenset({"admin", "social_worker"})


def test_a_link_shows_only_its_escalation_and_only_what_the_transfer_order_shows(
    app: Flask, world: World, escalated: Escalated
) -> None:
    page = app.test_client().get(escalated.links["lanqiao"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"#{escalated.escalations['lanqiao']}" in text
    assert "供电所 lanqiao" in text
    assert "SECRET-LANQIAO" in text  # the problem's words, as on the 转办单
    assert "SECRET-FEICUI" not in text
    assert "供电所 feicui" not in text
    assert "RESIDENT-" not in text
    assert "13800000001" not in text
    assert "反馈期限" in text


def test_a_link_answers_only_its_own_escalation(
    app: Flask, world: World, escalated: Escalated
) -> None:
    from server.extensions import db
    from server.requests.models import HelpRequest

    status, text = _answer(app.test_client(), escalated.links["feicui"], "accepted", "明天上门")
    assert status == 200
    assert "回复已收到" in text
    with app.app_context():
        feicui = db.session.get_one(HelpRequest, world.requests["feicui"])
        lanqiao = db.session.get_one(HelpRequest, world.requests["lanqiao"])
        assert feicui.status == "external_feedback"
        assert feicui.public_note == "供电所 feicui：已受理"
        assert lanqiao.status == "escalated"
        assert lanqiao.public_note is None


def test_an_answer_without_the_pages_csrf_token_is_refused(
    app: Flask, world: World, escalated: Escalated
) -> None:
    client = app.test_client()
    client.get(escalated.links["lanqiao"])
    answer = client.post(escalated.links["lanqiao"], data={"state": "done"})
    assert answer.status_code == 400
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        assert db.session.get_one(HelpRequest, world.requests["lanqiao"]).status == "escalated"


def test_an_answer_is_audited_with_the_links_id_on_the_timeline_and_in_the_change_log(
    app: Flask, world: World, escalated: Escalated
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db
    from server.replies.models import ReplyLink
    from server.requests.models import RequestEvent
    from server.synclog.models import Change

    rid = world.requests["lanqiao"]
    client = app.test_client()
    assert _answer(client, escalated.links["lanqiao"], "in_progress", "已派电工")[0] == 200
    with app.app_context():
        link_id = db.session.execute(
            sa.select(ReplyLink.id).where(
                ReplyLink.escalation_id == escalated.escalations["lanqiao"],
                ReplyLink.revoked_at.is_(None),
            )
        ).scalar_one()
        audits = db.session.execute(
            sa.select(AuditEntry).where(AuditEntry.request_id == rid)
        ).scalars()
        answered = [a for a in audits if a.what.startswith(f"reply link #{link_id}: ")]
        assert len(answered) == 1
        assert answered[0].actor.startswith(f"agency:{link_id}:")
        events = db.session.execute(
            sa.select(RequestEvent).where(RequestEvent.request_id == rid)
        ).scalars()
        notes = [e.note for e in events]
        assert "供电所 lanqiao：处理中（已派电工）" in notes
        changes = db.session.execute(sa.select(Change).where(Change.entity == "request")).scalars()
        latest = [c for c in changes if c.data.get("status") == "external_feedback"]
        assert latest, "the kiosks hear the reply"


@pytest.mark.parametrize(
    ("how", "words"),
    [
        ("unknown", "这个回复链接无效"),
        ("replaced", "已被新的转办单取代"),
        ("used_up", "已经答复完毕"),
        ("closed", "已经结案"),
    ],
)
def test_a_link_that_no_longer_works_gets_a_clear_page(
    app: Flask, world: World, escalated: Escalated, how: str, words: str
) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.requests import services as lifecycle
    from server.requests.models import HelpRequest

    link = escalated.links["lanqiao"]
    client = app.test_client()
    if how == "unknown":
        link = "/r/" + "x" * 43
    elif how == "replaced":
        issue_link(app, world, "lanqiao", escalated.escalations["lanqiao"])
    elif how == "used_up":
        assert _answer(client, link, "done", "已修好")[0] == 200
    else:
        with app.app_context():
            req = db.session.get_one(HelpRequest, world.requests["lanqiao"])
            lifecycle.cancel(req, Actor("社工"), "居民自行解决")
            db.session.commit()
    for answer in (client.get(link), client.post(link, data={"state": "done"})):
        text = answer.get_data(as_text=True)
        assert answer.status_code in (410, 400), answer.status_code
        if answer.status_code == 410:
            assert words in text
            assert 'id="reply-gone"' in text
            assert "SECRET-" not in text
    assert client.get(link).status_code == 410


@pytest.mark.parametrize(
    ("user", "status"),
    [("social_worker_feicui", 404), ("viewer_lanqiao", 403), ("team_lead_lanqiao", 403)],
)
def test_only_staff_of_the_requests_community_issue_links(
    app: Flask, world: World, escalated: Escalated, user: str, status: int
) -> None:
    client = app.test_client()
    login(client, user)
    rid = world.requests["lanqiao"]
    token = csrf_token(
        client, "/console/jobs" if user.startswith("team_lead") else "/console/queue"
    )
    answer = client.post(
        f"/console/requests/{rid}/escalations/{escalated.escalations['lanqiao']}/reply-link",
        data={"csrf_token": token},
    )
    assert answer.status_code == status
    assert "/r/" not in answer.get_data(as_text=True)


def test_issuing_a_link_for_another_requests_escalation_is_refused(
    app: Flask, world: World, escalated: Escalated
) -> None:
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    rid = world.requests["lanqiao"]
    answer = client.post(
        f"/console/requests/{rid}/escalations/{escalated.escalations['feicui']}/reply-link",
        data={"csrf_token": csrf_token(client, f"/console/requests/{rid}")},
    )
    assert answer.status_code == 400
    assert "/r/" not in answer.get_data(as_text=True)


def test_loads_of_the_reply_page_are_rate_limited_per_address(
    app: Flask, world: World, escalated: Escalated
) -> None:
    app.config["LINLI_REPLY_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    codes = [client.get("/r/" + "y" * 43).status_code for _ in range(4)]
    assert codes == [410, 410, 410, 429]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _answer_with(client: FlaskClient, link: str, photo: bytes, name: str) -> tuple[int, str]:
    import io

    token = csrf_token(client, link)
    answer = client.post(
        link,
        data={"state": "done", "csrf_token": token, "photo": (io.BytesIO(photo), name)},
        content_type="multipart/form-data",
    )
    return answer.status_code, answer.get_data(as_text=True)


def test_a_reply_photo_is_checked_and_shown_only_to_staff_of_the_community(
    app: Flask, world: World, escalated: Escalated, tmp_path: Any
) -> None:
    from server.extensions import db
    from server.replies.models import AgencyReply

    app.config["LINLI_REPLY_PHOTO_DIR"] = str(tmp_path / "photos")
    app.config["LINLI_REPLY_PHOTO_MAX_BYTES"] = 1000
    agency = app.test_client()
    link = escalated.links["lanqiao"]
    status, text = _answer_with(agency, link, b"<html><script>x</script>", "x.png")
    assert status == 400
    assert "照片须为 JPEG 或 PNG 图片" in text
    status, text = _answer_with(agency, link, PNG + b"\x00" * 1000, "big.png")
    assert status == 400
    assert "照片不能超过" in text
    assert not (tmp_path / "photos").exists() or not any((tmp_path / "photos").iterdir())
    assert _answer_with(agency, link, PNG, "../../etc/passwd.png")[0] == 200
    with app.app_context():
        reply = db.session.execute(sa.select(AgencyReply)).scalar_one()
        assert reply.photo_type == "image/png"
        assert reply.photo_name is not None
        assert "/" not in reply.photo_name
        assert "passwd" not in reply.photo_name
        reply_id = reply.id
    stored = list((tmp_path / "photos").iterdir())
    assert len(stored) == 1
    assert stored[0].stat().st_mode & 0o077 == 0

    url = f"/console/replies/{reply_id}/photo"
    assert agency.get(url).status_code in (302, 401)  # no account: no photo
    for user, status in (
        ("social_worker_lanqiao", 200),
        ("social_worker_feicui", 404),
        ("viewer_lanqiao", 403),
    ):
        client = app.test_client()
        login(client, user)
        answer = client.get(url)
        assert answer.status_code == status, user
        if status == 200:
            assert answer.mimetype == "image/png"
            assert answer.data == PNG
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            page = client.get(f"/console/requests/{world.requests['lanqiao']}")
            assert url in page.get_data(as_text=True)


def test_erasing_the_resident_erases_what_agencies_replied(
    app: Flask, world: World, escalated: Escalated, tmp_path: Any
) -> None:
    import io

    from server.audit.actor import Actor
    from server.extensions import db
    from server.people.models import Resident
    from server.replies.models import AgencyReply
    from server.requests import services as lifecycle
    from server.requests.models import HelpRequest
    from tests.server.conftest import post

    app.config["LINLI_REPLY_PHOTO_DIR"] = str(tmp_path / "photos")
    with app.app_context():
        req = db.session.get_one(HelpRequest, world.requests["lanqiao"])
        resident = db.session.get_one(Resident, world.residents["lanqiao"])
        lifecycle.link_resident(req, resident, Actor("社工"))
        db.session.commit()
    agency = app.test_client()
    link = escalated.links["lanqiao"]
    data = {
        "state": "accepted",
        "note": "已联系 RESIDENT-LANQIAO 13800000001",
        "csrf_token": csrf_token(agency, link),
        "photo": (io.BytesIO(PNG), "door.png"),
    }
    assert agency.post(link, data=data, content_type="multipart/form-data").status_code == 200
    assert len(list((tmp_path / "photos").iterdir())) == 1
    worker = app.test_client()
    login(worker, "social_worker_lanqiao")
    answer = post(
        worker,
        f"/console/residents/{world.residents['lanqiao']}/delete",
        {"confirm": "DELETE", "reason": "the resident asked"},
    )
    assert answer.status_code == 303
    with app.app_context():
        reply = db.session.execute(sa.select(AgencyReply)).scalar_one()
        assert (reply.note, reply.photo_name, reply.photo_type) == (None, None, None)
    assert list((tmp_path / "photos").iterdir()) == []
