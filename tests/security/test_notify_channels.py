"""Notification channels as a hostile user would try them: only administrators configure
them, only in their own communities; their credentials are never shown back in full; every
change is audited; a failed channel is flagged only to the staff of its own community."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from tests.server.conftest import World, csrf_token, login

TOKEN = "dingtalk-access-token-FEICUI-0042"
SECRET = "SEC-signing-secret-FEICUI-9876"
OWN_TOKEN = "wecom-key-LANQIAO-5555"
THEIR_URL = f"https://oapi.example/robot?access_token={TOKEN}"


def _channels(app: Flask, world: World) -> dict[str, int]:
    from server.audit.actor import Actor
    from server.extensions import db
    from server.notify.services import ChannelSpec, add_channel

    with app.app_context():
        theirs = add_channel(
            world.community["feicui"],
            ChannelSpec(
                "dingtalk", "翡翠群", f"https://oapi.example/robot?access_token={TOKEN}", SECRET
            ),
            Actor("setup"),
        )
        ours = add_channel(
            world.community["lanqiao"],
            ChannelSpec("wecom", "蓝桥群", f"https://qyapi.example/send?key={OWN_TOKEN}"),
            Actor("setup"),
        )
        db.session.commit()
        return {"feicui": theirs.id, "lanqiao": ours.id}


def test_only_administrators_of_the_community_see_or_change_its_channels(
    app: Flask, world: World
) -> None:
    ids = _channels(app, world)
    for role in ("social_worker", "team_lead", "viewer"):
        client = app.test_client()
        login(client, f"{role}_lanqiao")
        assert client.get("/console/notify").status_code == 403, role
    admin = app.test_client()
    login(admin, "admin_lanqiao")
    page = admin.get("/console/notify").get_data(as_text=True)
    assert "蓝桥群" in page
    assert "翡翠群" not in page
    token = csrf_token(admin, "/console/notify")
    off = admin.post(f"/console/notify/{ids['feicui']}/active", data={"csrf_token": token})
    assert off.status_code == 404
    stolen = admin.post(
        f"/console/notify/{ids['feicui']}/credentials",
        data={"csrf_token": token, "url": "https://attacker.example/hook", "secret": "x"},
    )
    assert stolen.status_code == 404
    retried = admin.post(f"/console/notify/{ids['feicui']}/retry", data={"csrf_token": token})
    assert retried.status_code == 404
    added = admin.post(
        "/console/notify",
        data={
            "csrf_token": token,
            "community": str(world.community["feicui"]),
            "kind": "wecom",
            "name": "潜入群",
            "url": "https://attacker.example/hook",
        },
    )
    assert added.status_code == 404
    from server.extensions import db
    from server.notify.models import NotifyChannel

    with app.app_context():
        theirs = db.session.get_one(NotifyChannel, ids["feicui"])
        assert theirs.is_active
        assert theirs.url == THEIR_URL
        assert theirs.secret == SECRET
        names = db.session.execute(sa.select(NotifyChannel.name)).scalars().all()
        assert "潜入群" not in names


def test_credentials_are_never_shown_back_in_full(app: Flask, world: World) -> None:
    _channels(app, world)
    admin = app.test_client()
    login(admin, "admin_feicui")
    page = admin.get("/console/notify").get_data(as_text=True)
    assert "翡翠群" in page
    assert TOKEN not in page
    assert SECRET not in page
    assert "9876" in page, "the secret's last four tell it apart"
    assert "https://oapi.example/robot?" in page


def test_adding_and_switching_channels_is_audited(app: Flask, world: World) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    admin = app.test_client()
    login(admin, "admin_lanqiao")
    token = csrf_token(admin, "/console/notify")
    added = admin.post(
        "/console/notify",
        data={
            "csrf_token": token,
            "community": str(world.community["lanqiao"]),
            "kind": "wecom",
            "name": "小蜜蜂群",
            "url": f"https://qyapi.example/send?key={OWN_TOKEN}",
            "team": str(world.teams["lanqiao"]),
        },
    )
    assert added.status_code == 303, added.get_data(as_text=True)
    from server.notify.models import NotifyChannel

    with app.app_context():
        channel_id = db.session.execute(sa.select(NotifyChannel.id)).scalar_one()
    off = admin.post(
        f"/console/notify/{channel_id}/active", data={"csrf_token": token, "active": "0"}
    )
    assert off.status_code == 303
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.action, AuditEntry.what, AuditEntry.actor).where(
                AuditEntry.what.like("notify channel%")
            )
        ).all()
        assert [(a, w) for a, w, _ in rows] == [
            ("create", f"notify channel {channel_id} (wecom)"),
            ("change", f"notify channel {channel_id} off"),
        ]
        assert {actor for *_, actor in rows} == {"admin lanqiao"}
        assert OWN_TOKEN not in str(rows)
        assert not db.session.get_one(NotifyChannel, channel_id).is_active


def test_a_failed_channel_is_flagged_to_its_own_community_only(app: Flask, world: World) -> None:
    from server.extensions import db
    from server.notify.models import NotifyChannel
    from server.timeutil import utcnow

    ids = _channels(app, world)
    with app.app_context():
        db.session.get_one(NotifyChannel, ids["feicui"]).failed_at = utcnow()
        db.session.commit()
    theirs, ours, viewer = app.test_client(), app.test_client(), app.test_client()
    login(theirs, "social_worker_feicui")
    login(ours, "social_worker_lanqiao")
    login(viewer, "viewer_feicui")
    flagged = theirs.get("/console/queue").get_data(as_text=True)
    assert 'class="notify-failed"' in flagged
    assert "翡翠群" in flagged
    assert 'class="notify-failed"' not in ours.get("/console/queue").get_data(as_text=True)
    assert "翡翠群" not in ours.get("/console/queue").get_data(as_text=True)
    assert 'class="notify-failed"' not in viewer.get("/console/queue").get_data(as_text=True)
