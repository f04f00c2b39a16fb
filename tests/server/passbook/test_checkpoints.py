"""Checkpoints: a full check records how far each chain was verified; the passbook page checks
the checkpoint entry and what came after it, and says so; the full check still finds an edit
anywhere, and a checkpoint only moves forward."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.seed import Seed, login, new_volunteer


def _chain(volunteer_id: int, *points: int, start: int = 0) -> None:
    from server.passbook.services import post

    for n, amount in enumerate(points, start):
        post(volunteer_id, "bonus", amount, f"k:{volunteer_id}:{n}", "test", reason="为老服务")


def _edit(volunteer_id: int, seq: int, **values: Any) -> None:
    """Change an entry behind the ledger's back, as someone with database access might."""
    from server.extensions import db
    from server.passbook.models import LedgerEntry

    db.session.execute(
        sa.update(LedgerEntry)
        .where(LedgerEntry.volunteer_id == volunteer_id, LedgerEntry.seq == seq)
        .values(**values)
    )
    db.session.expire_all()


def _checkpoint(volunteer_id: int) -> tuple[int, str] | None:
    from server.extensions import db
    from server.passbook.models import PassbookCheckpoint

    found = db.session.get(PassbookCheckpoint, volunteer_id)
    return (found.seq, found.hash) if found else None


@pytest.fixture
def vid(ctx: None, community: dict[str, Any]) -> int:
    return new_volunteer(community["id"], "志愿者", "13700000001")


def test_a_full_check_records_a_checkpoint_and_the_page_checks_only_what_follows(
    vid: int,
) -> None:
    from server.passbook.services import check_recent, statement, verify_chain

    _chain(vid, 10, 20, 30)
    verify_chain()
    entries, _ = statement(vid)
    assert _checkpoint(vid) == (3, entries[-1].hash)
    _chain(vid, 5, 6, start=3)
    recent = check_recent(vid)
    assert (recent.ok, recent.verified_seq, recent.checked) == (True, 3, 2)
    assert recent.verified_at is not None


@pytest.mark.parametrize("seq", [3, 4, 5])
def test_the_page_shows_an_edit_of_the_checkpoint_entry_or_any_after_it(vid: int, seq: int) -> None:
    from server.passbook.services import check_recent, verify_chain

    _chain(vid, 10, 20, 30)
    verify_chain()
    _chain(vid, 5, 6, start=3)
    _edit(vid, seq, reason="改过的")
    assert not check_recent(vid).ok


def test_an_edit_before_the_checkpoint_is_left_to_the_full_check(vid: int) -> None:
    """The page says entries 1..N were verified in full at a time: an edit among them since
    is the nightly check's to find (and it does), not the page's."""
    from server.passbook.services import ChainBroken, check_chain, check_recent, verify_chain

    _chain(vid, 10, 20, 30)
    verify_chain()
    verified = _checkpoint(vid)
    _edit(vid, 1, reason="改过的")
    assert check_recent(vid).ok
    report = check_chain(vid)
    assert any(f"volunteer {vid} entry 1 " in p for p in report.problems), report.problems
    with pytest.raises(ChainBroken):
        verify_chain()
    assert _checkpoint(vid) == verified


def test_a_chain_rehashed_after_an_edit_no_longer_matches_its_checkpoint(vid: int) -> None:
    """Editing an entry and recomputing every hash after it (and the account's head) makes a
    chain consistent in itself; the hash the checkpoint kept still gives it away."""
    from server.extensions import db
    from server.passbook.models import GENESIS, LedgerEntry, PassbookAccount
    from server.passbook.services import check_chain, check_recent, entry_hash, verify_chain

    _chain(vid, 10, 20, 30)
    verify_chain()
    _edit(vid, 1, reason="改过的")
    previous = GENESIS
    for entry in db.session.execute(
        sa.select(LedgerEntry).where(LedgerEntry.volunteer_id == vid).order_by(LedgerEntry.seq)
    ).scalars():
        entry.prev_hash = previous
        entry.hash = previous = entry_hash(entry)
    db.session.get_one(PassbookAccount, vid).head_hash = previous
    db.session.flush()
    assert not check_recent(vid).ok
    problems = check_chain(vid).problems
    assert problems == [
        f"volunteer {vid} entry 3 ({_id(vid, 3)}): its hash changed since it was verified"
    ]


