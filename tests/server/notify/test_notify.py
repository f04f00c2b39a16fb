"""Notifications against local fake providers on loopback (real HTTP): one message per event
to each channel concerned, with the building and category and nothing personal; a failing
robot retried and then flagged; exactly once when the timer and the after-commit sender race."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login, make_request, post
from tests.server.notify.conftest import DING_SECRET, SMS_KEY_ID, SMS_SECRET, Provider

PHONE = re.compile(r"1[3-9][0-9]{9}")
LEAD_PHONE = "13911112222"


def _channels(app: Flask, world: World, provider: Provider, slug: str = "lanqiao") -> None:
    """The community's 钉钉 group (signed), the team's 企业微信 group and the lead's SMS."""
    from server.audit.actor import Actor
    from server.extensions import db
    from server.notify.services import ChannelSpec, add_channel

    cid, team = world.community[slug], world.teams[slug]
    setup = Actor("setup")
    with app.app_context():
        add_channel(
            cid,
            ChannelSpec(
                "dingtalk",
                "社区群",
                provider.url("/dingtalk?access_token=DINGTOKEN77"),
                DING_SECRET,
            ),
            setup,
        )
        add_channel(
            cid,
            ChannelSpec("wecom", "小蜜蜂群", provider.url("/wecom?key=WECOMKEY88"), team_id=team),
            setup,
        )
        add_channel(
            cid,
            ChannelSpec(
                "sms",
                "队长短信",
                provider.url("/sms"),
                SMS_SECRET,
                SMS_KEY_ID,
                "邻里",
                "SMS_1",
                LEAD_PHONE,
                team,
            ),
            setup,
        )
        db.session.commit()


def _states(app: Flask, rid: int) -> list[tuple[str, str, str, int]]:
    from server.extensions import db
    from server.notify.models import Notification

    with app.app_context():
        rows = db.session.execute(
            sa.select(Notification).where(Notification.request_id == rid).order_by(Notification.id)
        ).scalars()
        return [(n.event, n.channel.kind, n.status, n.attempts) for n in rows]


def _nothing_personal(provider: Provider) -> None:
    for message in provider.accepted:
        words = str(message["body"]) if message["path"] != "/sms" else message["text"]
        assert not PHONE.search(words), words
        for secret in ("RESIDENT-", "SECRET-", "灯坏了", "客厅灯不亮"):
            assert secret not in words


def _dispatch(client: FlaskClient, rid: int, team: int) -> None:
    triaged = post(
        client, f"/console/requests/{rid}/triage", {"category": "electrical", "priority": "normal"}
    )
    assert triaged.status_code == 303, triaged.get_data(as_text=True)
    answer = post(
        client, f"/console/requests/{rid}/dispatch", {"team": str(team), "volunteers": "张拓"}
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)


def test_a_dispatch_is_told_once_to_each_group_and_the_lead(
    app: Flask, client: FlaskClient, world: World, provider: Provider
) -> None:
    _channels(app, world, provider)
    rid = world.requests["lanqiao"]
    login(client, "social_worker_lanqiao")
    _dispatch(client, rid, world.teams["lanqiao"])
    paths = sorted(m["path"] for m in provider.accepted)
    assert paths == ["/dingtalk", "/sms", "/wecom"], provider.refused
    for message in provider.accepted:
        assert "3号楼" in message["text"]
        assert "照明/电路" in message["text"]
    wecom = next(m for m in provider.accepted if m["path"] == "/wecom")
    assert wecom["text"].startswith("**新派单** 3号楼 照明/电路，请队长查看")
    sms = next(m for m in provider.accepted if m["path"] == "/sms")
    assert sms["phones"] == LEAD_PHONE
    assert "张拓" not in str([m["body"] for m in provider.accepted if m["path"] != "/sms"])
    _nothing_personal(provider)
    assert _states(app, rid) == [
        ("dispatch", "dingtalk", "delivered", 1),
        ("dispatch", "wecom", "delivered", 1),
        ("dispatch", "sms", "delivered", 1),
    ]
    page = client.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert page.count('class="notify-status delivered"') == 3
    assert "DINGTOKEN77" not in page, "no webhook token is shown"
    assert "WECOMKEY88" not in page
    # Nothing is due any more: the timer sends nothing again.
    with app.app_context():
        from server.outbox.delivery import deliver_due

        assert deliver_due() == 0
    assert len(provider.accepted) == 3


