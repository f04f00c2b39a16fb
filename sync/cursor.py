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
    """A position in one server database's change sequence."""

    epoch: str
    seq: int

    def encode(self) -> str:
        """Encode as an opaque URL-safe string."""
        raw = json.dumps({"e": self.epoch, "s": self.seq}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Decode a cursor made by `encode`; raise `BadCursor` on anything else."""
        try:
            padded = text + "=" * (-len(text) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            epoch, seq = data["e"], data["s"]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise BadCursor(f"cursor {text[:40]!r} is not valid") from exc
        if not isinstance(epoch, str) or not isinstance(seq, int) or seq < 0:
            raise BadCursor(f"cursor {text[:40]!r} is not valid")
        return cls(epoch=epoch, seq=seq)
