"""The counters /metrics reads: kept by triggers in the transaction of each change.

Each change appends a delta row (+1, or -1 and +1 for a request that changes state), so two
transactions never wait for one counter row nor deadlock on two; /metrics sums the deltas by
key (a few thousand rows a day) and the nightly job folds them into one row per key from a
recount of the truth (`server.health.counters.reconcile`).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from server.extensions import db


class MetricCount(db.Model):  # type: ignore[name-defined,misc]
    """One delta (or, after the nightly fold, the total) of one counter."""

    __tablename__ = "metric_count"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(32))
    """'requests' (by community and state), 'sync_ops' (by outcome), 'sync_conflicts'."""
    community_id: so.Mapped[int] = so.mapped_column(sa.Integer)
    """The request's community; 0 for the counters of the whole server."""
    label: so.Mapped[str] = so.mapped_column(sa.String(32))
    """The request's state or the operation's outcome; '' when the counter has none."""
    value: so.Mapped[int] = so.mapped_column(sa.BigInteger)
