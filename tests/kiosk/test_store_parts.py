"""The store is split along the sync client's protocol: the outbox is what the client needs."""

from __future__ import annotations

from kiosk.outbox import Outbox
from kiosk.residents import Residents
from kiosk.store import Store
from sync.client import SyncStore


def _methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and name[0] != "_"}


def test_the_outbox_holds_every_method_the_sync_client_uses() -> None:
    """Every SyncStore method is the outbox's own; none is the resident side's or Store's."""
    needed = _methods(SyncStore)
    assert needed
    assert needed <= _methods(Outbox), sorted(needed - _methods(Outbox))
    assert not needed & _methods(Residents)
    assert not needed & _methods(Store)


def test_the_resident_side_and_the_outbox_do_not_overlap() -> None:
    """No method is defined twice, so the composed Store has one of each."""
    assert not _methods(Residents) & _methods(Outbox)
