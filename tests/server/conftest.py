"""Fixtures for the server's feature tests: the console's world, reused (not copied)."""

from tests.console.conftest import (  # noqa: F401  (re-exported as fixtures for tests/server/)
    fast_password_hashing,
    world,
)
