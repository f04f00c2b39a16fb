"""Browser fixtures: Debian's Chromium driven by Playwright, and a seeded kiosk on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import KioskSettings
from kiosk.voice import Voice
from tests.ui.kiosk_data import Clock, LocalKiosk, seed_store, serve_kiosk

VIEWPORT = {"width": 1920, "height": 1080}


@pytest.fixture(scope="session")
def voice_cache(tmp_path_factory: pytest.TempPathFactory) -> Voice:
    """Speech made once per session, shared by every kiosk of the browser tests."""
    return Voice(tmp_path_factory.mktemp("voice"), espeak=shutil.which("espeak-ng") or "")


@pytest.fixture
def clock() -> Clock:
    """The kiosk store's clock, fixed so that screenshots do not change from run to run."""
    return Clock(datetime(2026, 3, 14, 9, 30, tzinfo=UTC))


@pytest.fixture
def kiosk_settings() -> KioskSettings:
    """Settings of the served kiosk (tests override the idle times)."""
    return KioskSettings()


@pytest.fixture
def kiosk(
    tmp_path: Path, clock: Clock, kiosk_settings: KioskSettings, voice_cache: Voice
) -> Iterator[LocalKiosk]:
    """A seeded kiosk served on 127.0.0.1 (no sync worker: it shows the offline banner)."""
    store = seed_store(tmp_path / "kiosk" / "kiosk.sqlite3", clock=clock)
    try:
        with serve_kiosk(store, settings=kiosk_settings, voice=voice_cache) as served:
            yield served
    finally:
        store.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh 1920x1080 tab; fails the test if any dialog (alert/confirm/prompt) opens."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    tab = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
        assert not dialogs, f"pop-up dialogs opened: {dialogs}"
        assert not errors, f"script errors: {errors}"
    finally:
        context.close()
