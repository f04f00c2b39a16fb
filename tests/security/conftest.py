"""Fixtures of the hostile-user tests: the console's and the volunteers' worlds and the deploy
tests' self-signed certificate, reused."""

from tests.console.conftest import fast_password_hashing, world
from tests.test_deploy import certificate
from tests.volunteers.conftest import seed

__all__ = ["certificate", "fast_password_hashing", "seed", "world"]
