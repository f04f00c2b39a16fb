"""The volunteer fixtures (two communities, users of every role, teams, volunteers), reused."""

from tests.volunteers.conftest import ctx, seed

__all__ = ["ctx", "seed"]
