"""What the reply page and the console read of reply links and agencies' replies."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from server.auth import access
from server.dispatch.models import Escalation
from server.errors import NotFound
from server.extensions import db
from server.replies.models import AgencyReply, ReplyLink
from server.requests import queries as request_queries
from server.requests.models import HelpRequest
from server.timeutil import utcnow


def order_of(link: ReplyLink) -> request_queries.TransferOrder:
    """The 转办单 facts of a link's escalation: all the reply page shows of the request."""
    escalation = db.session.get_one(Escalation, link.escalation_id)
    req = db.session.get_one(HelpRequest, escalation.request_id)
    return request_queries.transfer_order(req, escalation.id)


def replies_to(escalation_ids: list[int]) -> dict[int, list[AgencyReply]]:
    """The replies to each escalation, oldest first."""
    found: dict[int, list[AgencyReply]] = {i: [] for i in escalation_ids}
    if not escalation_ids:
        return found
    rows = db.session.execute(
        sa.select(AgencyReply)
        .where(AgencyReply.escalation_id.in_(escalation_ids))
        .order_by(AgencyReply.at, AgencyReply.id)
    ).scalars()
    for reply in rows:
        found[reply.escalation_id].append(reply)
    return found


def reply_overdue(escalation: Escalation, replied: bool, now: datetime | None = None) -> bool:
    """True when the agency has not replied and its reply due date has passed while the
    request still waits for it (已转交)."""
    if replied:
        return False
    req_status = db.session.execute(
        sa.select(HelpRequest.status).where(HelpRequest.id == escalation.request_id)
    ).scalar_one()
    return req_status == "escalated" and escalation.reply_due < (now or utcnow())


def replies_since(
    community_id: int, since: datetime
) -> list[tuple[AgencyReply, Escalation, HelpRequest]]:
    """The community's agency replies since `since`, oldest first (the joint meeting's sheet)."""
    rows = db.session.execute(
        sa.select(AgencyReply, Escalation, HelpRequest)
        .join(Escalation, Escalation.id == AgencyReply.escalation_id)
        .join(HelpRequest, HelpRequest.id == Escalation.request_id)
        .where(HelpRequest.community_id == community_id, AgencyReply.at >= since)
        .order_by(AgencyReply.at, AgencyReply.id)
    ).all()
    return [(reply, escalation, req) for reply, escalation, req in rows]


def photo_of(reply_id: int) -> tuple[AgencyReply, HelpRequest]:
    """A reply with a photo, of a request in the user's communities, or 404."""
    reply = db.session.get(AgencyReply, reply_id)
    if reply is None or reply.photo_name is None:
        raise NotFound(gettext("没有这张照片"))
    escalation = db.session.get_one(Escalation, reply.escalation_id)
    req = db.session.get_one(HelpRequest, escalation.request_id)
    access.require_community(req.community_id)
    return reply, req
