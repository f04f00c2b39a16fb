"""What the kiosk app's pages share: the store, settings, voice, callbacks and the screen shown.

`create_kiosk_app` builds one `KioskContext` and keeps it in `app.extensions`; blueprints read
it with `kiosk_context()`, never by string keys of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from flask import Flask, current_app

from kiosk.config import KioskSettings
from kiosk.residents import CheckedIn
from kiosk.store import Saved, Store, storage_busy
from kiosk.voice import Voice

T = TypeVar("T")

EXTENSION = "linli_kiosk"
"""The key of the kiosk's context in `app.extensions` (its only one)."""


@dataclass(frozen=True)
class Shown:
    """The screen a page last reported drawn: its name, when, and in which language."""

    screen: str | None = None
    at: str | None = None
    lang: str | None = None

    def as_json(self) -> dict[str, str]:
        """The fields known so far (nothing before the first page reports)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class KioskContext:
    """The kiosk app's state: one per app, shared by the threads that serve its pages."""

    store: Store
    settings: KioskSettings
    voice: Voice
    on_saved: Callable[[], None]
    """Called after each saved request or cancellation (it wakes the sync worker)."""
    on_exit: Callable[[], None]
    """What the admin page's exit button does (close the window or stop the server)."""
    shown: Shown = field(default_factory=Shown)
    """Replaced whole on each report, so a reader never sees half of one."""
    saver: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="kiosk-save")
    )

    def save(self, **fields: Any) -> Saved:
        """Save a request on the saver thread, refused when the storage does not finish in time."""
        return self._on_saver(self.store.create_request, **fields)

    def check_in(self, room: str, form_token: str) -> CheckedIn:
        """Save a 报平安 on the saver thread, refused when the storage does not finish in time."""
        return self._on_saver(self.store.check_in, room=room, form_token=form_token)

    def _on_saver(self, write: Callable[..., T], **fields: Any) -> T:
        # A stalled card can block a write inside the kernel, where no timeout reaches: the
        # resident hears "could not save, try again" after twice the store's write wait (and a
        # second) instead of a screen that hangs; a save not yet started is cancelled.
        future = self.saver.submit(write, **fields)
        try:
            return future.result(timeout=2 * self.store.write_wait + 1)
        except FutureTimeout:
            future.cancel()
            raise storage_busy() from None

    def install(self, app: Flask) -> None:
        """Make this the context of `app`'s pages."""
        app.extensions[EXTENSION] = self


def kiosk_context() -> KioskContext:
    """The context of the kiosk app serving the current request."""
    context = current_app.extensions.get(EXTENSION)
    if not isinstance(context, KioskContext):
        raise RuntimeError("not inside the kiosk app (create_kiosk_app)")
    return context
