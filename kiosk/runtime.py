"""Wiring shared by the kiosk's commands: the store, the sync engine and the worker."""

from __future__ import annotations

from pathlib import Path

from kiosk.config import KioskSettings
from kiosk.store import Store
from sync.backoff import Backoff
from sync.client import SyncEngine, SyncWorker

DB_NAME = "kiosk.sqlite3"


def open_store(data_dir: Path, settings: KioskSettings) -> Store:
    """Open (and migrate) the kiosk database in `data_dir`."""
    return Store(Path(data_dir) / DB_NAME, max_pages=settings.MAX_DB_PAGES)


def build_engine(store: Store, settings: KioskSettings) -> SyncEngine:
    """A sync engine for this store with the configured timeouts."""
    return SyncEngine(
        store,
        connect_timeout=settings.CONNECT_TIMEOUT,
        read_timeout=settings.READ_TIMEOUT,
    )


def build_worker(engine: SyncEngine, settings: KioskSettings) -> SyncWorker:
    """A background worker with the configured interval and backoff."""
    base = min(settings.BACKOFF_BASE, settings.BACKOFF_CAP)
    return SyncWorker(
        engine,
        interval=settings.SYNC_INTERVAL,
        backoff=Backoff(base=base, cap=settings.BACKOFF_CAP, floor=min(0.2, base)),
        nudge_cap=settings.NUDGE_CAP,
    )
