"""The kiosk's nightly job: reconcile, refresh, compact, back up, report health.

Every step is safe to re-run after a crash half-way; the job logs what it did and the
command exits non-zero when any step failed (the others still run).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiosk.store import Store, StoreError
from sync.client import SyncEngine, SyncError
from sync.jobs import JobReport
from sync.messages import HealthReport, LostRequest

BACKUP_PREFIX = "kiosk-"
BACKUP_SUFFIX = ".sqlite3"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe(exc: Exception) -> str:
    return exc.detail if isinstance(exc, (SyncError, StoreError)) else str(exc)


def backups(folder: Path) -> list[Path]:
    """Backups in `folder`, oldest first (names sort by time)."""
    return sorted(folder.glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}"))


def run_nightly(
    store: Store,
    engine: SyncEngine,
    backup_dir: Path,
    keep_backups: int = 7,
    compact_after_days: int = 30,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> JobReport:
    """Run every step; failures are recorded and the remaining steps still run."""
    report = JobReport()
    now = clock()

    def step(name: str, action: Callable[[], str]) -> None:
        report.step(name, action, (SyncError, StoreError, OSError), _describe)

    def reconcile() -> str:
        released = store.release_parked()
        requeued = engine.reconcile()
        outcome = engine.sync_once()
        return (
            f"{requeued} re-pushed, {released} parked retried, {outcome.pushed} pushed, "
            f"{outcome.pulled} pulled"
        )

    def refresh() -> str:
        store.forget_cursor()
        return f"{engine.pull()} records re-downloaded"

    def compact() -> str:
        removed = store.compact(now - timedelta(days=compact_after_days))
        return f"{removed} acknowledged operations older than {compact_after_days} days removed"

    def backup() -> str:
        target = backup_dir / f"{BACKUP_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}{BACKUP_SUFFIX}"
        store.backup_to(target)
        old = backups(backup_dir)[:-keep_backups] if keep_backups > 0 else []
        for path in old:
            path.unlink(missing_ok=True)
        return f"{target.name} written, {len(old)} old backup(s) removed"

    def health() -> str:
        status = store.status()
        kept = backups(backup_dir)
        last_backup = (
            datetime.strptime(
                kept[-1].name[len(BACKUP_PREFIX) : -len(BACKUP_SUFFIX)], "%Y%m%dT%H%M%SZ"
            ).replace(tzinfo=UTC)
            if kept
            else None
        )
        engine.report_health(
            HealthReport(
                queued=status["queued"],
                oldest_queued_at=_parse_time(status["oldest_queued_at"]),
                last_sync_at=_parse_time(status["last_sync_at"]),
                rejected=status["rejected"],
                db_bytes=store.path.stat().st_size,
                free_bytes=shutil.disk_usage(store.path.parent).free,
                last_backup_at=last_backup,
                integrity=store.integrity_check(),
                software="linli-kiosk",
                parked=status["parked"],
                lost=[LostRequest.model_validate(c) for c in store.lost_candidates()],
            )
        )
        return "reported"

    step("reconcile", reconcile)
    step("refresh", refresh)
    step("compact", compact)
    step("backup", backup)
    step("health", health)
    return report
