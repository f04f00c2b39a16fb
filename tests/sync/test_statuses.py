"""The one status vocabulary: its groups as documented, and the server's lifecycle within it."""

from __future__ import annotations

import typing
from itertools import combinations

from sync import statuses
from sync.statuses import STATUSES, RequestStatus

GROUPS = {
    name: value
    for name, value in vars(statuses).items()
    if name.isupper() and isinstance(value, frozenset)
}


def test_statuses_are_distinct_and_every_group_holds_only_statuses() -> None:
    assert len(set(STATUSES)) == len(STATUSES)
    assert set(GROUPS) >= {"FINAL", "OPEN", "ACTIVE_WORK", "DONE", "SETTLED", "NEW"}
    strays = {name: sorted(g - set(STATUSES)) for name, g in GROUPS.items() if g - set(STATUSES)}
    assert not strays
    assert all(GROUPS.values()), "an empty group"


def test_stages_partition_the_statuses() -> None:
    for a, b in combinations(statuses.STAGES, 2):
        assert not a & b, f"in two stages: {sorted(a & b)}"
    assert frozenset().union(*statuses.STAGES) == set(STATUSES)


def test_groups_are_what_their_documentation_says() -> None:
    assert set(STATUSES) == statuses.FINAL | statuses.OPEN
    assert not statuses.FINAL & statuses.OPEN
    assert statuses.FINAL == statuses.CLOSED | statuses.NOT_SERVED
    assert statuses.DONE == statuses.AWAITING_CLOSE | statuses.CLOSED
    assert statuses.SETTLED == statuses.DONE | statuses.NOT_SERVED
    assert "on_site" not in statuses.BEFORE_ARRIVAL
    assert statuses.NEW | (statuses.ACTIVE_WORK - {"on_site"}) == statuses.BEFORE_ARRIVAL
    assert statuses.UNTRIAGED < statuses.NEW
    assert statuses.CANCELLABLE < statuses.NEW
    assert statuses.NEW < statuses.NEEDS_ACTION <= statuses.OPEN
    assert not statuses.NEEDS_ACTION & statuses.ACTIVE_WORK
    assert statuses.in_order(statuses.NEW) == ("received", "triaged", "reopened")


def test_the_server_stores_every_status_typed() -> None:
    from server.requests import models

    column = models.HelpRequest.__table__.c.status
    assert column.type.length >= max(map(len, STATUSES))
    for model, field, expected in (
        (models.HelpRequest, "status", RequestStatus),
        (models.RequestEvent, "from_status", RequestStatus | None),
        (models.RequestEvent, "to_status", RequestStatus | None),
    ):
        hint = eval(model.__annotations__[field], vars(models))  # noqa: S307 (our own source)
        assert typing.get_args(hint) == (expected,), f"{model.__name__}.{field}"


def test_every_transition_moves_between_statuses_and_every_status_is_reached() -> None:
    from server.requests.services import TRANSITIONS

    for action, (sources, targets) in TRANSITIONS.items():
        assert sources, action
        assert sources <= set(STATUSES), action
        assert targets, action
        assert targets <= set(STATUSES), action
    reached = {"received"}  # where every request starts
    while True:
        more = {
            t for sources, targets in TRANSITIONS.values() if sources & reached for t in targets
        }
        if more <= reached:
            break
        reached |= more
    assert reached == set(STATUSES)
    stuck = {s for s in STATUSES if not any(s in src for src, _ in TRANSITIONS.values())}
    assert stuck == {"duplicate"}, "only a merged request never moves again"
    assert TRANSITIONS["close"][1] == statuses.CLOSED
    assert TRANSITIONS["cancel"][0] == statuses.OPEN


def test_the_server_groups_come_from_the_vocabulary() -> None:
    from server.reports.queries import NOT_SERVED, STATE_GROUPS
    from server.volunteers.services import DONE_STATES, HOURS_REQUEST_STATES

    assert DONE_STATES == statuses.DONE
    assert HOURS_REQUEST_STATES == statuses.ACTIVE_WORK | statuses.AWAITING_CLOSE
    assert set(NOT_SERVED) == statuses.NOT_SERVED
    grouped = [s for group in STATE_GROUPS.values() for s in group]
    assert sorted(grouped) == sorted(STATUSES), "the reports' groups partition the statuses"