def test_a_reassignment_is_told_to_the_new_team_and_the_old(
    app: Flask, client: FlaskClient, world: World, provider: Provider
) -> None:
    from server.audit.actor import Actor
    from server.dispatch.services import create_team
    from server.extensions import db
    from server.notify.services import ChannelSpec, add_channel

    _channels(app, world, provider)
    with app.app_context():
        other = create_team("lanqiao", "帮帮团", ["electrical"]).id
        spec = ChannelSpec("wecom", "帮帮团群", provider.url("/wecom2?key=B"), team_id=other)
        add_channel(world.community["lanqiao"], spec, Actor("setup"))
        db.session.commit()
    rid = world.requests["lanqiao"]
    login(client, "social_worker_lanqiao")
    _dispatch(client, rid, world.teams["lanqiao"])
    provider.accepted.clear()
    assert (
        post(client, f"/console/requests/{rid}/decline", {"reason": "人手不够"}).status_code == 303
    )
    assert (
        post(client, f"/console/requests/{rid}/dispatch", {"team": str(other)}).status_code == 303
    )
    texts = sorted((m["path"], m["text"].split("\n")[0]) for m in provider.accepted)
    assert texts == [
        ("/dingtalk", "**改派** 3号楼 照明/电路，请队长查看"),
        ("/sms", "改派 3号楼 照明/电路"),  # the lead of the team that had it
        ("/wecom", "**改派** 3号楼 照明/电路，请队长查看"),  # the team that had it
        ("/wecom2", "**改派** 3号楼 照明/电路，请队长查看"),  # the team that has it now
    ]
    _nothing_personal(provider)


def test_an_emergency_from_a_kiosk_or_a_caller_is_told_at_once(
    app: Flask, client: FlaskClient, world: World, provider: Provider, enrolled: dict[str, Any]
) -> None:
    from tests.server.syncapi.test_sync_api import op, push

    _channels(app, world, provider)
    answer = push(client, enrolled["token"], [op(1, category="emergency", phone="13800000009")])
    assert answer.get_json()["results"][0]["status"] == "applied"
    # Only the community's group hears: no team has the request yet.
    assert [(m["path"], m["text"].split("\n")[0]) for m in provider.accepted] == [
        ("/dingtalk", "**紧急求助** 3号楼 紧急求助，请立即查看")
    ]
    replay = push(client, enrolled["token"], [op(1, category="emergency")])
    assert replay.status_code == 200
    assert len(provider.accepted) == 1, "a replayed push tells nobody again"

    login(client, "social_worker_lanqiao")
    form = {
        "community": str(world.community["lanqiao"]),
        "channel": "phone",
        "category": "emergency",
        "room": "1-1-101",
        "phone": "13800000007",
        "reporter_name": "王阿姨",
        "details": "老伴摔倒了",
    }
    made = post(client, "/console/requests/new", form)
    assert made.status_code == 303, made.get_data(as_text=True)
    assert provider.accepted[-1]["text"].startswith("**紧急求助** 1号楼 紧急求助")
    assert len(provider.accepted) == 2
    _nothing_personal(provider)
    assert "王阿姨" not in str(provider.accepted)


