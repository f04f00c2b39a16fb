"""Where a community's notifications go, and one row per notification sent to one channel."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

CHANNEL_KINDS = ("wecom", "dingtalk", "sms")
"""企业微信 group robot, 钉钉 group robot, SMS through Alibaba Cloud's SendSms."""
EVENTS = ("dispatch", "reassign", "emergency", "overdue")


def outbox_kind(channel_kind: str) -> str:
    """The outbox kind of a notification to a channel of this kind (`ref_id`: the row)."""
    return f"notify_{channel_kind}"


class NotifyChannel(db.Model):  # type: ignore[name-defined,misc]
    """A group robot or SMS sender of a community; a team's own group when `team_id` is set.

    `url` (a robot's webhook, whose key or token is in it) and `secret` (钉钉's signing secret,
    the SMS AccessKey secret) are credentials: pages show them masked, never in full.
    `failed_at`: a notification to it was given up (flagged on the console until one
    gets through).
    """

    __tablename__ = "notify_channel"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    team_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("team.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    url: so.Mapped[str] = so.mapped_column(sa.String(500))
    secret: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    key_id: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    """SMS: the AccessKey id the request is signed with."""
    sign_name: so.Mapped[str | None] = so.mapped_column(sa.String(50))
    """SMS: the approved signature (签名) the text is sent under."""
    template_code: so.Mapped[str | None] = so.mapped_column(sa.String(50))
    """SMS: the approved template, with the variables event, building and category."""
    phones: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    """SMS: the team leads' numbers, comma-separated."""
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    failed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class Notification(db.Model):  # type: ignore[name-defined,misc]
    """One event of a request told to one channel. `event_key` (event, request, occurrence,
    channel) is unique: the last guard against telling one occurrence twice."""

    __tablename__ = "notification"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    request_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("help_request.id"), index=True)
    channel_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("notify_channel.id"), index=True)
    channel: so.Mapped[NotifyChannel] = so.relationship()
    event: so.Mapped[str] = so.mapped_column(sa.String(16))
    event_key: so.Mapped[str] = so.mapped_column(sa.String(100), unique=True)
    text: so.Mapped[str] = so.mapped_column(sa.String(300))
    """What the message says (building, category, ticket: nothing personal)."""
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="pending")
    """pending, delivered or failed (given up)."""
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    delivered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
