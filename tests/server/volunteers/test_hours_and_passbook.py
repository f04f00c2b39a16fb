"""Service hours, the passbook and merchants through the services and the console pages:
the rules, the bad input (a clear message and nothing changed) and who may do what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from server.audit.actor import Actor
from tests.server.seed import Seed, csrf_token, form_post, login


def _state(app: Flask) -> dict[str, Any]:
    """Everything a refused action must leave as it was."""
    from server.extensions import db
    from server.passbook.models import LedgerEntry, PassbookAccount, RedemptionCode
    from server.volunteers.models import ServiceRecord

    with app.app_context():
        records = db.session.execute(
            sa.select(ServiceRecord.id, ServiceRecord.status, ServiceRecord.minutes).order_by(
                ServiceRecord.id
            )
        ).all()
        entries = db.session.execute(sa.select(LedgerEntry.id).order_by(LedgerEntry.id)).all()
        balances = db.session.execute(
            sa.select(PassbookAccount.volunteer_id, PassbookAccount.balance)
        ).all()
        codes = db.session.execute(sa.select(RedemptionCode.id, RedemptionCode.used_at)).all()
        return {
            "records": records,
            "entries": entries,
            "balances": sorted(balances),
            "codes": codes,
        }


def _balance(app: Flask, volunteer_id: int) -> int:
    from server.passbook.services import balance

    with app.app_context():
        return balance(volunteer_id)


def _give_points(app: Flask, volunteer_id: int, points: int) -> None:
    from server.extensions import db
    from server.passbook.services import post

    with app.app_context():
        post(volunteer_id, "bonus", points, f"seed-{volunteer_id}-{points}", "setup", reason="x")
        db.session.commit()


# --- service hours ----------------------------------------------------------------------------


def test_check_in_out_and_approval_post_points_once(ctx: None, seed: Seed) -> None:
    from server.errors import Conflict
    from server.extensions import db
    from server.passbook.services import balance, statement
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0])
    start = utcnow() - timedelta(hours=2, minutes=30)
    record = services.check_in(volunteer, Actor("lead"), at=start, content="修灯")
    with pytest.raises(Conflict, match="签到；请先签退"):
        services.check_in(volunteer, Actor("lead"))
    services.check_out(record, Actor("lead"), at=start + timedelta(minutes=150))
    assert (record.status, record.minutes) == ("pending", 150)
    entry = services.approve(record, Actor("社工"), 10)
    assert entry is not None
    assert entry.points == 25  # floor(150 * 10 / 60)
    assert entry.posting_key == f"hours:{record.id}"
    with pytest.raises(Conflict, match="已由 社工 审核"):
        services.approve(record, Actor("社工"), 10)
    assert balance(volunteer.id) == 25
    assert len(statement(volunteer.id)[0]) == 1


def test_a_check_out_before_the_check_in_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    with app.app_context():
        volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0])
        record = services.check_in(volunteer, Actor("lead"), at=utcnow() - timedelta(minutes=30))
        db.session.commit()
        record_id = record.id
    before = _state(app)
    login(client, "team_lead_lanqiao")
    from server.localtime import zone

    local = zone(app.config["LINLI_TIMEZONE"])
    too_early = (utcnow() - timedelta(hours=3)).astimezone(local).strftime("%Y-%m-%dT%H:%M")
    answer = form_post(
        client,
        f"/volunteers/hours/{record_id}/check-out",
        {"at": too_early},
        "/volunteers/hours",
    )
    assert answer.status_code == 400
    assert "早于签到时间" in answer.get_data(as_text=True)
    assert "没有做任何改动" in answer.get_data(as_text=True)
    assert _state(app) == before


def test_a_check_out_without_a_check_in_is_refused(ctx: None, seed: Seed) -> None:
    from server.errors import Conflict
    from server.extensions import db
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0])
    record = services.add_manual(
        volunteer,
        Actor("社工"),
        started_at=services.utcnow() - timedelta(days=1),
        minutes=60,
        content="paper sheet",
    )
    with pytest.raises(Conflict, match="没有可签退的签到"):
        services.check_out(record, Actor("lead"))


def test_a_forgotten_check_out_is_closed_flagged_and_needs_minutes(ctx: None, seed: Seed) -> None:
    from server.errors import InvalidInput
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][1])
    fresh = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0])
    stale = services.check_in(volunteer, Actor("lead"), at=utcnow() - timedelta(hours=13))
    recent = services.check_in(fresh, Actor("lead"), at=utcnow() - timedelta(hours=1))
    assert services.close_forgotten() == 1
    assert (stale.status, stale.is_auto_closed, stale.minutes) == ("pending", True, None)
    assert "closed automatically" in (stale.decision_note or "")
    assert recent.status == "open"
    with pytest.raises(InvalidInput, match="请填写实际服务的分钟数"):
        services.approve(stale, Actor("社工"), 10)
    assert stale.status == "pending"
    entry = services.approve(stale, Actor("社工"), 10, minutes=90)
    assert entry is not None
    assert entry.points == 15
    assert "minutes set to 90 (was unknown)" in (stale.decision_note or "")


def test_hours_added_by_hand_are_kept_apart(ctx: None, seed: Seed) -> None:
    from server.extensions import db
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import ServiceRecord, Volunteer

    volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0])
    record = services.add_manual(
        volunteer,
        Actor("社工"),
        started_at=utcnow() - timedelta(days=2),
        minutes=120,
        content="敬老院 paper sheet",
        team_id=seed.team["lanqiao"],
    )
    entry = services.approve(record, Actor("社工"), 10)
    assert entry is not None
    assert "(added by hand)" in entry.reason
    assert db.session.get_one(ServiceRecord, record.id).source == "manual"


def test_declined_hours_post_nothing_and_need_a_reason(ctx: None, seed: Seed) -> None:
    from server.errors import InvalidInput
    from server.extensions import db
    from server.passbook.services import balance
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer

    volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0])
    record = services.add_manual(
        volunteer, Actor("社工"), started_at=utcnow() - timedelta(hours=5), minutes=60, content="x"
    )
    with pytest.raises(InvalidInput, match="请填写原因"):
        services.decline(record, Actor("社工"), "  ")
    services.decline(record, Actor("社工"), "no such event that day")
    assert record.status == "declined"
    assert balance(volunteer.id) == 0


def test_a_team_lead_records_hours_only_for_their_team_and_cannot_approve(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    login(client, "team_lead_lanqiao")
    outsider = seed.volunteers["lanqiao"][2]  # not in the lead's team
    member = seed.volunteers["lanqiao"][0]
    page = client.get("/volunteers/hours").get_data(as_text=True)
    assert f'value="{member}"' in page
    assert f'value="{outsider}"' not in page
    before = _state(app)
    answer = form_post(
        client, "/volunteers/hours/check-in", {"volunteer": outsider}, "/volunteers/hours"
    )
    assert answer.status_code == 400
    assert "请选择您的志愿者之一" in answer.get_data(as_text=True)
    assert _state(app) == before
    from server.extensions import db
    from server.timeutil import utcnow
    from tests.server.seed import add_request

    with app.app_context():
        elsewhere = add_request(
            seed.community["lanqiao"], "1-1-101", "plumbing", utcnow(), "dispatched"
        )  # dispatched to no team the lead leads
        db.session.commit()
    answer = form_post(
        client,
        "/volunteers/hours/check-in",
        {"volunteer": member, "request": elsewhere},
        "/volunteers/hours",
    )
    assert answer.status_code == 400
    assert f"求助 #{elsewhere} 不是您的任务" in answer.get_data(as_text=True)
    assert _state(app) == before
    answer = form_post(
        client, "/volunteers/hours/check-in", {"volunteer": member}, "/volunteers/hours"
    )
    assert answer.status_code == 303
    records = _state(app)["records"]
    assert len(records) == 1
    token = csrf_token(client, "/volunteers/hours")
    refused = client.post(f"/volunteers/hours/{records[0].id}/approve", data={"csrf_token": token})
    assert refused.status_code == 403


# --- the passbook, merchants and codes --------------------------------------------------------


def test_a_redemption_beyond_the_balance_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    vid = seed.volunteers["lanqiao"][0]
    _give_points(app, vid, 30)
    login(client, "social_worker_lanqiao")
    page = f"/passbook/merchants/{seed.merchant['lanqiao']}"
    before = _state(app)
    answer = form_post(
        client,
        f"{page}/redeem",
        {"volunteer": vid, "points": 31, "item": "面包", "key": "k1"},
        page,
    )
    assert answer.status_code == 409
    assert "余额 30 积分；不能兑换 31 积分" in answer.get_data(as_text=True)
    assert _state(app) == before
    answer = form_post(
        client,
        f"{page}/redeem",
        {"volunteer": vid, "points": 30, "item": "面包", "key": "k2"},
        page,
    )
    assert answer.status_code == 303
    assert _balance(app, vid) == 0


def test_a_form_sent_twice_posts_once(app: Flask, client: FlaskClient, seed: Seed) -> None:
    vid = seed.volunteers["lanqiao"][0]
    login(client, "social_worker_lanqiao")
    data = {"points": 20, "reason": "春节慰问 helper", "key": "same-form"}
    for _ in range(2):
        answer = form_post(client, f"/passbook/{vid}/bonus", data, f"/passbook/{vid}")
        assert answer.status_code == 303
    assert _balance(app, vid) == 20
    assert len(_state(app)["entries"]) == 1


def test_a_reused_redemption_code_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    import re

    vid = seed.volunteers["lanqiao"][0]
    _give_points(app, vid, 100)
    login(client, "social_worker_lanqiao")
    issued = form_post(client, f"/passbook/{vid}/code", {"points": 40}, f"/passbook/{vid}")
    assert issued.status_code == 200
    match = re.search(r'<p class="code">([A-Z0-9-]+)</p>', issued.get_data(as_text=True))
    assert match, "the new code is not shown"
    code = match.group(1)
    client.post("/logout", data={"csrf_token": csrf_token(client, f"/passbook/{vid}")})

    merchant = client  # the merchant's phone: not signed in, only its page key
    page = f"/merchant/{seed.merchant_key['lanqiao']}"
    too_much = form_post(merchant, page, {"code": code, "points": 41, "item": "米"}, page)
    assert too_much.status_code == 400
    assert "最多兑换 40 积分" in too_much.get_data(as_text=True)
    first = form_post(merchant, page, {"code": code.lower(), "points": 35, "item": "米"}, page)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert "已兑换 35 积分" in first.get_data(as_text=True)
    before = _state(app)
    again = form_post(merchant, page, {"code": code, "points": 5, "item": "油"}, page)
    assert again.status_code == 409
    assert "这个兑换码已于" in again.get_data(as_text=True)
    assert "面包房 lanqiao" in again.get_data(as_text=True)
    assert _state(app) == before
    assert _balance(app, vid) == 65
    other = f"/merchant/{seed.merchant_key['feicui']}"
    assert (
        form_post(merchant, other, {"code": code, "points": 1, "item": "x"}, other).status_code
        == 404
    )
    assert merchant.get("/merchant/not-a-key").status_code == 404


def test_passbook_verify_command(app: Flask, seed: Seed, database_url: str, tmp_path: Any) -> None:
    from server.extensions import db
    from server.passbook.models import LedgerEntry
    from tests.cli import invoke

    vid = seed.volunteers["lanqiao"][0]
    _give_points(app, vid, 10)
    _give_points(app, vid, 15)
    env = {"LINLI_DATABASE_URL": database_url, "LINLI_INSTANCE_DIR": str(tmp_path / "cli")}
    ok = invoke("server", "passbook", "verify", env=env)
    assert ok.stdout.strip() == "passbook: 1 accounts, 2 entries, chain intact"
    with app.app_context():
        db.session.execute(sa.update(LedgerEntry).where(LedgerEntry.seq == 1).values(points=1000))
        db.session.commit()
    broken = invoke("server", "passbook", "verify", env=env, check=False)
    assert broken.returncode == 1
    assert f"volunteer {vid} entry 1 " in broken.stderr
    assert broken.stderr.strip().splitlines()[-1] == (
        "error: 积分簿：1 accounts, 2 entries，2 个问题：账链不完整"
    )


def test_other_communities_records_do_not_exist(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    login(client, "social_worker_feicui")
    vid = seed.volunteers["lanqiao"][0]
    for path in (
        f"/volunteers/{vid}",
        f"/volunteers/{vid}/record",
        f"/passbook/{vid}",
        f"/passbook/merchants/{seed.merchant['lanqiao']}",
        f"/reports/{seed.community['lanqiao']}",
        f"/reports/{seed.community['lanqiao']}/needs-map",
        f"/reports/{seed.community['lanqiao']}/requests.csv",
    ):
        assert client.get(path).status_code == 404, path
    before = _state(app)
    answer = form_post(
        client,
        f"/passbook/{vid}/bonus",
        {"points": 5, "reason": "x", "key": "k"},
        "/passbook/merchants",
    )
    assert answer.status_code == 404
    assert _state(app) == before


def test_viewers_read_reports_but_not_passbooks(client: FlaskClient, seed: Seed) -> None:
    login(client, "viewer_lanqiao")
    assert client.get(f"/reports/{seed.community['lanqiao']}").status_code == 200
    assert client.get(f"/passbook/{seed.volunteers['lanqiao'][0]}").status_code == 403
    assert client.get(f"/reports/{seed.community['lanqiao']}/hours.csv").status_code == 403


def test_the_whole_chain_from_a_request_to_a_redemption(ctx: None, seed: Seed) -> None:
    """需求一键上报 → 服务精准对接 → 积分即时兑换: a finished job's hours become points."""
    from server.dispatch.models import Team
    from server.errors import Conflict, InvalidInput
    from server.extensions import db
    from server.passbook.models import Merchant
    from server.passbook.services import balance, redeem, verify_chain
    from server.requests import services as lifecycle
    from server.requests.models import Category, HelpRequest
    from server.timeutil import utcnow
    from server.volunteers import services
    from server.volunteers.models import Volunteer
    from tests.server.seed import add_request

    cid = seed.community["lanqiao"]
    rid = add_request(cid, "3-2-301", "electrical", utcnow() - timedelta(hours=2), "received")
    req = db.session.get_one(HelpRequest, rid)
    actor = lifecycle.Actor("社工")
    electrical = db.session.execute(
        sa.select(Category).where(Category.code == "electrical")
    ).scalar_one()
    lifecycle.triage(req, actor, electrical, "normal", None)
    lifecycle.dispatch(req, actor, db.session.get_one(Team, seed.team["lanqiao"]), "张师傅", None)
    lifecycle.accept(req, actor)
    volunteer = db.session.get_one(Volunteer, seed.volunteers["lanqiao"][0])
    with pytest.raises(InvalidInput, match="只能记已完成的任务"):
        services.record_from_job(req, volunteer, Actor("队长"))
    lifecycle.arrive(req, actor)
    lifecycle.complete(req, actor, "换了灯泡", 1.5)
    record = services.record_from_job(req, volunteer, Actor("队长"))
    assert (record.minutes, record.team_id, record.status) == (90, seed.team["lanqiao"], "pending")
    with pytest.raises(Conflict, match="的时长已记录"):
        services.record_from_job(req, volunteer, Actor("队长"))
    entry = services.approve(record, Actor("社工"), 10)
    assert entry is not None
    assert entry.points == 15
    merchant = db.session.get_one(Merchant, seed.merchant["lanqiao"])
    redeem(volunteer, merchant, 10, "面包", "form-1", Actor("社工"))
    assert balance(volunteer.id) == 5
    assert str(verify_chain(volunteer.id)) == "1 accounts, 2 entries"


def test_registering_a_merchant_shows_its_page_link_once(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    import re

    login(client, "social_worker_lanqiao")
    data = {"community": seed.community["lanqiao"], "name": "老王理发店", "address": "2号楼"}
    answer = form_post(client, "/passbook/merchants", data, "/passbook/merchants")
    assert answer.status_code == 200
    assert 'href="http://localhost/merchant"' in answer.get_data(as_text=True)
    key = re.search(r'<p class="code" id="new-key">([^<]+)</p>', answer.get_data(as_text=True))
    assert key, "the merchant's key is not shown"
    assert key.group(1) not in client.get("/passbook/merchants").get_data(as_text=True)
    entered = form_post(client, "/merchant/key", {"key": key.group(1)}, "/merchant")
    assert entered.status_code == 303
    assert "老王理发店" in client.get("/merchant").get_data(as_text=True)
    again = form_post(client, "/passbook/merchants", data, "/passbook/merchants")
    assert again.status_code == 409
    assert "已登记" in again.get_data(as_text=True)
    foreign = {**data, "community": seed.community["feicui"], "name": "x"}
    refused = form_post(client, "/passbook/merchants", foreign, "/passbook/merchants")
    assert refused.status_code == 400
