"""The one actor type: how each kind of actor is named in timelines and audit rows."""

from __future__ import annotations

from dataclasses import dataclass

from server.audit.actor import LABEL_LENGTH, SYSTEM, Actor


@dataclass
class _User:
    id: int
    label: str


def test_a_user_is_named_by_label_and_keeps_their_id() -> None:
    actor = Actor.of_user(_User(7, "王社工"))
    assert (actor.label, actor.user_id, actor.kind) == ("王社工", 7, "user")


def test_other_actors_have_no_user_id_and_fit_the_actor_columns() -> None:
    long = "n" * 200
    for actor, prefix, kind in (
        (Actor.kiosk(long), "kiosk:", "kiosk"),
        (Actor.merchant(long), "merchant:", "merchant"),
        (Actor.api(long), "open311:", "api"),
    ):
        assert actor.label.startswith(prefix)
        assert len(actor.label) == LABEL_LENGTH
        assert actor.user_id is None
        assert actor.kind == kind
    assert Actor("command line") == Actor("command line", None, "system")
    assert SYSTEM.label == "system"
