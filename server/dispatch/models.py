"""Teams that take dispatched requests, outside agencies, and escalation deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

AGENCY_KINDS = ("department", "charity", "property")
ESCALATION_KIND = "escalation"
"""The outbox kind of escalation deliveries (settings LINLI_ESCALATION_*)."""
AGENCY_REPLY_DAYS = 3
"""Days an agency has to reply to an escalation, unless the agency has its own `reply_days`:
the 转办单's reply due date is the escalation's creation plus these days."""
AGENCY_DELIVERIES = ("webhook", "order")
"""How an agency receives escalations: a JSON webhook, or a 转办单 (printed or e-mailed) whose
reply link the agency answers on a page without an account."""


class Team(db.Model):  # type: ignore[name-defined,misc]
    """A volunteer team (e.g. 小蜜蜂 repairs) and the categories it takes."""

    __tablename__ = "team"
    __table_args__ = (sa.UniqueConstraint("community_id", "name"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    category_codes: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    lead_user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user_account.id"))
    is_active: so.Mapped[bool] = so.mapped_column(default=True)


class Agency(db.Model):  # type: ignore[name-defined,misc]
    """An outside body requests are escalated to; deliveries POST JSON to `endpoint_url`."""

    __tablename__ = "agency"
    __table_args__ = (sa.UniqueConstraint("community_id", "name"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    endpoint_url: so.Mapped[str] = so.mapped_column(sa.String(500))
    """The webhook's address; empty for an agency reached by 转办单."""
    contact_name: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    """Whom staff phone at the agency about an escalation."""
    contact_phone: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    delivery: so.Mapped[str] = so.mapped_column(
        sa.String(16), default="webhook", server_default="webhook"
    )
    """webhook or order (see `AGENCY_DELIVERIES`)."""
    reply_days: so.Mapped[int] = so.mapped_column(
        default=AGENCY_REPLY_DAYS, server_default=str(AGENCY_REPLY_DAYS)
    )
    """Days this agency has to reply to an escalation."""


class Escalation(db.Model):  # type: ignore[name-defined,misc]
    """A hand-off of a request to an agency, and the state of its delivery."""

    __tablename__ = "escalation"
    __table_args__ = (
        # The queue's "delivery failed" flag reads only the failed few (0010_city).
        sa.Index(
            "ix_escalation_failed",
            "request_id",
            postgresql_where=sa.text("delivery_status = 'failed'"),
            sqlite_where=sa.text("delivery_status = 'failed'"),
        ),
    )
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    request_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("help_request.id"), index=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"))
    delivery_status: so.Mapped[str] = so.mapped_column(sa.String(16), default="pending", index=True)
    """pending (to try or retry), delivered, failed (attempts used up: flagged to staff), or
    order (no webhook: handed over as a 转办单 with a reply link)."""
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    next_attempt_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    delivered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    payload: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    agency: so.Mapped[Agency] = so.relationship(lazy="joined")

    @property
    def reply_due(self) -> datetime:
        """When the agency's reply is due: the escalation plus the agency's reply days."""
        return self.created_at + timedelta(days=self.agency.reply_days)