def _run_timer(app: Flask, monkeypatch: pytest.MonkeyPatch) -> str:
    from server import cli

    monkeypatch.setattr(cli, "_app", lambda: app)
    result = CliRunner().invoke(cli.server_group, ["escalations", "deliver"])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_overdue_job_is_told_once_by_the_timer_and_not_again_at_night(
    app: Flask,
    client: FlaskClient,
    world: World,
    provider: Provider,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    from server.extensions import db
    from server.ops.nightly import mark_overdue
    from server.requests.models import HelpRequest
    from server.timeutil import utcnow

    _channels(app, world, provider)
    rid = world.requests["lanqiao"]
    login(client, "social_worker_lanqiao")
    _dispatch(client, rid, world.teams["lanqiao"])
    provider.accepted.clear()
    with app.app_context():
        db.session.get_one(HelpRequest, rid).category.deadline_minutes = 60
        db.session.get_one(HelpRequest, rid).received_at = utcnow() - timedelta(hours=2)
        db.session.commit()
    assert "1 request(s) newly marked overdue" in _run_timer(app, monkeypatch)
    assert sorted(m["path"] for m in provider.accepted) == ["/dingtalk", "/sms", "/wecom"]
    assert all("超时未上门" in m["text"] for m in provider.accepted)
    assert "0 request(s) newly marked overdue" in _run_timer(app, monkeypatch)
    with app.app_context():
        assert mark_overdue(utcnow()) == "0 request(s) newly marked overdue"
    assert len(provider.accepted) == 3
    _nothing_personal(provider)


def _make_due(app: Flask) -> None:
    from server.extensions import db
    from server.outbox.models import OutboxMessage
    from server.timeutil import utcnow

    with app.app_context():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.next_attempt_at.is_not(None))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def test_a_failing_robot_is_retried_then_flagged_on_the_console(
    app: Flask,
    client: FlaskClient,
    world: World,
    provider: Provider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app.config["LINLI_NOTIFY_MAX_ATTEMPTS"] = 3
    _channels(app, world, provider)
    provider.failing = True
    rid = world.requests["lanqiao"]
    login(client, "social_worker_lanqiao")
    _dispatch(client, rid, world.teams["lanqiao"])
    assert {s[2:] for s in _states(app, rid)} == {("pending", 1)}
    queue = client.get("/console/queue").get_data(as_text=True)
    assert 'class="notify-failed"' not in queue, "not flagged while it is being retried"
    _make_due(app)
    assert "3 deliveries attempted" in _run_timer(app, monkeypatch)
    assert {s[2:] for s in _states(app, rid)} == {("pending", 2)}
    _make_due(app)
    _run_timer(app, monkeypatch)
    assert {s[2:] for s in _states(app, rid)} == {("failed", 3)}
    assert len(provider.refused) == 9
    assert provider.accepted == []
    queue = client.get("/console/queue").get_data(as_text=True)
    assert 'class="notify-failed"' in queue
    assert "社区群" in queue
    assert "小蜜蜂群" in queue
    assert "队长短信" in queue
    page = client.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert page.count('class="notify-status failed"') == 3
    assert "310000" in page
    # Nothing more is tried on its own; staff see it until a message gets through.
    _make_due(app)
    assert "0 deliveries attempted" in _run_timer(app, monkeypatch)
    provider.failing = False
    with app.app_context():
        from server.extensions import db

        second = make_request(world.community["lanqiao"], "3-2-302")
        db.session.commit()
    _dispatch(client, second, world.teams["lanqiao"])
    assert len(provider.accepted) == 3
    queue = client.get("/console/queue").get_data(as_text=True)
    assert 'class="notify-failed"' not in queue, "a delivery clears the flag"


def test_the_timer_and_the_after_commit_sender_racing_send_once(
    app: Flask, world: World, provider: Provider
) -> None:
    from server.extensions import db
    from server.notify.services import Occasion, announce
    from server.outbox import delivery
    from server.requests.models import HelpRequest

    _channels(app, world, provider)
    provider.gate = threading.Event()
    rid = world.requests["lanqiao"]
    with app.app_context():
        req = db.session.get_one(HelpRequest, rid)
        occasion = Occasion(
            "emergency", rid, req.community_id, req.ticket, req.room_id, "紧急求助", key="race"
        )
        assert len(announce(occasion)) == 1  # the community's group only
        db.session.commit()
        ready = delivery.take_ready()  # what the app sends right after its commit
    assert len(ready) == 1
    attempted: list[int] = []

    def after_commit() -> None:
        with app.app_context():
            attempted.append(delivery.send(ready))

    def timer() -> None:
        with app.app_context():
            attempted.append(delivery.deliver_due())

    threads = [threading.Thread(target=after_commit), threading.Thread(target=timer)]
    for thread in threads:
        thread.start()
    assert provider.arrived.wait(20)
    provider.gate.set()
    for thread in threads:
        thread.join(30)
    assert sorted(attempted) == [0, 1]
    assert len(provider.accepted) == 1
    assert _states(app, rid) == [("emergency", "dingtalk", "delivered", 1)]


def test_an_administrator_puts_a_dead_robot_right_and_sends_its_failures_again(
    app: Flask, client: FlaskClient, world: World, provider: Provider
) -> None:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.notify.services import ChannelSpec, add_channel
    from tests.procs import free_port
    from tests.server.conftest import csrf_token

    app.config["LINLI_NOTIFY_MAX_ATTEMPTS"] = 1
    dead = f"http://127.0.0.1:{free_port()}/wecom?key=OLDKEY"
    with app.app_context():
        spec = ChannelSpec("wecom", "小蜜蜂群", dead, team_id=world.teams["lanqiao"])
        channel_id = add_channel(world.community["lanqiao"], spec, Actor("setup")).id
        db.session.commit()
    rid = world.requests["lanqiao"]
    login(client, "social_worker_lanqiao")
    _dispatch(client, rid, world.teams["lanqiao"])
    [(_, _, status, _)] = _states(app, rid)
    assert status == "failed"
    admin = app.test_client()
    login(admin, "admin_lanqiao")
    token = csrf_token(admin, "/console/notify")
    assert 'class="notify-failed"' in admin.get("/console/notify").get_data(as_text=True)
    replaced = admin.post(
        f"/console/notify/{channel_id}/credentials",
        data={"csrf_token": token, "url": provider.url("/wecom?key=NEWKEY"), "secret": ""},
    )
    assert replaced.status_code == 303
    assert provider.accepted == [], "replacing the address sends nothing by itself"
    retried = admin.post(f"/console/notify/{channel_id}/retry", data={"csrf_token": token})
    assert retried.status_code == 303
    assert [m["path"] for m in provider.accepted] == ["/wecom"]
    assert _states(app, rid) == [("dispatch", "wecom", "delivered", 1)]
    page = admin.get("/console/notify").get_data(as_text=True)
    assert 'class="notify-failed"' not in page
    assert "NEWKEY" not in page
