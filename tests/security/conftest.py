"""Fixtures of the console (two communities, users of every role) and of the deploy tests
(a self-signed certificate) for the security tests."""

from tests.console.conftest import fast_password_hashing, world
from tests.test_deploy import certificate

__all__ = ["certificate", "fast_password_hashing", "world"]
