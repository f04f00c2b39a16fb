"""Where a redirect taken from input may lead: only a path on the same site.

Browsers drop tabs and newlines from a URL and read a backslash as a slash, so `/\\t/evil.example`
or `/\\evil.example` would leave the site although it starts with one slash. The server and the
kiosk each build their redirect helper on `local_path`.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_TARGET = 2000
"""Longest target followed; a longer one is not a path anybody meant."""
_DECODE_ROUNDS = 3


def _unsafe(text: str) -> bool:
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return True
    if not text.isprintable():  # tabs, newlines, NUL, DEL and other control characters
        return True
    path = text.split("?", 1)[0].split("#", 1)[0]
    if any(ch.isspace() for ch in path):
        return True
    parts = urlsplit(text)
    return bool(parts.scheme or parts.netloc)


def local_path(target: object) -> str | None:
    """`target` when it is a path on this site however a browser reads it, else None.

    The check is made on the text as given and on it percent-decoded (up to three times), so an
    encoded tab, slash or backslash is refused too.
    """
    if not isinstance(target, str) or not 0 < len(target) <= MAX_TARGET:
        return None
    text = target
    for _ in range(_DECODE_ROUNDS + 1):
        if _unsafe(text):
            return None
        decoded = unquote(text)
        if decoded == text:
            return target
        text = decoded
    return None
