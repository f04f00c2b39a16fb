"""Opaque pull cursors: the server's change sequence plus the identity of its database."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass


class BadCursor(ValueError):
    """The cursor cannot be decoded."""


@dataclass(frozen=True)
class Cursor:
    """A position in one server database's change sequence.

    During a download from nothing (a new kiosk, a reset), `until` is the sequence number
    that download ends at and `since` the bound its pages share (requests settled before it
    are left out), so every page of one download is bounded alike.
    """

    epoch: str
    seq: int
    until: int | None = None
    since: str | None = None

    def encode(self) -> str:
        """Encode as an opaque URL-safe string."""
        data: dict[str, object] = {"e": self.epoch, "s": self.seq}
        if self.until is not None and self.since is not None:
            data.update(u=self.until, b=self.since)
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Decode a cursor made by `encode`; raise `BadCursor` on anything else."""
        try:
            padded = text + "=" * (-len(text) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            epoch, seq = data["e"], data["s"]
            until, since = data.get("u"), data.get("b")
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise BadCursor(f"cursor {text[:40]!r} is not valid") from exc
        if not isinstance(epoch, str) or not isinstance(seq, int) or seq < 0:
            raise BadCursor(f"cursor {text[:40]!r} is not valid")
        if (until, since) != (None, None) and (
            not isinstance(until, int) or not isinstance(since, str)
        ):
            raise BadCursor(f"cursor {text[:40]!r} is not valid")
        return cls(epoch=epoch, seq=seq, until=until, since=since)
