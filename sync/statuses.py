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

FINAL: frozenset[RequestStatus] = frozenset(
    {"closed_fixed", "closed_not_fixed", "cancelled", "duplicate"}
)
"""Closed for good (only a reopen moves it again)."""
OPEN: frozenset[RequestStatus] = frozenset(STATUSES) - FINAL
"""Everything not final: the community still owes the resident something."""
BEFORE_ARRIVAL: frozenset[RequestStatus] = frozenset(
    {"received", "reopened", "triaged", "dispatched", "accepted"}
)
"""Nobody is on site yet: the category's deadline can still be missed."""
ACTIVE_WORK: frozenset[RequestStatus] = frozenset({"dispatched", "accepted", "on_site"})
"""A team holds the job."""
DONE: frozenset[RequestStatus] = frozenset(
    {"completed", "followed_up", "closed_fixed", "closed_not_fixed"}
)
"""The work was done (fixed or not)."""
SETTLED: frozenset[RequestStatus] = DONE | FINAL
"""Nothing more is needed from the resident: no cancellation, no waiting."""
