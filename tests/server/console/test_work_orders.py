"""Printable orders from the request page: the team's 派工单 (what, where, who, when, the
resident's contact) and an agency's 转办单 per escalation (no name, no phone, a reply due date);
each print is in the audit trail, and each fits one A4 page in a real browser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login
from tests.server.seed import Seed, Served, browser_login

EMERGENCY_NAME = "王小明"
EMERGENCY_PHONE = "13911112222"


@dataclass(frozen=True)
class Ready:
    """A request triaged, linked to its resident, dispatched and escalated."""

    request: int
    escalation: int
    received: datetime
    dispatched: datetime
    escalated: datetime


def _ready(
    app: Flask,
    community_id: int,
    team_id: int,
    agency_id: int,
    resident_id: int,
    request_id: int,
    details: str | None = None,
    note: str = "请派人查看线路",
) -> Ready:
    """Triage, link the resident (with an emergency contact), dispatch and escalate."""
    from server.audit.actor import Actor
    from server.dispatch.models import Agency, Team
    from server.extensions import db
    from server.people.models import Resident
    from server.requests import services as lifecycle
    from server.requests.models import Category, HelpRequest, RequestEvent

    with app.app_context():
        req = db.session.get_one(HelpRequest, request_id)
        assert req.community_id == community_id
        if details is not None:
            req.details = details
        resident = db.session.get_one(Resident, resident_id)
        resident.emergency_contact_name = EMERGENCY_NAME
        resident.emergency_contact_phone = EMERGENCY_PHONE
        who = Actor("社工 王")
        category = db.session.execute(
            sa.select(Category).where(Category.code == "electrical")
        ).scalar_one()
        lifecycle.link_resident(req, resident, who)
        lifecycle.triage(req, who, category, "normal", None)
        lifecycle.dispatch(req, who, db.session.get_one(Team, team_id), "张师傅", None)
        escalation = lifecycle.escalate(req, who, db.session.get_one(Agency, agency_id), note)
        dispatched = db.session.scalar(
            sa.select(RequestEvent.at).where(
                RequestEvent.request_id == req.id, RequestEvent.to_status == "dispatched"
            )
        )
        db.session.commit()
        assert dispatched is not None
        return Ready(req.id, escalation.id, req.received_at, dispatched, escalation.created_at)


def _world_ready(app: Flask, world: World, slug: str = "lanqiao") -> Ready:
    return _ready(
        app,
        world.community[slug],
        world.teams[slug],
        world.agencies[slug],
        world.residents[slug],
        world.requests[slug],
    )


def _local(app: Flask, moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(app.config["LINLI_TIMEZONE"])).strftime("%Y-%m-%d %H:%M")


def _prints(app: Flask, request_id: int) -> list[tuple[Any, ...]]:
    """The audit rows of prints of one request: (actor, action, resident, what)."""
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.actor, AuditEntry.action, AuditEntry.resident_id, AuditEntry.what)
            .where(AuditEntry.request_id == request_id, AuditEntry.why.like("print %"))
            .order_by(AuditEntry.id)
        ).all()
        return [tuple(r) for r in rows]


def _text(html: str) -> str:
    """The page's words, tags dropped and spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_work_order_prints_what_where_who_when_and_whom_to_call(
    app: Flask, client: FlaskClient, world: World
) -> None:
    app.config["LINLI_TIMEZONE"] = "Asia/Shanghai"
    ready = _world_ready(app, world)
    login(client, "social_worker_lanqiao")
    page = client.get(f"/console/requests/{ready.request}")
    link = f'href="/console/requests/{ready.request}/work-order"'
    assert link in page.get_data(as_text=True), "the request page links to the 派工单"
    answer = client.get(f"/console/requests/{ready.request}/work-order")
    assert answer.status_code == 200
    text = _text(answer.get_data(as_text=True))
    assert "Work order" not in text, "Chinese by default"
    for fact in [
        "单号 A-0001",
        f"编号 #{ready.request}",
        f"查询码 lanqiao-{ready.request}",
        "类别 照明/电路 Lights & wiring",
        "SECRET-LANQIAO 灯坏了",
        "社区 蓝桥社区",
        "房号 3 栋 2 单元 301 室 (3-2-301)",
        "服务队 小蜜蜂 lanqiao",
        "队长 team_lead lanqiao",
        "志愿者 张师傅",
        f"收到 {_local(app, ready.received)}",
        f"派单时间 {_local(app, ready.dispatched)}",
        f"到场时限 {_local(app, ready.received + timedelta(minutes=120))}",
        "姓名 RESIDENT-LANQIAO",
        "电话 13800000001",
        f"紧急联系人 {EMERGENCY_NAME} {EMERGENCY_PHONE}",
        "志愿者签字",
        "居民签字",
        "中国标准时间",
    ]:
        assert fact in text, fact
    # The times are local (UTC+8 here), 24-hour.
    assert _local(app, ready.received) != ready.received.strftime("%Y-%m-%d %H:%M")
    assert " AM" not in text
    assert " PM" not in text
    assert _prints(app, ready.request) == [
        (
            "social_worker lanqiao",
            "view",
            world.residents["lanqiao"],
            f"request #{ready.request}: 派工单 printed (name, phone, emergency contact)",
        )
    ]
    client.get(f"/console/requests/{ready.request}/work-order")
    assert len(_prints(app, ready.request)) == 2, "every print is recorded"
    # One click away: the same sheet in English.
    client.set_cookie("lang", "en")
    english = _text(client.get(f"/console/requests/{ready.request}/work-order").get_data(True))
    for fact in [
        "Work order",
        "Room building 3, unit 2, room 301 (3-2-301)",
        f"Dispatched {_local(app, ready.dispatched)}",
        "China Standard Time",
    ]:
        assert fact in english, fact


