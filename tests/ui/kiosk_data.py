"""A kiosk store seeded as after enrolment and a first pull, and a local server for it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from werkzeug.serving import make_server

from kiosk.app import create_kiosk_app
from kiosk.config import KioskSettings
from kiosk.store import DEFAULT_CATEGORIES, Store
from kiosk.voice import Voice
from sync.choices import DEFAULT_CHOICES
from sync.client import SyncOutcome
from sync.messages import (
    CategoryChange,
    CommunityChange,
    EnrollResponse,
    OpResult,
    PullResponse,
    PushResponse,
    RequestChange,
    RoomChange,
)

ROOMS = [
    ("3", "2", "301"),
    ("3", "2", "302"),
    ("3", "1", "101"),
    ("1", "1", "101"),
    ("1", "1", "102"),
]
COMMUNITY_PHONE = "010-62345678"


@dataclass
class Clock:
    """A settable clock for the store (cancel windows are measured with it)."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(**delta)


def seed_store(
    path: Path, clock: Callable[[], datetime] | None = None, max_pages: int = 0
) -> Store:
    """A store enrolled with a fake server that has pulled rooms, categories and community."""
    store = Store(path, clock=clock or Clock(), max_pages=max_pages)
    if store.enrollment()["device_id"] is None:
        store.save_enrollment(
            "http://127.0.0.1:9",
            EnrollResponse(
                device_id=7, name="lobby", token="t" * 32, community="lanqiao", ticket_prefix="A"
            ),
        )
        changes = [
            CategoryChange(
                entity="category",
                key=code,
                data={"code": code, "name_zh": zh, "name_en": en, "sort": sort, "urgent": bool(u)},
            )
            for code, zh, en, sort, u in DEFAULT_CATEGORIES
        ]
        changes += [
            RoomChange(
                entity="room",
                key=f"room:{b}-{u}-{r}",
                data={"code": f"{b}-{u}-{r}", "building": b, "unit": u, "room": r},
            )
            for b, u, r in ROOMS
        ]
        changes.append(
            CommunityChange(
                entity="community",
                key="lanqiao",
                data={"slug": "lanqiao", "name": "蓝桥社区", "phone": COMMUNITY_PHONE},
            )
        )
        store.apply_pull(PullResponse(changes=changes, cursor="c1", more=False))
    return store


def set_online(store: Store, online: bool, state: str | None = None) -> None:
    """Record a sync outcome as the worker would."""
    ok = online and state is None
    store.record_sync(
        SyncOutcome(ok, state or ("online" if online else "offline"), datetime.now(UTC))
    )


def server_update(store: Store, request_id: str, status: str, **extra: object) -> None:
    """Apply a pulled change of one request's status, as the server would send it."""
    data = {"status": status, "updated_at": datetime.now(UTC).isoformat(), **extra}
    store.apply_pull(
        PullResponse(
            changes=[RequestChange(entity="request", key=request_id, data=data)],
            cursor=f"c-{request_id}-{status}",
            more=False,
        )
    )


def refuse_cancellation(store: Store, request_id: str) -> None:
    """Cancel, let the server apply it, then let staff keep the request open (as sync would)."""
    store.cancel_request(request_id, "late")
    seq = store._conn().execute("SELECT max(seq) FROM outbox").fetchone()[0]
    store.apply_push(
        PushResponse(
            results=[
                OpResult(
                    seq=seq,
                    status="applied",
                    result={"status": "on_site", "cancel_requested": True},
                )
            ],
            last_seq=seq,
            server_time=datetime.now(UTC),
        )
    )
    server_update(store, request_id, "on_site", cancel_requested=False)


@dataclass
class LocalKiosk:
    """A kiosk app served on 127.0.0.1 in a thread."""

    url: str
    store: Store
    app: Flask
    exits: list[int]


@contextmanager
def serve_kiosk(
    store: Store, settings: KioskSettings | None = None, voice: Voice | None = None
) -> Iterator[LocalKiosk]:
    """Serve the kiosk app for `store` until the block ends."""
    exits: list[int] = []
    app = create_kiosk_app(store, settings=settings, voice=voice, on_exit=lambda: exits.append(1))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalKiosk(f"http://127.0.0.1:{httpd.server_port}", store, app, exits)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def offer_choices(store: Store) -> None:
    """Pull the community record as a server with sub-choices sends it: the defaults."""
    choices = [
        {"category": category, "code": code, "name_zh": zh, "name_en": en, "sort": (i + 1) * 10}
        for category, defaults in DEFAULT_CHOICES.items()
        for i, (code, zh, en) in enumerate(defaults)
    ]
    data = {"slug": "lanqiao", "name": "蓝桥社区", "phone": COMMUNITY_PHONE, "choices": choices}
    store.apply_pull(
        PullResponse(
            changes=[CommunityChange(entity="community", key="lanqiao", data=data)],
            cursor="c-choices",
            more=False,
        )
    )
