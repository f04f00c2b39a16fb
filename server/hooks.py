"""Where a lower feature must call a higher one: a typed slot per app, filled by the app factory.

A feature that needs another above it (dispatch noting a delivery on the request's timeline,
people erasing a resident's requests) declares a `Hook` with the interface it calls; the app
factory installs the implementation. The lower feature never imports the higher one, and an
app built without the implementation fails loudly instead of skipping the step.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from flask import Flask, current_app

T = TypeVar("T")


class Hook(Generic[T]):
    """One interface a lower feature calls, implemented above it and installed per app."""

    def __init__(self, name: str) -> None:
        self.key = f"linli.hook.{name}"

    def install(self, app: Flask, implementation: T) -> None:
        """Make `implementation` what this hook calls in `app`."""
        app.extensions[self.key] = implementation

    def get(self) -> T:
        """The current app's implementation (an app without one is a wiring defect)."""
        try:
            implementation: T = current_app.extensions[self.key]
        except KeyError:
            raise RuntimeError(f"{self.key} was not installed by create_app") from None
        return implementation
