"""Typed server settings. Each can be overridden by a `LINLI_<NAME>` environment variable.

Every setting here is documented in the README (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from sync.settings import read_prefixed


@dataclass
class Settings:
    """Server settings and their defaults."""

    INSTANCE_DIR: str = "instance"
    """Folder for the default SQLite database, the generated secret key and backups."""
    DATABASE_URL: str = ""
    """SQLAlchemy URL; empty means a SQLite file `linli.sqlite3` in the instance folder."""
    SECRET_KEY: str = ""
    """Signs session cookies; empty means a random key stored in the instance folder."""
    ENROLL_CODE_HOURS: int = 24
    """How long a kiosk enrolment code stays valid."""
    PULL_PAGE_SIZE: int = 1000
    """Changes per pull page."""
    PULL_SETTLED_DAYS: int = 30
    """A pull from nothing brings a kiosk's settled requests changed in this many last days
    (and every open one); older settled ones it already shows as settled."""
    API_PAGE_SIZE: int = 100
    """Default page size of the staff read API (at most 1000)."""
    SQLITE_BUSY_TIMEOUT: int = 30
    """Seconds a SQLite writer waits for the lock before failing."""
    LOG_LEVEL: str = "INFO"
    """Log level of the server process."""
    SESSION_IDLE_MINUTES: int = 30
    """A console session ends after this many minutes without a request."""
    SESSION_MAX_HOURS: int = 12
    """A console session ends this many hours after sign-in, however active."""
    COOKIE_SECURE: int = 1
    """1: session cookies are sent over HTTPS only (set 0 only for plain-HTTP development)."""
    LOGIN_RATE_LIMIT: str = "10 per minute"
    """Sign-in attempts allowed per client address and user name (Flask-Limiter syntax)."""
    LOGIN_ADDRESS_RATE_LIMIT: str = "60 per minute"
    """Sign-in attempts allowed per client address, whatever the user names (Flask-Limiter)."""
    REPLY_PHOTO_MAX_BYTES: int = 1_500_000
    """Largest photo an agency may attach to a reply (every request is capped at 2 MB)."""
    REPLY_PHOTO_DIR: str = ""
    """Where reply photos are kept (empty: <instance>/reply-photos), never under static/."""
    REPLY_RATE_LIMIT: str = "30 per minute"
    """Agency reply page (转办单 link) loads and answers per address (Flask-Limiter syntax)."""
    LOGIN_LOCK_AFTER: int = 5
    """Failed sign-ins for one user name before it is locked out."""
    LOGIN_LOCK_MINUTES: int = 1
    """The first lockout's length; each further failure doubles it (at most a day)."""
    LOGIN_HASH_SLOTS: int = 1
    """Password checks run at once per server process; more sign-ins are told to retry."""
    PASSWORD_HASH_COST: str = "standard"  # noqa: S105 (a cost profile, not a password)
    """argon2 cost of password hashes: `standard` (argon2-cffi's defaults) or `test` (cheap)."""
    RATELIMIT_STORAGE_URI: str = "memory://"
    """Where rate-limit counters live; memory is per worker, e.g. redis://host:6379 is shared."""
    QUEUE_PAGE_SIZE: int = 50
    """Requests per page of the console's queue."""
    LIVE_POLL_SECONDS: int = 1
    """How often the live queue looks for changes on SQLite (PostgreSQL is told by NOTIFY)."""
    LIVE_STREAM_SECONDS: int = 300
    """How long one live-queue event stream stays open before the browser reconnects."""
    LIVE_HEARTBEAT_SECONDS: int = 15
    """Seconds between keep-alive comments on an idle live-queue stream."""
    LIVE_MAX_STREAMS_PER_PROCESS: int = 8
    """Open live-queue streams per server process; beyond it pages poll for changes."""
    ESCALATION_MAX_ATTEMPTS: int = 3
    """Delivery attempts to an outside agency before the escalation is flagged as failed."""
    ESCALATION_RETRY_MINUTES: int = 5
    """Wait before the first retry of a failed delivery; doubles after each further failure."""
    ESCALATION_TIMEOUT: int = 5
    """Seconds to wait for an outside agency's endpoint to answer a delivery."""
    NOTIFY_MAX_ATTEMPTS: int = 5
    """Delivery attempts of a notification before it is given up and its channel flagged."""
    NOTIFY_RETRY_MINUTES: int = 1
    """Wait before the first retry of a failed notification; doubles after each failure."""
    NOTIFY_TIMEOUT: int = 5
    """Seconds to wait for a group robot or the SMS gateway to answer."""
    POINTS_PER_HOUR: int = 10
    """Passbook points per approved hour of service: points = floor(minutes × this / 60)."""
    TIMEZONE: str = "Asia/Shanghai"
    """Local time zone of reports and daily statistics."""
    RETENTION_DAYS: int = 365
    """Days after a request is finished before its phone number and words are erased."""
    ROLLUP_DAYS: int = 7
    """How many past days the nightly job recomputes daily statistics for."""
    BACKUP_KEEP: int = 14
    """How many nightly backups to keep in the backups folder."""
    BACKUP_DIR: str = ""
    """Where nightly backups go; empty means `backups` in the instance folder."""
    KIOSK_STALE_MINUTES: int = 60
    """A kiosk silent for longer than this is flagged on the console's kiosks page."""
    PROXY_HOPS: int = 0
    CARE_GRACE_HOURS: int = 6
    """Care watch: hours after a resident's rhythm before a missing sign of life starts step 1."""
    CARE_STEP_HOURS: int = 4
    """Care watch: hours a step may go without an outcome before the next step is raised."""
    CARE_NOTIFY_URL: str = ""
    """Where care-watch visit tasks are POSTed for the field channels (WeCom, DingTalk, SMS);
    empty: the tasks show on the watch board only."""
    CARE_NOTIFY_MAX_ATTEMPTS: int = 5
    """Delivery attempts of a care-watch notification before it is flagged as failed."""
    CARE_NOTIFY_RETRY_MINUTES: int = 2
    """Wait before the first retry of a care-watch notification; doubles after each failure."""
    CARE_NOTIFY_TIMEOUT: int = 5
    """Seconds to wait for the field channels' endpoint to answer a care-watch notification."""
    """Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (nginx: 1)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read `LINLI_*` variables over the defaults, converting to each field's type."""
        return cls(**read_prefixed(cls, "LINLI_", environ, skip=frozenset({"extra"})))

    def as_flask(self) -> dict[str, Any]:
        """The settings as Flask config keys (prefixed `LINLI_`)."""
        out = {f"LINLI_{f.name}": getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out.update(self.extra)
        return out
