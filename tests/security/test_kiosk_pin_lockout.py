"""The kiosk's admin PIN lockout holds under a burst: of 41 tries sent at once to the served
kiosk, at most MAX_FAILURES reach the argon2 check before the keypad locks (all 41 did)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk import admin
from kiosk.admin import MAX_FAILURES, hash_pin
from kiosk.store import Store
from kiosk.voice import Voice
from tests.ui.kiosk_data import LocalKiosk, seed_store, serve_kiosk

TRIES = 41
HASH_SECONDS = 0.2
"""Extra time each check takes here, as on a slow kiosk: the window a burst would use."""


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[LocalKiosk]:
    """A seeded kiosk with PIN 24680, served on loopback."""
    store: Store = seed_store(tmp_path / "kiosk.sqlite3")
    store.set_admin_pin_hash(hash_pin("24680"))
    try:
        with serve_kiosk(store, voice=Voice(tmp_path / "v", espeak="/nonexistent")) as served:
            yield served
    finally:
        store.close()


def test_a_burst_of_pin_tries_is_checked_at_most_max_failures_times(
    kiosk: LocalKiosk, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real = admin._hasher

    class Counted:
        """The kiosk's hasher, counting (and slowing) each check."""

        def verify(self, stored: Any, pin: Any) -> bool:
            checks.append(str(pin))
            time.sleep(HASH_SECONDS)
            return bool(real.verify(stored, pin))

    monkeypatch.setattr(admin, "_hasher", Counted())
    start = threading.Barrier(TRIES)
    answers: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        pin = f"{10000 + n}"
        start.wait()
        answer = requests.post(
            f"{kiosk.url}/admin", data={"pin": pin}, allow_redirects=False, timeout=60
        )
        with lock:
            answers.append(answer.headers.get("Location", ""))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(TRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == TRIES
    assert len(checks) <= MAX_FAILURES, f"{len(checks)} of {TRIES} tries reached the hash check"
    assert not any(a.endswith("/admin/panel") for a in answers)
    # Locked now: even the right PIN is not checked until the minute is over.
    right = requests.post(
        f"{kiosk.url}/admin", data={"pin": "24680"}, allow_redirects=False, timeout=60
    )
    assert right.headers["Location"] == "/admin"
    assert len(checks) <= MAX_FAILURES
    kiosk.store.clock.advance(seconds=61)  # type: ignore[attr-defined]
    opened = requests.post(
        f"{kiosk.url}/admin", data={"pin": "24680"}, allow_redirects=False, timeout=60
    )
    assert opened.headers["Location"] == "/admin/panel"
