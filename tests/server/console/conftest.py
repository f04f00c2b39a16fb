"""The console tests' fixtures, reused."""

from tests.console.conftest import fast_password_hashing, world  # noqa: F401 (fixtures, reused)
