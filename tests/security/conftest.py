"""Fixtures of the hostile-user tests: the console's and the volunteers' worlds and the deploy
tests' self-signed certificate, reused."""

from tests.server.conftest import world
from tests.server.seed import seed
from tests.system.test_deploy import certificate

__all__ = ["certificate", "seed", "world"]