def test_the_work_order_of_an_unlinked_undispatched_request_leaves_blanks(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "admin_lanqiao")
    rid = world.requests["lanqiao"]
    text = _text(client.get(f"/console/requests/{rid}/work-order").get_data(as_text=True))
    assert "服务队 （未派单）" in text
    assert "派单时间 —" in text
    assert "姓名 （未关联档案）" in text
    assert "电话 13800000001" in text, "the number the caller gave"
    assert "紧急联系人 —" in text
    assert _prints(app, rid)[0][2] is None


def test_the_transfer_order_carries_the_payload_without_name_or_phone(
    app: Flask, client: FlaskClient, world: World
) -> None:
    app.config["LINLI_TIMEZONE"] = "Asia/Shanghai"
    ready = _world_ready(app, world)
    login(client, "social_worker_lanqiao")
    page = client.get(f"/console/requests/{ready.request}").get_data(as_text=True)
    url = f"/console/requests/{ready.request}/escalations/{ready.escalation}/transfer-order"
    assert f'href="{url}"' in page, "each escalation links to its 转办单"
    answer = client.get(url)
    assert answer.status_code == 200
    text = _text(answer.get_data(as_text=True))
    assert "Referral" not in text, "Chinese by default"
    due = ready.escalated + timedelta(days=3)
    for fact in [
        f"转办编号 #{ready.escalation}",
        f"回复请注明 linli-escalation-{ready.escalation}",
        f"单号 A-0001 (lanqiao-{ready.request})",
        "承办单位 供电所 lanqiao",
        "转办单位 蓝桥社区 · 电话 024-1234567",
        "类别 照明/电路 Lights & wiring",
        "问题描述 SECRET-LANQIAO 灯坏了",
        "社区附言 请派人查看线路",
        "地址 蓝桥社区 3-2-301",
        f"居民求助 {_local(app, ready.received)}",
        f"转办时间 {_local(app, ready.escalated)}",
        f"反馈期限 {_local(app, due)} （转办后 3 天）",
        "承办单位签收",
    ]:
        assert fact in text, fact
    for personal in ("RESIDENT-LANQIAO", "13800000001", EMERGENCY_NAME, EMERGENCY_PHONE):
        assert personal not in text, personal
    assert _prints(app, ready.request) == [
        (
            "social_worker lanqiao",
            "view",
            world.residents["lanqiao"],
            f"request #{ready.request}: 转办单 printed for 供电所 lanqiao "
            f"(escalation #{ready.escalation})",
        )
    ]


