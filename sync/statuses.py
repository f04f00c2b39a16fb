"""A help request's statuses and their groups: defined once, for the server and the kiosk.

The server moves a request through these statuses (its lifecycle in `server/requests`); the
kiosk receives them in pull changes and shows them in plain words. Both import them from here,
so a status added on one side cannot be missing on the other.
"""

from __future__ import annotations

from typing import Literal, get_args

RequestStatus = Literal[
    "received",
    "triaged",
    "dispatched",
    "accepted",
    "on_site",
    "completed",
    "followed_up",
    "closed_fixed",
    "closed_not_fixed",
    "escalated",
    "external_feedback",
    "cancelled",
    "duplicate",
    "reopened",
]
STATUSES: tuple[RequestStatus, ...] = get_args(RequestStatus)
"""Every status, in lifecycle order."""

# --- stages: every status is in exactly one ----------------------------------------------

NEW: frozenset[RequestStatus] = frozenset({"received", "reopened", "triaged"})
"""Not yet handed to a team."""
ACTIVE_WORK: frozenset[RequestStatus] = frozenset({"dispatched", "accepted", "on_site"})
"""A team holds the job."""
ESCALATED: frozenset[RequestStatus] = frozenset({"escalated", "external_feedback"})
"""With an outside agency."""
AWAITING_CLOSE: frozenset[RequestStatus] = frozenset({"completed", "followed_up"})
"""The work is done; the social worker still follows up and closes."""
CLOSED: frozenset[RequestStatus] = frozenset({"closed_fixed", "closed_not_fixed"})
"""Closed after the work (fixed or not)."""
NOT_SERVED: frozenset[RequestStatus] = frozenset({"cancelled", "duplicate"})
"""Closed without any work."""
STAGES: tuple[frozenset[RequestStatus], ...] = (
    NEW,
    ACTIVE_WORK,
    ESCALATED,
    AWAITING_CLOSE,
    CLOSED,
    NOT_SERVED,
)
"""The stages in lifecycle order: every status is in exactly one."""

# --- groups made of stages and statuses -----------------------------------------------------

FINAL: frozenset[RequestStatus] = CLOSED | NOT_SERVED
"""Closed for good (only a reopen moves it again)."""
OPEN: frozenset[RequestStatus] = frozenset(STATUSES) - FINAL
"""Everything not final: the community still owes the resident something."""
BEFORE_ARRIVAL: frozenset[RequestStatus] = frozenset(
    {"received", "reopened", "triaged", "dispatched", "accepted"}
)
"""Nobody is on site yet: the category's deadline can still be missed."""
UNTRIAGED: frozenset[RequestStatus] = frozenset({"received", "reopened"})
"""Nobody has looked at it since it came in (or came back)."""
NEEDS_ACTION: frozenset[RequestStatus] = NEW | frozenset(
    {"completed", "external_feedback", "followed_up"}
)
"""Waiting for a social worker: triage, dispatch, follow-up or close."""
CANCELLABLE: frozenset[RequestStatus] = frozenset({"received", "triaged"})
"""A kiosk's cancellation takes effect at once; in any other open status staff decide."""
DONE: frozenset[RequestStatus] = AWAITING_CLOSE | CLOSED
"""The work was done (fixed or not)."""
SETTLED: frozenset[RequestStatus] = DONE | FINAL
"""Nothing more is needed from the resident: no cancellation, no waiting."""


def in_order(group: frozenset[RequestStatus]) -> tuple[RequestStatus, ...]:
    """The statuses of `group` in lifecycle order (for lists people read)."""
    return tuple(status for status in STATUSES if status in group)
