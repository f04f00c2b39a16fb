"""Reply due dates per agency and overdue replies flagged on the request page and the queue;
failed webhook deliveries said in plain words."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from server.outbox.words import delivery_problem
from tests.security.test_agency_replies import _escalate_by_order, issue_link
from tests.server.conftest import World, csrf_token, login


def test_a_reply_past_its_agencys_days_is_flagged_until_the_agency_answers(
    app: Flask, world: World
) -> None:
    from server.dispatch.models import Escalation
    from server.extensions import db

    escalation_id = _escalate_by_order(app, world, "lanqiao")  # the agency has 2 days
    link = issue_link(app, world, "lanqiao", escalation_id)
    rid = world.requests["lanqiao"]
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    assert "部门反馈已逾期" not in client.get(f"/console/requests/{rid}").get_data(as_text=True)
    with app.app_context():
        escalation = db.session.get_one(Escalation, escalation_id)
        escalation.created_at -= timedelta(days=2, minutes=1)
        db.session.commit()
    page = client.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "部门反馈已逾期" in page
    queue = client.get("/console/queue?view=all").get_data(as_text=True)
    assert 'class="flag reply-overdue"' in queue

    agency = app.test_client()
    token = csrf_token(agency, link)
    assert agency.post(link, data={"state": "accepted", "csrf_token": token}).status_code == 200
    page = client.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "部门反馈已逾期" not in page
    assert "已受理" in page
    assert 'class="flag reply-overdue"' not in client.get("/console/queue?view=all").get_data(
        as_text=True
    )


def test_the_transfer_order_names_the_agencys_own_reply_days(app: Flask, world: World) -> None:
    escalation_id = _escalate_by_order(app, world, "lanqiao")
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    rid = world.requests["lanqiao"]
    order = client.get(f"/console/requests/{rid}/escalations/{escalation_id}/transfer-order")
    assert "（转办后 2 天）" in order.get_data(as_text=True)


def test_delivery_problems_are_plain_words_never_exception_names(app: Flask) -> None:
    errors = [
        "ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded",
        "ReadTimeout: HTTPConnectionPool(host='x', port=80): Read timed out.",
        "SSLError: certificate verify failed",
        "MissingSchema: Invalid URL 'x'",
        "HTTP 503",
        "HTTP 404",
        "HTTP 401",
        "HTTP 422",
        "ChunkedEncodingError: broken",
    ]
    with app.test_request_context():
        said = [delivery_problem(e) for e in errors]
    assert said[0] == "连不上对方的接收地址（对方服务器未开或网络不通）"
    assert said[1] == "对方在规定时间内没有应答"
    assert "503" in said[4]
    assert "404" in said[5]
    assert "401" in said[6]
    assert "422" in said[7]
    for words in said:
        assert "Error" not in words
        assert "HTTPConnectionPool" not in words
        assert "Timeout" not in words


def test_the_cli_creates_an_agency_reached_by_transfer_order_with_its_own_reply_days(
    app: Flask, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from server import cli
    from server.dispatch.models import Agency
    from server.extensions import db

    monkeypatch.setattr(cli, "_app", lambda: app)
    args = ["agency", "create", "--community", "lanqiao", "--name", "街道办", "--kind"]
    result = CliRunner().invoke(
        cli.server_group, [*args, "department", "--delivery", "order", "--reply-days", "5"]
    )
    assert result.exit_code == 0, result.output
    webhook = ["agency", "create", "--community", "lanqiao", "--name", "x", "--kind", "charity"]
    refused = CliRunner().invoke(cli.server_group, webhook)
    assert refused.exit_code != 0  # a webhook agency needs its address
    assert "http(s)" in str(refused.exception) or "http(s)" in refused.output
    with app.app_context():
        agency = db.session.execute(sa.select(Agency).where(Agency.name == "街道办")).scalar_one()
        assert (agency.delivery, agency.reply_days, agency.endpoint_url) == ("order", 5, "")