def test_another_communitys_social_worker_finds_neither(
    app: Flask, client: FlaskClient, world: World
) -> None:
    ready = _world_ready(app, world)
    other = _world_ready(app, world, "feicui")
    login(client, "social_worker_feicui")
    assert client.get(f"/console/requests/{ready.request}/work-order").status_code == 404
    transfer = f"/console/requests/{ready.request}/escalations/{ready.escalation}/transfer-order"
    assert client.get(transfer).status_code == 404
    # Their own request with the other community's escalation: no such escalation.
    mixed = f"/console/requests/{other.request}/escalations/{ready.escalation}/transfer-order"
    assert client.get(mixed).status_code == 404
    assert _prints(app, ready.request) == []
    own = f"/console/requests/{other.request}/escalations/{other.escalation}/transfer-order"
    assert client.get(own).status_code == 200


# --- one A4 page in a real browser ---------------------------------------------------------

PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
WORDS_MAX = 2000
"""The longest words a kiosk may send (sync/messages.py Text2000)."""


def _pdf_pages(pdf: bytes) -> int:
    assert pdf.startswith(b"%PDF")
    return len(PAGE.findall(pdf))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("length", [20, WORDS_MAX])
def test_each_order_prints_on_one_a4_page(
    page: Any, served: Served, seed: Seed, length: int
) -> None:
    from server.dispatch.services import create_agency
    from server.extensions import db
    from server.people.models import Resident
    from server.timeutil import utcnow
    from tests.procs import free_port
    from tests.server.seed import add_request

    cid = seed.community["lanqiao"]
    words = ("客厅的灯一闪一闪，开关有焦味，晚上不敢开灯。" * 200)[:length]
    with served.app.app_context():
        agency = create_agency(
            "lanqiao", "区供电所", "department", f"http://127.0.0.1:{free_port()}/x"
        )
        resident = Resident(community_id=cid, name="李奶奶", phone="13800000009")
        db.session.add(resident)
        db.session.flush()
        rid = add_request(cid, "3-2-301", "electrical", utcnow() - timedelta(hours=1), "received")
        ids = (agency.id, resident.id)
        db.session.commit()
    ready = _ready(served.app, cid, seed.team["lanqiao"], ids[0], ids[1], rid, words, words)
    browser_login(page, served.url, "social_worker_lanqiao")
    page.goto(f"{served.url}/console/requests/{rid}")
    page.click("#print-work-order")
    page.wait_for_load_state()
    page.emulate_media(media="print")
    assert page.locator("#work-order").is_visible()
    if length > 600:
        cut = page.locator("#work-order .cut").inner_text()
        assert f"共 {length} 字" in cut, "a cut says how long the words are"
        assert f"lanqiao-{rid}" in cut, "and where the rest is"
    for hidden in ("header.top", ".print-button", "footer.zone"):
        assert not page.locator(hidden).first.is_visible(), f"{hidden} shows in print"
    margins = {side: "10mm" for side in ("top", "bottom", "left", "right")}
    assert _pdf_pages(page.pdf(format="A4", margin=margins)) == 1, "the 派工单 is one page"
    assert _pdf_pages(page.pdf(format="A4", prefer_css_page_size=True)) == 1
    page.emulate_media(media="screen")
    page.goto(f"{served.url}/console/requests/{rid}")
    page.click(".print-transfer")
    page.wait_for_load_state()
    page.emulate_media(media="print")
    assert page.locator("#transfer-order").is_visible()
    assert words[:20] in page.locator("#description").inner_text()
    assert _pdf_pages(page.pdf(format="A4", margin=margins)) == 1, "the 转办单 is one page"
    assert _pdf_pages(page.pdf(format="A4", prefer_css_page_size=True)) == 1
    assert [row[3].split(": ")[1][:3] for row in _prints(served.app, ready.request)] == [
        "派工单",
        "转办单",
    ]


def test_the_page_count_sees_a_second_page(page: Any) -> None:
    """The one-page checks above can fail: a sheet taller than A4 counts two pages."""
    page.set_content("<p>一</p><p style='break-before: page'>二</p>")
    assert _pdf_pages(page.pdf(format="A4")) == 2
    page.set_content("<div style='height: 400mm'>高</div>")
    assert _pdf_pages(page.pdf(format="A4")) == 2
