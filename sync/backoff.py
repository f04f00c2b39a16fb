"""Exponential backoff with full jitter, retried forever."""

from __future__ import annotations

import random


class Backoff:
    """Delays of uniform(0, min(cap, base * 2**attempt)) seconds, with a small floor.

    The first delay is at most `base` seconds; a success resets the attempt count.
    """

    def __init__(
        self,
        base: float = 2.0,
        cap: float = 300.0,
        floor: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < floor <= base <= cap:
            raise ValueError("backoff needs 0 < floor <= base <= cap")
        self.base = base
        self.cap = cap
        self.floor = floor
        self.attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)

    def next_delay(self) -> float:
        """The delay before the next retry; each call counts one more failure."""
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return max(self.floor, self._rng.uniform(0, ceiling))

    def reset(self) -> None:
        """Forget past failures (after a success)."""
        self.attempt = 0
