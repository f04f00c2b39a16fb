"""Who acts: the one actor type passed to services, timelines and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ActorKind = Literal["user", "kiosk", "merchant", "api", "volunteer", "agency", "system"]

LABEL_LENGTH = 100
"""The actor columns (request events, ledger entries, audit rows) hold this many characters."""


class _User(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def label(self) -> str: ...


@dataclass(frozen=True)
class Actor:
    """A staff user, a kiosk, a merchant's page, an API client or the system (CLI, timer)."""

    label: str
    """How the actor appears in timelines and audit rows."""
    user_id: int | None = None
    """The staff user's id (audit rows keep it); None for anyone else."""
    kind: ActorKind = "system"

    @classmethod
    def of_user(cls, user: _User) -> Actor:
        """The signed-in staff user."""
        return cls(user.label, user.id, "user")

    @classmethod
    def agency(cls, name: str, link_id: int) -> Actor:
        """An outside agency answering through a 转办单's reply link (named by the link's id)."""
        return cls(f"agency:{link_id}:{name}"[:LABEL_LENGTH], None, "agency")

    @classmethod
    def kiosk(cls, name: str) -> Actor:
        """A kiosk, by name (its operations become request events)."""
        return cls(f"kiosk:{name}"[:LABEL_LENGTH], None, "kiosk")

    @classmethod
    def merchant(cls, name: str) -> Actor:
        """A merchant redeeming points on its own page (signed in by its page key)."""
        return cls(f"merchant:{name}"[:LABEL_LENGTH], None, "merchant")

    @classmethod
    def volunteer(cls, name: str, volunteer_id: int) -> Actor:
        """A volunteer on their own phone pages (signed in by their card's link)."""
        return cls(f"volunteer:{volunteer_id}:{name}"[:LABEL_LENGTH], None, "volunteer")

    @classmethod
    def api(cls, token_name: str) -> Actor:
        """A client of an outside API (Open311), by its token's name."""
        return cls(f"open311:{token_name}"[:LABEL_LENGTH], None, "api")


SYSTEM = Actor("system")
"""The server itself, when no person asked (timers, periodic jobs)."""
