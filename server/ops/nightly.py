"""The server's nightly job: roll up statistics, mark overdue, purge, close forgotten
check-outs, evaluate the care watch, send the outbox's due messages, fold the metrics counters,
back up, verify the passbook; and the frequent timer's work (care watch, outbox).

On PostgreSQL it holds an advisory lock, so two hosts never run it at once; on SQLite an
exclusive file lock in the instance folder does the same on the one host. Each step commits
its own work and is safe to re-run after a crash half-way.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask

from server import localtime
from server.errors import LinliError
from server.extensions import db
from server.localtime import local_midnight
from server.ops.backup import make_backup
from server.requests.models import Category, HelpRequest, RequestEvent
from server.timeutil import utcnow
from sync.jobs import JobReport
from sync.statuses import CLOSED, FINAL

LOCK_KEY = 0x4C494E4C49  # "LINLI": the advisory lock every host's nightly job takes


class AlreadyRunning(LinliError):
    """Another host (or process) is running the nightly job."""

    status = 409
    code = "nightly_running"


@contextmanager
def exclusive(app: Flask) -> Iterator[None]:
    """Hold the nightly lock for the duration, or raise `AlreadyRunning`."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))).scalar_one()
            conn.commit()
            if not got:
                raise AlreadyRunning("the nightly job is already running on another host")
            try:
                yield
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
                conn.commit()
        return
    path = Path(app.instance_path) / "nightly.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunning("the nightly job is already running") from exc
        yield
    finally:
        os.close(fd)


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC start and end of a local calendar day (23 or 25 hours long across a DST change)."""
    return local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)


def rollup(days: int, zone: ZoneInfo, now: datetime) -> str:
    """Recompute `daily_stat` rows for the last `days` local days (idempotent)."""
    from server.ops.models import DailyStat

    today = now.astimezone(zone).date()
    written = 0
    for offset in range(1, days + 1):
        day = today - timedelta(days=offset)
        start, end = local_day_bounds(day, zone)
        db.session.execute(sa.delete(DailyStat).where(DailyStat.day == day))
        received_rows = db.session.execute(
            sa.select(
                HelpRequest.community_id,
                Category.code,
                sa.func.count(),
                sa.func.sum(sa.case((HelpRequest.is_urgent, 1), else_=0)),
            )
            .join(Category, HelpRequest.category_id == Category.id)
            .where(HelpRequest.received_at >= start, HelpRequest.received_at < end)
            .group_by(HelpRequest.community_id, Category.code)
        ).all()
        finished_rows = db.session.execute(
            sa.select(
                HelpRequest.community_id, Category.code, RequestEvent.to_status, sa.func.count()
            )
            .join(HelpRequest, RequestEvent.request_id == HelpRequest.id)
            .join(Category, HelpRequest.category_id == Category.id)
            .where(
                RequestEvent.at >= start,
                RequestEvent.at < end,
                RequestEvent.to_status.in_(["completed", *sorted(FINAL)]),
            )
            .group_by(HelpRequest.community_id, Category.code, RequestEvent.to_status)
        ).all()
        received = {(c, code): (n, urgent or 0) for c, code, n, urgent in received_rows}
        finished = {(c, code, status): n for c, code, status, n in finished_rows}
        keys = set(received) | {(c, code) for c, code, _status in finished}
        for community_id, code in sorted(keys):
            count, urgent = received.get((community_id, code), (0, 0))
            db.session.add(
                DailyStat(
                    day=day,
                    community_id=community_id,
                    category=code,
                    received=count,
                    urgent=urgent,
                    completed=finished.get((community_id, code, "completed"), 0),
                    closed=sum(finished.get((community_id, code, s), 0) for s in CLOSED),
                    cancelled=finished.get((community_id, code, "cancelled"), 0),
                )
            )
            written += 1
        db.session.commit()
    return f"{written} daily rows for the last {days} day(s)"


def mark_overdue(now: datetime) -> str:
    """Record, once, each open request that missed its category's deadline, and tell the
    groups concerned. The nightly job and the periodic timer both run it: each mark is a
    conditional update, so a request raced by both is marked and told by one of them."""
    from server.requests.services import notify_overdue, overdue_clause

    categories = list(db.session.execute(sa.select(Category)).scalars())
    late = list(
        db.session.execute(
            sa.select(HelpRequest).where(
                overdue_clause(categories, now),
                HelpRequest.overdue_marked_at.is_(None),
                HelpRequest.status.not_in(sorted(FINAL)),
            )
        ).scalars()
    )
    marked = 0
    for req in late:
        claimed = db.session.execute(
            sa.update(HelpRequest)
            .where(HelpRequest.id == req.id, HelpRequest.overdue_marked_at.is_(None))
            .values(overdue_marked_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue  # the other runner marked it first
        db.session.refresh(req, ["overdue_marked_at"])
        db.session.add(
            RequestEvent(
                request_id=req.id, at=now, actor="nightly", note="overdue: deadline missed"
            )
        )
        notify_overdue(req)
        marked += 1
    db.session.commit()
    return f"{marked} request(s) newly marked overdue"


def purge(retention_days: int, now: datetime) -> str:
    """Erase residents' words and phone numbers from requests finished before the retention,
    with every copy (notes, escalations, kiosk change rows), and the content of operations
    rejected or in conflict before it."""
    from server.privacy import Needles
    from server.requests.erasure import purge_refusals, strip_requests

    cutoff = now - timedelta(days=retention_days)
    stale = list(
        db.session.execute(
            sa.select(HelpRequest).where(
                HelpRequest.status.in_(sorted(FINAL)),
                HelpRequest.updated_at < cutoff,
                HelpRequest.personal_data_purged_at.is_(None),
            )
        ).scalars()
    )
    needles = Needles.of([req.phone for req in stale], [])
    strip_requests(stale, needles, f"(purged after {retention_days} days: retention)")
    for req in stale:
        req.personal_data_purged_at = now
        db.session.add(
            RequestEvent(
                request_id=req.id,
                at=now,
                actor="nightly",
                note=f"personal data purged after {retention_days} days (retention)",
            )
        )
    refusals = purge_refusals(cutoff)
    db.session.commit()
    return (
        f"{len(stale)} finished request(s) purged of personal data; "
        f"{refusals} rejected or conflicting operation(s) emptied"
    )


def close_forgotten_checkouts(now: datetime) -> str:
    """Close volunteers' check-ins left open too long (flagged for a social worker)."""
    from server.volunteers.services import close_forgotten

    count = close_forgotten(now)
    db.session.commit()
    return f"{count} forgotten check-out(s) closed and flagged"


