"""The report tests reuse the volunteers suite's seeded communities."""

from tests.volunteers.conftest import ctx, seed  # noqa: F401 (fixtures, reused)
