"""Prometheus text exposition of Linli's own counters, read from the database.

Everything comes from the database, so every worker and host answers the same. The request
and operation counts are the counters the triggers keep (server.health.counters), not a count
of the tables: a scrape reads a few thousand rows however large the city.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from server.communities.models import Community
from server.extensions import db
from server.health import counters
from server.kiosks.models import Kiosk
from server.timeutil import utcnow


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs.items())) + "}"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {value:g}")


OUTCOMES = ("applied", "rejected")


def render() -> str:
    """The current metrics in Prometheus text format 0.0.4."""
    out = _Writer()
    counts = counters.totals()
    out.family(
        "linli_sync_operations_total",
        "counter",
        "Operations answered for the first time, by outcome.",
        [
            ({"outcome": s}, float(counts.get(("sync_ops", 0, s), 0)))
            for s in ("applied", "rejected")
        ],
    )
    duplicates = db.session.execute(sa.select(sa.func.sum(Kiosk.duplicates))).scalar() or 0
    out.family(
        "linli_sync_duplicates_total",
        "counter",
        "Replayed operations answered as duplicates.",
        [({}, float(duplicates))],
    )
    out.family(
        "linli_sync_conflicts_total",
        "counter",
        "Replays whose content differed from the first copy (recorded, not applied).",
        [({}, float(counts.get(("sync_conflicts", 0, ""), 0)))],
    )
    slugs = {c: s for c, s in db.session.execute(sa.select(Community.id, Community.slug))}
    requests = sorted(
        (slugs[c], state, n)
        for (name, c, state), n in counts.items()
        if name == "requests" and c in slugs
    )
    out.family(
        "linli_requests",
        "gauge",
        "Help requests by community and state.",
        [({"community": c, "state": s}, float(n)) for c, s, n in requests],
    )
    now = utcnow()
    kiosks = db.session.execute(
        sa.select(Kiosk, Community.slug)
        .join(Community, Kiosk.community_id == Community.id)
        .where(Kiosk.revoked_at.is_(None), Kiosk.enrolled_at.is_not(None))
        .order_by(Kiosk.name)
    ).all()
    out.family(
        "linli_kiosk_sync_lag_seconds",
        "gauge",
        "Seconds since the kiosk's last push or pull reached this server (server clock).",
        [
            (
                {"kiosk": k.name, "community": c},
                (now - k.last_seen_at).total_seconds() if k.last_seen_at else -1.0,
            )
            for k, c in kiosks
        ],
    )
    out.family(
        "linli_kiosk_queued",
        "gauge",
        "Operations waiting in the kiosk's outbox at its last health report.",
        [
            ({"kiosk": k.name, "community": c}, float((k.health or {}).get("queued", 0)))
            for k, c in kiosks
            if k.health is not None
        ],
    )
    out.family(
        "linli_kiosk_parked",
        "gauge",
        "Operations the kiosk set aside because the server kept failing on them (last report).",
        [
            ({"kiosk": k.name, "community": c}, float((k.health or {}).get("parked", 0)))
            for k, c in kiosks
            if k.health is not None
        ],
    )
    out.family(
        "linli_kiosk_cloned",
        "gauge",
        "1 when a second kiosk process with this kiosk's identity and another history was seen.",
        [({"kiosk": k.name, "community": c}, float(k.cloned_at is not None)) for k, c in kiosks],
    )
    out.family(
        "linli_kiosk_last_seq",
        "gauge",
        "The highest operation sequence received per kiosk.",
        [({"kiosk": k.name, "community": c}, float(k.last_seq)) for k, c in kiosks],
    )
    return "\n".join(out.lines) + "\n"
