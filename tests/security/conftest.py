"""The console's fixtures (two communities, users of every role) for the security tests."""

from tests.console.conftest import fast_password_hashing, world

__all__ = ["fast_password_hashing", "world"]
