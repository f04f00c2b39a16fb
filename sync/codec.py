"""Body codec for the sync wire: canonical JSON, gzip, and bounded decompression."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from typing import Any

MAX_BODY_BYTES = 1 << 20
"""Largest decoded request body the server accepts (1 MiB)."""


class BodyTooLarge(ValueError):
    """The decoded body is larger than the limit."""


class BadEncoding(ValueError):
    """The body is not valid gzip or not valid UTF-8 JSON."""


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (UTF-8, no spaces), as sent on the wire."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def canonical(obj: Any) -> bytes:
    """Canonical JSON (sorted keys) used for content digests."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def digest(obj: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of `obj`."""
    return hashlib.sha256(canonical(obj)).hexdigest()


def gzip_bytes(data: bytes) -> bytes:
    """Gzip `data` (level 6 balances CPU on a kiosk against bytes on the wire)."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def decode(data: bytes, content_encoding: str | None, limit: int = MAX_BODY_BYTES) -> Any:
    """Decode a possibly gzipped JSON body, refusing more than `limit` decoded bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        raw = gunzip_bounded(data, limit)
    elif encoding == "identity":
        if len(data) > limit:
            raise BodyTooLarge(f"body is {len(data)} bytes; the limit is {limit}")
        raw = data
    else:
        raise BadEncoding(f"unsupported Content-Encoding {encoding!r}; use gzip or identity")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON and integers too long to convert.
        raise BadEncoding(f"body is not valid UTF-8 JSON: {exc}") from exc


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Gunzip at most `limit` bytes, so a small bomb cannot exhaust memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadEncoding(f"body is not valid gzip: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"decoded body is over the limit of {limit} bytes")
    if not inflater.eof:
        raise BadEncoding("body is not valid gzip: the stream is truncated")
    return out
