"""Teams, agencies, and escalations to agencies (delivered through the outbox: tracked,
retried, flagged)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from server.audit.actor import SYSTEM, Actor
from server.auth.models import User
from server.communities.services import community_by_slug
from server.dispatch.models import (
    AGENCY_DELIVERIES,
    AGENCY_KINDS,
    AGENCY_REPLY_DAYS,
    ESCALATION_KIND,
    Agency,
    Escalation,
    Team,
)
from server.errors import Conflict, InvalidInput
from server.extensions import db
from server.hooks import Hook
from server.localtime import localtime
from server.outbox import services as outbox
from server.outbox.models import OutboxMessage
from server.outbox.words import delivery_problem
from server.timeutil import utcnow

DeliveryNotes = Callable[[Escalation, str, datetime, str], None]
"""Writes a delivery attempt (escalation, actor, when, what happened) on the request's timeline."""
DELIVERY_NOTES: Hook[DeliveryNotes] = Hook("delivery_notes")


def create_team(community_slug: str, name: str, category_codes: list[str]) -> Team:
    """A team of a community taking the given categories."""
    community = community_by_slug(community_slug)
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("服务队名称为 1 到 100 个字符"), "bad_name")
    exists = sa.select(Team.id).where(Team.community_id == community.id, Team.name == name)
    if db.session.execute(exists).first():
        raise Conflict(gettext("服务队 %(name)s 已存在", name=repr(name)), "team_exists")
    team = Team(community_id=community.id, name=name, category_codes=category_codes)
    db.session.add(team)
    db.session.flush()
    return team


def create_agency(
    community_slug: str,
    name: str,
    kind: str,
    endpoint_url: str,
    delivery: str = "webhook",
    reply_days: int = AGENCY_REPLY_DAYS,
) -> Agency:
    """An outside agency of a community, reached by POSTing JSON to `endpoint_url` (delivery
    `webhook`) or by a 转办单 with a reply link (`order`, no address); `reply_days` to reply."""
    community = community_by_slug(community_slug)
    if kind not in AGENCY_KINDS:
        raise InvalidInput(
            gettext("类型须为以下之一：%(kinds)s", kinds=", ".join(AGENCY_KINDS)), "bad_kind"
        )
    if delivery not in AGENCY_DELIVERIES:
        raise InvalidInput(gettext("送达方式须为网络接口或转办单"), "bad_delivery")
    if delivery == "webhook" and not endpoint_url.startswith(("http://", "https://")):
        raise InvalidInput(gettext("接收地址须为 http(s) 网址"), "bad_url")
    if not 1 <= reply_days <= 60:
        raise InvalidInput(gettext("反馈期限须为 1 到 60 天"), "bad_reply_days")
    agency = Agency(
        community_id=community.id,
        name=name.strip(),
        kind=kind,
        endpoint_url=endpoint_url if delivery == "webhook" else "",
        delivery=delivery,
        reply_days=reply_days,
    )
    db.session.add(agency)
    db.session.flush()
    return agency


def retry(escalation: Escalation, actor: Actor) -> None:
    """Staff try a failed or pending delivery again (to the agency's current endpoint), sent
    once this transaction commits."""
    if escalation.delivery_status in ("delivered", "order"):
        raise Conflict(gettext("这次转办已经送达"), "delivered")
    message = outbox.message_for(ESCALATION_KIND, escalation.id)
    if message is None:  # an escalation recorded without its message (by hand, or restored)
        key = f"linli-escalation-{escalation.id}"
        url = escalation.agency.endpoint_url
        message = outbox.enqueue(ESCALATION_KIND, url, escalation.payload, key, escalation.id)
    outbox.retry_now(message, target_url=escalation.agency.endpoint_url)
    escalation.delivery_status = "pending"
    escalation.attempts = message.attempts
    escalation.next_attempt_at = message.next_attempt_at
    note = gettext("将再次尝试送达 %(agency)s", agency=escalation.agency.name)
    DELIVERY_NOTES.get()(escalation, actor.label, utcnow(), note)
    db.session.flush()


def _delivery_attempted(message: OutboxMessage, error: str | None) -> None:
    """Show an attempt's outcome on its escalation and in the request's timeline."""
    escalation = db.session.get(Escalation, message.ref_id)
    if escalation is None:
        return
    escalation.attempts = message.attempts
    escalation.next_attempt_at = message.next_attempt_at
    escalation.last_error = message.last_error
    name = escalation.agency.name
    if error is None:
        escalation.delivery_status = "delivered"
        escalation.delivered_at = message.delivered_at
        note = gettext("已送达 %(agency)s", agency=name)
    elif message.next_attempt_at is None:
        escalation.delivery_status = "failed"
        note = gettext(
            "送达 %(agency)s 失败：已尝试 %(n)s 次（%(error)s），不再自动重试",
            agency=name,
            n=message.attempts,
            error=delivery_problem(error),
        )
    else:
        escalation.delivery_status = "pending"
        note = gettext(
            "第 %(n)s 次送达 %(agency)s 失败（%(error)s），将于 %(at)s 再试",
            n=message.attempts,
            agency=name,
            error=delivery_problem(error),
            at=localtime(message.next_attempt_at),
        )
    DELIVERY_NOTES.get()(escalation, SYSTEM.label, utcnow(), note)


outbox.register_kind(ESCALATION_KIND, outbox.Kind("ESCALATION", _delivery_attempted))


def set_team_lead(team: Team, username: str) -> None:
    """Make a user (a team lead of the team's community) the team's lead."""
    user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or user.roles().get(team.community_id) != "team_lead":
        raise InvalidInput(
            gettext("服务队所在社区没有队长 %(name)s", name=repr(username)), "bad_lead"
        )
    team.lead_user_id = user.id
    db.session.flush()
