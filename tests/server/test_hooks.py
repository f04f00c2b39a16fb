"""Hooks: how a lower feature calls a higher one without importing it."""

from __future__ import annotations

import pytest
from flask import Flask

from server.hooks import Hook


def test_a_hook_calls_what_the_app_installed() -> None:
    app = Flask(__name__)
    hook: Hook[str] = Hook("probe")
    with app.app_context():
        with pytest.raises(RuntimeError, match=r"linli\.hook\.probe was not installed"):
            hook.get()
        hook.install(app, "the implementation")
        assert hook.get() == "the implementation"
    with Flask(__name__).app_context(), pytest.raises(RuntimeError):
        hook.get()  # installed per app, not per process


def test_create_app_installs_every_hook(app: Flask) -> None:
    from server.carewatch.services import CareRecords, note_room
    from server.communities.services import COMMUNITY_CHOICES, SEED_CHOICES
    from server.dispatch.services import DELIVERY_NOTES
    from server.passbook.services import post_hours
    from server.people.services import CARE_RECORDS, RESIDENT_RECORDS
    from server.requests.erasure import RequestRecords
    from server.requests.services import ROOM_SEEN, ROSTER, note_delivery
    from server.subchoices.queries import wire_choices
    from server.subchoices.services import seed_new_community
    from server.volunteers import queries as volunteer_queries
    from server.volunteers.services import POST_HOURS

    with app.app_context():
        assert DELIVERY_NOTES.get() is note_delivery
        assert isinstance(RESIDENT_RECORDS.get(), RequestRecords)
        assert POST_HOURS.get() is post_hours
        assert ROOM_SEEN.get() is note_room
        assert isinstance(CARE_RECORDS.get(), CareRecords)
        assert ROSTER.get().skilled is volunteer_queries.skilled_members
        assert COMMUNITY_CHOICES.get() is wire_choices
        assert SEED_CHOICES.get() is seed_new_community