def care_watch(now: datetime) -> str:
    """Raise the care watch's due follow-up steps (the frequent timer does the same)."""
    from server.carewatch.services import evaluate

    result = evaluate(now)
    db.session.commit()
    return str(result)


def frequent(app: Flask) -> tuple[str, int]:
    """The frequent timer's work: evaluate the care watch under the nightly lock (skipped while
    the nightly job, which evaluates too, or another host holds it), then send the outbox's due
    messages (safe on any number of hosts: each message is claimed). Returns what the
    evaluation did and how many messages were attempted."""
    from server.outbox.delivery import deliver_due

    try:
        with exclusive(app):
            watch = care_watch(utcnow())
    except AlreadyRunning:
        watch = "care watch evaluated elsewhere (lock held)"
    return watch, deliver_due()


def deliver_outbox() -> str:
    """Send the outbox messages that are due (the periodic timer does the same more often)."""
    from server.outbox.delivery import deliver_due

    return f"{deliver_due()} outbox message(s) attempted"


def verify_passbook() -> str:
    """Verify every passbook's hash chain in full and move the intact chains' checkpoints
    forward; they are committed even when another chain is broken (which fails the step)."""
    from server.passbook import services as passbook

    report = passbook.check_chain()
    passbook.record_checkpoints(report)
    db.session.commit()
    if not report.ok:
        raise passbook.ChainBroken(report)
    return f"chain intact ({report})"


def reconcile_counters() -> str:
    """Fold the /metrics counters' deltas into one row per key, checked against a recount."""
    from server.health.counters import reconcile

    return reconcile()


def run_nightly(app: Flask, backup_dir: Path) -> JobReport:
    """Run every step under the nightly lock (each step commits its own work)."""
    config = app.config
    zone = localtime.zone(config["LINLI_TIMEZONE"])
    report = JobReport()
    now = utcnow()

    def step(name: str, action: Callable[[], str]) -> None:
        def guarded() -> str:
            try:
                return action()
            except Exception:
                db.session.rollback()
                raise

        report.step(name, guarded, (LinliError, sa.exc.SQLAlchemyError, OSError), _describe)

    def backup() -> str:
        url = config["SQLALCHEMY_DATABASE_URI"]
        target = make_backup(url, backup_dir, now, config["LINLI_BACKUP_KEEP"])
        return f"{target.name} written"

    with exclusive(app):
        step("rollup", lambda: rollup(config["LINLI_ROLLUP_DAYS"], zone, now))
        step("overdue", lambda: mark_overdue(now))
        step("purge", lambda: purge(config["LINLI_RETENTION_DAYS"], now))
        step("checkouts", lambda: close_forgotten_checkouts(now))
        step("care watch", lambda: care_watch(now))
        step("outbox", deliver_outbox)
        step("counters", reconcile_counters)
        step("backup", backup)
        step("passbook", verify_passbook)
    return report


def _describe(exc: Exception) -> str:
    return exc.detail if isinstance(exc, LinliError) else f"{type(exc).__name__}: {exc}"
