"""A small runner for nightly jobs shared by both sides: named steps, each may fail alone.

Every step runs even when an earlier one failed; the report names what each did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("linli.jobs")


@dataclass
class JobReport:
    """What each step did, and the steps that failed."""

    done: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return not self.failed

    def summary(self) -> str:
        """One line for the log and the terminal."""
        parts = [f"{k}: {v}" for k, v in self.done.items()]
        parts += [f"{k} FAILED: {v}" for k, v in self.failed.items()]
        return "; ".join(parts) or "nothing to do"

    def step(
        self,
        name: str,
        action: Callable[[], str],
        expected: tuple[type[Exception], ...],
        describe: Callable[[Exception], str] = str,
    ) -> None:
        """Run one step; an expected error is recorded as that step's failure."""
        try:
            self.done[name] = action()
            log.info("%s: %s", name, self.done[name])
        except expected as exc:
            self.failed[name] = describe(exc)
            log.error("%s failed: %s", name, self.failed[name])
