"""The counters behind /metrics: summed from the deltas the triggers append, and reconciled
with a recount of the truth by the nightly job (migration 0018_city2 installs the triggers)."""

from __future__ import annotations

import sqlalchemy as sa

from server.extensions import db
from server.health.models import MetricCount

Key = tuple[str, int, str]
"""(counter name, community id or 0, label)."""

RECOUNT = {
    "requests": "SELECT community_id, status, count(*) FROM help_request GROUP BY 1, 2",
    "sync_ops": "SELECT 0, status, count(*) FROM applied_op GROUP BY 2",
    "sync_conflicts": "SELECT 0, '', count(*) FROM sync_conflict",
}
"""Each counter from the rows it counts: what the triggers' deltas must add up to."""
COUNTED_TABLES = ("help_request", "applied_op", "sync_conflict")


def totals() -> dict[Key, int]:
    """Every counter's current value (the sum of its deltas), zero counters left out."""
    rows = db.session.execute(
        sa.select(
            MetricCount.name, MetricCount.community_id, MetricCount.label,
            sa.func.sum(MetricCount.value),
        ).group_by(MetricCount.name, MetricCount.community_id, MetricCount.label)
    ).all()  # fmt: skip
    return {(n, c, label): int(v) for n, c, label, v in rows if v}


def reconcile() -> str:
    """Recount every counter from its table and fold the deltas into one row per key.

    On PostgreSQL the counted tables are locked in SHARE mode for the recount (writers wait a
    second or so, at night), so no change can land between the recount and the fold; SQLite
    has one writer anyway. Says how many counters had drifted from the truth (none, unless a
    row was changed with the triggers off, e.g. by a bulk load).
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text(f"LOCK TABLE {', '.join(COUNTED_TABLES)} IN SHARE MODE"))
    before = totals()
    truth: dict[Key, int] = {}
    for name, sql in RECOUNT.items():
        for community_id, label, value in db.session.execute(sa.text(sql)):
            if value:
                truth[(name, int(community_id), str(label))] = int(value)
    db.session.execute(sa.delete(MetricCount))
    if truth:
        rows = [
            {"name": n, "community_id": c, "label": label, "value": v}
            for (n, c, label), v in truth.items()
        ]
        db.session.execute(sa.insert(MetricCount), rows)
    drifted = sum(1 for key in before.keys() | truth.keys() if before.get(key) != truth.get(key))
    db.session.commit()
    return f"{len(truth)} counter(s) folded, {drifted} corrected"
