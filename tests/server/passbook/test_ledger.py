"""Property tests of the passbook ledger (hypothesis), on SQLite and PostgreSQL.

Each example gets a fresh volunteer, so its chain starts empty while the database is shared
between examples (the health check for function-scoped fixtures is therefore suppressed).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.seed import new_volunteer

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_phones = itertools.count(1)

# An operation: ("credit", kind, points), ("redeem", points) or ("replay", index of an
# earlier operation, taken modulo how many postings there are).
operations = st.lists(
    st.one_of(
        st.tuples(st.just("credit"), st.sampled_from(["hours", "bonus"]), st.integers(1, 500)),
        st.tuples(st.just("redeem"), st.integers(1, 800)),
        st.tuples(st.just("replay"), st.integers(0, 1000)),
    ),
    min_size=1,
    max_size=25,
)


def _fresh_volunteer(community: dict[str, Any]) -> int:
    return new_volunteer(community["id"], "志愿者", f"1370{next(_phones):07d}")


def _ledger_sum(volunteer_id: int) -> tuple[int, int]:
    from server.extensions import db
    from server.passbook.models import LedgerEntry

    total, count = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.points), 0), sa.func.count()).where(
            LedgerEntry.volunteer_id == volunteer_id
        )
    ).one()
    return int(total), int(count)


@SETTINGS
@given(ops=operations)
def test_balance_is_the_sum_never_negative_and_replays_change_nothing(
    ctx: None, community: dict[str, Any], ops: list[tuple[Any, ...]]
) -> None:
    from server.passbook.services import InsufficientPoints, balance, post, verify_chain

    vid = _fresh_volunteer(community)
    made: list[tuple[str, str, int]] = []  # (key, kind, signed points) of accepted postings
    expected = 0
    for n, op in enumerate(ops):
        before = _ledger_sum(vid)
        if op[0] == "credit":
            _, kind, points = op
            posting = post(vid, kind, points, f"t:{vid}:{n}", "test")
            assert not posting.replayed
            made.append((f"t:{vid}:{n}", kind, points))
            expected += points
        elif op[0] == "redeem":
            points = op[1]
            if points > expected:
                with pytest.raises(InsufficientPoints, match=f"余额 {expected} 积分"):
                    post(vid, "redemption", -points, f"t:{vid}:{n}", "test")
                assert _ledger_sum(vid) == before, "a refused redemption changed the ledger"
            else:
                post(vid, "redemption", -points, f"t:{vid}:{n}", "test")
                made.append((f"t:{vid}:{n}", "redemption", -points))
                expected -= points
        elif made:
            key, kind, signed = made[op[1] % len(made)]
            posting = post(vid, kind, signed, key, "retry")
            assert posting.replayed
            assert posting.entry.posting_key == key
            assert _ledger_sum(vid) == before, "a replayed posting changed the ledger"
        total, count = _ledger_sum(vid)
        assert total == expected == balance(vid)
        assert balance(vid) >= 0
        assert count == len(made)
    report = verify_chain(vid)
    assert report.ok, report.problems
    assert report.entries == len(made)


TAMPER_FIELDS = {
    "points": lambda e: {"points": e.points + 1},
    "balance_after": lambda e: {"balance_after": e.balance_after + 7},
    "reason": lambda e: {"reason": e.reason + " (changed)"},
    "actor": lambda e: {"actor": "someone else"},
    "kind": lambda e: {"kind": "bonus" if e.kind != "bonus" else "hours"},
    "posting_key": lambda e: {"posting_key": e.posting_key + "x"},
}


def _build_chain(vid: int, amounts: list[int]) -> None:
    from server.passbook.services import post

    balance = 0
    for n, amount in enumerate(amounts):
        if amount < 0 and -amount <= balance:
            post(vid, "redemption", amount, f"c:{vid}:{n}", "test")
            balance += amount
        else:
            post(vid, "bonus", abs(amount), f"c:{vid}:{n}", "test", reason="为老服务")
            balance += abs(amount)


chains = st.lists(st.integers(-300, 300).filter(bool), min_size=1, max_size=12)


@SETTINGS
@given(amounts=chains, pick=st.integers(0, 100), field=st.sampled_from(sorted(TAMPER_FIELDS)))
def test_the_chain_detects_any_edited_entry(
    ctx: None, community: dict[str, Any], amounts: list[int], pick: int, field: str
) -> None:
    from server.extensions import db
    from server.passbook.models import LedgerEntry
    from server.passbook.services import check_chain, statement

    vid = _fresh_volunteer(community)
    _build_chain(vid, amounts)
    assert check_chain(vid).ok
    entries, _ = statement(vid)
    victim = entries[pick % len(entries)]
    db.session.execute(
        sa.update(LedgerEntry)
        .where(LedgerEntry.id == victim.id)
        .values(TAMPER_FIELDS[field](victim))
    )
    db.session.expire_all()
    report = check_chain(vid)
    assert not report.ok, f"editing {field} of entry {victim.seq} went unnoticed"
    assert any(f"entry {victim.seq} " in p for p in report.problems), report.problems


@SETTINGS
@given(amounts=chains, pick=st.integers(0, 100))
def test_the_chain_detects_any_deleted_entry(
    ctx: None, community: dict[str, Any], amounts: list[int], pick: int
) -> None:
    from server.extensions import db
    from server.passbook.models import LedgerEntry
    from server.passbook.services import check_chain, statement

    vid = _fresh_volunteer(community)
    _build_chain(vid, amounts)
    entries, _ = statement(vid)
    victim = entries[pick % len(entries)]
    db.session.execute(sa.delete(LedgerEntry).where(LedgerEntry.id == victim.id))
    db.session.expire_all()
    report = check_chain(vid)
    assert not report.ok, f"deleting entry {victim.seq} of {len(entries)} went unnoticed"


def test_verify_checks_every_volunteer_and_names_the_broken_one(
    ctx: None, community: dict[str, Any]
) -> None:
    from server.extensions import db
    from server.passbook.models import LedgerEntry
    from server.passbook.services import ChainBroken, check_chain, verify_chain

    first, second = _fresh_volunteer(community), _fresh_volunteer(community)
    _build_chain(first, [100, -30, 5])
    _build_chain(second, [40])
    whole = verify_chain()
    assert (whole.accounts, whole.entries) == (2, 4)
    assert str(whole) == "2 accounts, 4 entries"
    db.session.execute(
        sa.update(LedgerEntry)
        .where(LedgerEntry.volunteer_id == second)
        .values(points=4000, balance_after=4000)
    )
    db.session.expire_all()
    with pytest.raises(ChainBroken, match="NOT intact") as broken:
        verify_chain()
    problems = broken.value.report.problems
    assert problems
    assert all(f"volunteer {second} " in p or f"volunteer {second}:" in p for p in problems)
    assert check_chain(first).ok


def test_the_database_refuses_a_negative_balance(ctx: None, community: dict[str, Any]) -> None:
    from sqlalchemy.exc import IntegrityError

    from server.extensions import db
    from server.passbook.models import PassbookAccount

    vid = _fresh_volunteer(community)
    _build_chain(vid, [10])
    db.session.commit()
    negative = sa.update(PassbookAccount).where(PassbookAccount.volunteer_id == vid)
    with pytest.raises(IntegrityError):
        db.session.execute(negative.values(balance=-1))
    db.session.rollback()


def test_a_key_reused_for_a_different_posting_is_refused(
    ctx: None, community: dict[str, Any]
) -> None:
    from server.errors import Conflict
    from server.passbook.services import balance, post

    vid = _fresh_volunteer(community)
    post(vid, "bonus", 50, "same-key", "test", reason="x")
    with pytest.raises(Conflict, match="已用于另一笔记账"):
        post(vid, "bonus", 60, "same-key", "test", reason="x")
    assert balance(vid) == 50


def test_the_statement_comes_in_pages_latest_first_each_oldest_first(
    ctx: None, community: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyset on seq: the latest page, then earlier ones, every entry once, in order."""
    from server.passbook import services

    monkeypatch.setattr(services, "STATEMENT_PAGE", 4)
    vid = _fresh_volunteer(community)
    _build_chain(vid, [1] * 10)
    pages = []
    before = None
    while True:
        entries, before = services.statement(vid, before)
        pages.append([e.seq for e in entries])
        if before is None:
            break
    assert pages == [[7, 8, 9, 10], [3, 4, 5, 6], [1, 2]]
