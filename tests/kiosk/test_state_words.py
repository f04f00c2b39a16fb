"""The kiosk's words for a request's state follow the sync contract's statuses."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from kiosk.i18n import CATALOGS
from kiosk.schema import LOCAL_STATES
from kiosk.screens import STATE_WORDS, state_words
from sync.statuses import STATUSES


def _english() -> dict[str, str]:
    with (CATALOGS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale="en") if m.id}


def test_every_status_of_the_contract_and_every_local_state_has_words() -> None:
    """STATE_WORDS is keyed by exactly the contract's statuses and the kiosk's own states."""
    assert set(STATE_WORDS) == set(STATUSES) | set(LOCAL_STATES)
    assert set(LOCAL_STATES) == {"queued", "rejected"}
    assert not set(LOCAL_STATES) & set(STATUSES)
    for state, words in STATE_WORDS.items():
        assert words.strip(), state


@pytest.mark.parametrize(("state", "words"), sorted(STATE_WORDS.items()))
def test_every_state_reads_in_english_too(state: str, words: str) -> None:
    """Each state's words have an English translation in the catalog."""
    assert _english().get(words), (state, words)


def test_a_status_the_kiosk_does_not_know_reads_as_received() -> None:
    """A newer server's status shows as received, never as an error."""
    assert state_words("triaged_by_robot") == STATE_WORDS["received"]
    assert state_words("on_site") == "已上门"
