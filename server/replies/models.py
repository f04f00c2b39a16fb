"""Reply links printed on 转办单 and the replies agencies record through them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

REPLY_STATES = ("accepted", "in_progress", "done", "not_ours")
"""What an agency answers: accepted (已受理), in progress (处理中), done (已办结), not ours
(不属于本单位职责)."""
FINAL_STATES = frozenset({"done", "not_ours"})
PHOTO_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}
"""A photo's first bytes → its type and file ending: only JPEG and PNG are kept."""
"""A reply in one of these uses the link up: the agency has finished with the escalation."""


class ReplyLink(db.Model):  # type: ignore[name-defined,misc]
    """A one-time reply link of one escalation: its random token is kept only as a hash.

    Usable while not revoked (a new link replaces it), not used up (a final reply) and while
    the request is open (closing the request expires it)."""

    __tablename__ = "reply_link"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    escalation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("escalation.id"), index=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    issued_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    issued_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    used_up_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


class AgencyReply(db.Model):  # type: ignore[name-defined,misc]
    """One answer of an agency to an escalation, through a reply link."""

    __tablename__ = "agency_reply"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    escalation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("escalation.id"), index=True)
    link_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("reply_link.id"))
    state: so.Mapped[str] = so.mapped_column(sa.String(16))
    note: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    photo_name: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    """The stored photo's file name (random, chosen here) under the reply photo folder."""
    photo_type: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    """image/jpeg or image/png, as the file's first bytes say (never as the sender claims)."""
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
