"""Kiosk settings from `LINLI_KIOSK_*` environment variables (each documented in the README)."""

from __future__ import annotations

from dataclasses import dataclass

from sync.settings import read_prefixed


@dataclass(frozen=True)
class KioskSettings:
    """Kiosk settings and their defaults."""

    SYNC_INTERVAL: float = 15.0
    """Seconds between syncs while the server answers."""
    BACKOFF_BASE: float = 2.0
    """Upper bound of the first retry delay after a failure, in seconds."""
    BACKOFF_CAP: float = 300.0
    """Upper bound of any retry delay, in seconds."""
    NUDGE_CAP: float = 10.0
    """While backing off, a new request cuts the wait to at most this many seconds."""
    CONNECT_TIMEOUT: float = 5.0
    """Seconds to wait for a TCP connection to the server."""
    READ_TIMEOUT: float = 30.0
    """Seconds to wait for the server's answer."""
    MAX_DB_PAGES: int = 0
    """Cap on the kiosk database size in pages (0: no cap beyond the disk)."""
    PORT: int = 8765
    """Port of the kiosk's local UI and API on 127.0.0.1."""
    IDLE_SECONDS: float = 90.0
    """Seconds without a touch before the touch UI warns that it will start over."""
    IDLE_WARNING_SECONDS: float = 20.0
    """Seconds the idle warning counts down before the UI returns home and forgets the user."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> KioskSettings:
        """Read `LINLI_KIOSK_*` variables over the defaults."""
        return cls(**read_prefixed(cls, "LINLI_KIOSK_", environ))
