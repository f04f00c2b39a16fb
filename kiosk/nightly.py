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
STAMP = "%Y%m%dT%H%M%SZ"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe(exc: Exception) -> str:
    return exc.detail if isinstance(exc, (SyncError, StoreError)) else str(exc)


def _number(path: Path) -> int:
    """The creation number in `kiosk-NUMBER-STAMP.sqlite3`; 0 for an older, unnumbered name."""
    first = path.name[len(BACKUP_PREFIX) :].split("-", 1)[0]
    return int(first) if first.isdigit() and len(first) < 14 else 0


def backups(folder: Path) -> list[Path]:
    """Backups in `folder`, oldest first by the order they were made (never by the clock)."""
    found = folder.glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}")
    return sorted(found, key=lambda p: (_number(p), p.name))


def _backup_time(path: Path) -> datetime | None:
    """The (device clock's) time written into a backup's name."""
    stamp = path.name[: -len(BACKUP_SUFFIX)].rsplit("-", 1)[-1]
    try:
        return datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def make_backup(store: Store, folder: Path, now: datetime, keep: int) -> tuple[Path, int]:
    """Back up the store as the next numbered backup; keep the newest `keep` (0: all).

    Leftovers of an interrupted backup (`.partial` files) are removed first. Returns the new
    backup and how many old files went.
    """
    removed = 0
    if folder.is_dir():
        for leftover in folder.glob(f"{BACKUP_PREFIX}*.partial*"):
            leftover.unlink(missing_ok=True)
            removed += 1
    existing = backups(folder) if folder.is_dir() else []
    number = max((_number(p) for p in existing), default=0) + 1
    target = folder / f"{BACKUP_PREFIX}{number:06d}-{now.strftime(STAMP)}{BACKUP_SUFFIX}"
    store.backup_to(target)
    old = backups(folder)[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return target, removed + len(old)


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
        target, removed = make_backup(store, backup_dir, now, keep_backups)
        return f"{target.name} written, {removed} old or unfinished file(s) removed"

    def health() -> str:
        status = store.status()
        kept = backups(backup_dir)
        last_backup = _backup_time(kept[-1]) if kept else None
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
