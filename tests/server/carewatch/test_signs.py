"""A sign of life is stored once per source, whoever records it how often."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.server.conftest import World


def _sign(world: World, key: str, **changes: object):  # type: ignore[no-untyped-def]
    from server.carewatch.services import Sign

    fields: dict[str, object] = {
        "community_id": world.community["lanqiao"],
        "resident_id": world.residents["lanqiao"],
        "channel": "kiosk",
        "at": datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        "source_key": key,
        "recorded_by": "kiosk:1",
    }
    fields.update(changes)
    return Sign(**fields)  # type: ignore[arg-type]


def test_the_same_source_is_recorded_once(app: Flask, world: World) -> None:
    from server.carewatch.models import SignOfLife
    from server.carewatch.services import record_sign
    from server.extensions import db

    with app.app_context():
        first, created = record_sign(_sign(world, "kiosk:op-1"))
        again, created_again = record_sign(_sign(world, "kiosk:op-1", outcome="needs_help"))
        other, created_other = record_sign(_sign(world, "kiosk:op-2"))
        db.session.commit()
        assert (created, created_again, created_other) == (True, False, True)
        assert again.id == first.id
        assert again.outcome == "ok"
        assert other.id != first.id
        count = db.session.execute(sa.select(sa.func.count()).select_from(SignOfLife)).scalar()
        assert count == 2


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"resident_id": None}, "居民或房间"),
        ({"channel": "pigeon"}, "pigeon"),
        ({"outcome": "maybe"}, "maybe"),
    ],
)
def test_a_bad_sign_is_refused_with_its_reason(
    app: Flask, world: World, changes: dict[str, object], words: str
) -> None:
    from server.carewatch.services import BadSign, record_sign

    with app.test_request_context(), pytest.raises(BadSign, match=words):
        record_sign(_sign(world, "x", **changes))
