"""Client-made identifiers: UUIDv7 operation ids and short tickets an elder can say aloud."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """Return a UUIDv7 (RFC 9562): 48-bit milliseconds, then random bits.

    Within one millisecond a 12-bit counter in `rand_a` keeps ids made by this process
    monotonic; ordering is a convenience only, never trusted across devices.
    """
    global _last_ms, _counter
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms == _last_ms:
            _counter = (_counter + 1) & 0xFFF
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        rand_a = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def format_ticket(prefix: str, number: int) -> str:
    """Format a kiosk's n-th request as a short ticket such as ``A-0427``."""
    return f"{prefix}-{number % 10000:04d}"


def ticket_prefix(index: int) -> str:
    """Letters for the n-th kiosk of a server: A..Z, then AA..ZZ (no I or O, easily misheard)."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    if index < len(letters):
        return letters[index]
    index -= len(letters)
    return letters[(index // len(letters)) % len(letters)] + letters[index % len(letters)]
