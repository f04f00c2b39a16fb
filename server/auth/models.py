"""Console users: a role and the communities they work for."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin

from server.communities.models import Community
from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

ROLES = ("admin", "social_worker", "team_lead", "viewer")

user_community = sa.Table(
    "user_community",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("user_account.id"), primary_key=True),
    sa.Column("community_id", sa.ForeignKey("community.id"), primary_key=True),
)


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    """A person who signs in to the console; sees only the communities listed."""

    __tablename__ = "user_account"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    display_name: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    role: so.Mapped[str] = so.mapped_column(sa.String(16))
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    session_generation: so.Mapped[int] = so.mapped_column(default=1)
    """Bumped to end every session of this user at once (password change, deactivation)."""
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_login_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    communities: so.Mapped[list[Community]] = so.relationship(
        secondary=user_community, lazy="selectin"
    )

    def get_id(self) -> str:
        """Flask-Login's session key: id and generation, so bumping it ends old sessions."""
        return f"{self.id}:{self.session_generation}"

    @property
    def community_ids(self) -> frozenset[int]:
        """Ids of the communities this user works for."""
        return frozenset(c.id for c in self.communities)

    @property
    def label(self) -> str:
        """How the user appears in timelines and audit rows."""
        return self.display_name or self.username


class SignInFailure(db.Model):  # type: ignore[name-defined,misc]
    """Failed sign-ins for one user name, known or not, behind the lockout's growing delay.

    Keyed by the lower-cased name as typed, not by user id: unknown names lock out exactly as
    real ones do, so the lockout does not tell an attacker which names exist.
    """

    __tablename__ = "sign_in_failure"
    name: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    failures: so.Mapped[int] = so.mapped_column(default=0)
    locked_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_failed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, index=True)
