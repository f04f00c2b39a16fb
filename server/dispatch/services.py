"""Teams, agencies, and escalations to agencies (delivered through the outbox: tracked,
retried, flagged)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class AgencyInput:
    """An agency as an admin describes it: name, kind, contact, and how it receives escalations."""

    name: str
    kind: str
    endpoint_url: str
    contact_name: str | None = None
    contact_phone: str | None = None
    delivery: str = "webhook"
    """webhook: POST JSON to `endpoint_url`; order: a 转办单 with a reply link (no address)."""
    reply_days: int = AGENCY_REPLY_DAYS


def create_agency(
    community_slug: str,
    name: str,
    kind: str,
    endpoint_url: str,
    contact: tuple[str, str] | None = None,
    delivery: str = "webhook",
    reply_days: int = AGENCY_REPLY_DAYS,
) -> Agency:
    """An outside agency of a community, reached by POSTing JSON to `endpoint_url` (delivery
    `webhook`) or by a 转办单 with a reply link (`order`, no address); `reply_days` to reply."""
    community = community_by_slug(community_slug)
    agency = Agency(community_id=community.id)
    contact_name, contact_phone = contact or (None, None)
    set_agency(
        agency,
        AgencyInput(name, kind, endpoint_url, contact_name, contact_phone, delivery, reply_days),
    )
    db.session.add(agency)
    db.session.flush()
    return agency


def set_agency(agency: Agency, given: AgencyInput) -> None:
    """Check and set an agency's name, kind, contact and webhook (new or changed)."""
    if given.kind not in AGENCY_KINDS:
        raise InvalidInput(
            gettext("类型须为以下之一：%(kinds)s", kinds=", ".join(AGENCY_KINDS)), "bad_kind"
        )
    if given.delivery not in AGENCY_DELIVERIES:
        raise InvalidInput(gettext("送达方式须为网络接口或转办单"), "bad_delivery")
    if given.delivery == "webhook" and not given.endpoint_url.startswith(("http://", "https://")):
        raise InvalidInput(gettext("接收地址须为 http(s) 网址"), "bad_url")
    if not 1 <= given.reply_days <= 60:
        raise InvalidInput(gettext("反馈期限须为 1 到 60 天"), "bad_reply_days")
    name = given.name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("机构名称须为1至100个字符"), "bad_name")
    if len(given.endpoint_url) > 500:
        raise InvalidInput(gettext("网址至多500个字符"), "bad_url")
    same = sa.select(Agency.id).where(
        Agency.community_id == agency.community_id, Agency.name == name, Agency.id != agency.id
    )
    if db.session.execute(same).first():
        raise Conflict(gettext("机构“%(name)s”已经有了", name=name), "agency_exists")
    contact_name = (given.contact_name or "").strip() or None
    contact_phone = (given.contact_phone or "").strip() or None
    if contact_name is not None and len(contact_name) > 100:
        raise InvalidInput(gettext("联系人至多100个字符"), "bad_contact")
    if contact_phone is not None and len(contact_phone) > 32:
        raise InvalidInput(gettext("联系电话至多32个字符"), "bad_contact_phone")
    agency.name = name
    agency.kind = given.kind
    agency.endpoint_url = given.endpoint_url if given.delivery == "webhook" else ""
    agency.delivery = given.delivery
    agency.reply_days = given.reply_days
    agency.contact_name = contact_name
    agency.contact_phone = contact_phone
    db.session.flush()


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


def update_team(team: Team, name: str, category_codes: list[str], lead: str | None) -> None:
    """Rename a team, set the categories it takes (its scope) and its lead (None: no lead)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("服务队名称须为1至100个字符"), "bad_name")
    same = sa.select(Team.id).where(
        Team.community_id == team.community_id, Team.name == name, Team.id != team.id
    )
    if db.session.execute(same).first():
        raise Conflict(gettext("队伍 %(name)s 已存在", name=repr(name)), "team_exists")
    team.name = name
    team.category_codes = list(category_codes)
    if lead:
        set_team_lead(team, lead)
    else:
        team.lead_user_id = None
    db.session.flush()
