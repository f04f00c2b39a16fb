"""Finding phone numbers however they are written, to mask them or to erase a person's copies.

A phone number is a run of 7 to 15 digits (any script's digits, full-width ones too), with up to
two separators between digits (spaces, dots, dashes, brackets, full-width or not) and an
optional +86 / 0086 / 86 prefix. Dates and room codes are never passed here.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_SEP = r"[\s.\-()\u00b7\u2010-\u2015\u3000\uff08\uff09\uff0d\uff0e]"
PHONE = re.compile(
    rf"(?<!\d)(?:(?:[+\uff0b]|00|\uff10\uff10){_SEP}{{0,2}}(?:86|\uff18\uff16){_SEP}{{0,2}})?"
    rf"\d(?:{_SEP}{{0,2}}\d){{6,14}}(?!\d)"
)
MASK = "[number removed]"
ERASED = "\u2587\u2587"
"""What an erased name or number becomes inside free text."""


def national_digits(text: str) -> str:
    """The ASCII digits of a phone number without a +86 / 0086 country prefix."""
    digits = "".join(str(unicodedata.digit(ch)) for ch in text if ch.isdigit())
    if digits.startswith("0086"):
        return digits[4:]
    if digits.startswith("86") and len(digits) >= 13:
        return digits[2:]
    return digits


def mask_phones(text: str) -> str:
    """`text` with every phone-like number replaced by a mask."""
    return PHONE.sub(MASK, text)


def phones_in(text: str) -> set[str]:
    """The phone numbers written in `text`, as national digits."""
    return {national_digits(m.group(0)) for m in PHONE.finditer(text)}


@dataclass(frozen=True)
class Needles:
    """What identifies one person in free text: their phone numbers and names."""

    phones: frozenset[str]
    """National digits."""
    names: frozenset[str]

    @classmethod
    def of(cls, phones: Iterable[str | None], names: Iterable[str | None]) -> Needles:
        """Needles from raw phone numbers and names (empty and one-letter names ignored)."""
        return cls(
            phones=frozenset(d for d in (national_digits(p) for p in phones if p) if len(d) >= 5),
            names=frozenset(n.strip() for n in names if n and len(n.strip()) >= 2),
        )

    def __bool__(self) -> bool:
        return bool(self.phones or self.names)

    def found_in(self, text: str | None) -> bool:
        """Whether `text` names or numbers this person."""
        if not text:
            return False
        if any(name in text for name in self.names):
            return True
        if any(digits in text for digits in self.phones):
            return True
        return bool(self.phones and self.phones & _digit_runs(text))

    def found_in_json(self, value: Any) -> bool:
        """Whether a JSON value holds this person anywhere."""
        return value is not None and self.found_in(json.dumps(value, ensure_ascii=False))

    def redact(self, text: str | None) -> str | None:
        """`text` with this person's names and numbers replaced."""
        if not text:
            return text
        for name in self.names:
            text = text.replace(name, ERASED)
        if self.phones:
            text = PHONE.sub(
                lambda m: ERASED if national_digits(m.group(0)) in self.phones else m.group(0),
                text,
            )
            for digits in self.phones:
                text = text.replace(digits, ERASED)
        return text


def _digit_runs(text: str) -> set[str]:
    """Phone spellings in `text` and its bare digit runs, as national digits."""
    return phones_in(text) | {national_digits(m.group(0)) for m in re.finditer(r"\d+", text)}