def _id(volunteer_id: int, seq: int) -> str:
    from server.extensions import db
    from server.passbook.models import LedgerEntry

    found = db.session.execute(
        sa.select(LedgerEntry.id).where(
            LedgerEntry.volunteer_id == volunteer_id, LedgerEntry.seq == seq
        )
    ).scalar_one()
    return f"id {found}"


def test_a_missing_tail_is_shown_even_below_the_checkpoint(vid: int) -> None:
    from server.extensions import db
    from server.passbook.models import LedgerEntry, PassbookAccount
    from server.passbook.services import check_chain, check_recent, verify_chain

    _chain(vid, 10, 20, 30)
    verify_chain()
    db.session.execute(
        sa.delete(LedgerEntry).where(LedgerEntry.volunteer_id == vid, LedgerEntry.seq == 3)
    )
    account = db.session.get_one(PassbookAccount, vid)
    account.entries, account.balance = 2, 30
    db.session.flush()
    db.session.expire_all()
    assert not check_recent(vid).ok
    assert f"volunteer {vid}: entry 3, verified before, is missing" in check_chain(vid).problems


def test_a_checkpoint_only_moves_forward(vid: int) -> None:
    from server.extensions import db
    from server.passbook.models import PassbookCheckpoint
    from server.passbook.services import ChainReport, check_chain, record_checkpoints

    _chain(vid, 10, 20)
    older = check_chain(vid)
    _chain(vid, 30, start=2)
    newer = check_chain(vid)
    record_checkpoints(newer)
    record_checkpoints(older)  # a slower check that read the ledger before the posting
    assert _checkpoint(vid) == newer.heads[vid]
    later = ChainReport(heads=newer.heads, started_at=newer.started_at + timedelta(hours=1))
    record_checkpoints(later)
    kept = db.session.get_one(PassbookCheckpoint, vid)
    db.session.refresh(kept)
    assert kept.verified_at == later.started_at


def test_the_nightly_step_keeps_the_intact_chains_checkpoints_when_one_is_broken(
    ctx: None, community: dict[str, Any]
) -> None:
    from server.extensions import db
    from server.ops.nightly import verify_passbook
    from server.passbook.services import ChainBroken

    intact = new_volunteer(community["id"], "志愿者甲", "13700000002")
    broken = new_volunteer(community["id"], "志愿者乙", "13700000003")
    _chain(intact, 10, 20)
    _chain(broken, 10)
    db.session.commit()
    _edit(broken, 1, points=99)
    db.session.commit()
    with pytest.raises(ChainBroken):
        verify_passbook()
    db.session.rollback()
    assert _checkpoint(intact) is not None
    assert _checkpoint(broken) is None


def test_the_page_says_what_it_checked_and_when(
    app: Flask, client: FlaskClient, seed: Seed
) -> None:
    from server.extensions import db
    from server.passbook.services import verify_chain

    vid = seed.volunteers["lanqiao"][0]
    with app.app_context():
        _chain(vid, 10, 20, 30)
        db.session.commit()
    login(client, "social_worker_lanqiao")
    first = client.get(f"/passbook/{vid}").get_data(as_text=True)
    assert re.search(r'id="chain">\s*完整', first)
    assert "全部 3 条刚刚核验。" in first
    with app.app_context():
        assert _checkpoint(vid) is not None, "a page that checked the whole chain records it"
        _chain(vid, 5, start=3)
        verify_chain()
        _chain(vid, 6, 7, start=4)
        db.session.commit()
    page = client.get(f"/passbook/{vid}").get_data(as_text=True)
    assert re.search(r"第 1–4 条已于 \S+ \S+ 全面核验；其后的 2 条刚刚核验。", page), page
    with app.app_context():
        _edit(vid, 6, actor="别人")
        db.session.commit()
    page = client.get(f"/passbook/{vid}").get_data(as_text=True)
    assert re.search(r'id="chain">\s*被改动', page)
    assert "查明之前请勿记账或兑换" in page
