"""API tokens for staff integrations, scoped to communities (none listed: all)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.communities.models import Community
from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

api_token_community = sa.Table(
    "api_token_community",
    db.metadata,
    sa.Column("token_id", sa.ForeignKey("api_token.id"), primary_key=True),
    sa.Column("community_id", sa.ForeignKey("community.id"), primary_key=True),
)


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100), unique=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    communities: so.Mapped[list[Community]] = so.relationship(secondary=api_token_community)


class IdempotencyKey(db.Model):  # type: ignore[name-defined,misc]
    """A staff API POST's `Idempotency-Key`: the body it came with and the answer it got."""

    __tablename__ = "api_idempotency_key"
    __table_args__ = (sa.UniqueConstraint("token_id", "key"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("api_token.id"))
    key: so.Mapped[str] = so.mapped_column(sa.String(200))
    body_digest: so.Mapped[str] = so.mapped_column(sa.String(64))
    """SHA-256 of the canonical JSON body."""
    response: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    request_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("help_request.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
