"""Fixtures of the hostile-user tests: the console's and the volunteers' worlds, reused."""

from tests.console.conftest import fast_password_hashing, world  # noqa: F401
from tests.volunteers.conftest import seed  # noqa: F401
