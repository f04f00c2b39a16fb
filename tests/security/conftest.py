"""Fixtures of the hostile-user tests: the console's and the volunteers' worlds and the deploy
tests' self-signed certificate, reused."""

from tests.server.conftest import fast_password_hashing, world
from tests.server.seed import seed
from tests.system.test_deploy import certificate

__all__ = ["certificate", "fast_password_hashing", "seed", "world"]
