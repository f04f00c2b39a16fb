"""Turn Xvfb's framebuffer file (XWD) into a PNG, without an imaging library."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    """An RGB image, 3 bytes per pixel, rows top to bottom."""

    width: int
    height: int
    rgb: bytes

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        """The colour at (x, y)."""
        i = (y * self.width + x) * 3
        return self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]


def read_xwd(data: bytes) -> Image:
    """Decode a 24/32-bit TrueColor XWD dump such as Xvfb's `-fbdir` screen file."""
    fields = struct.unpack(">25I", data[:100])
    header_size, width, height = fields[0], fields[4], fields[5]
    byte_order, bits_per_pixel, bytes_per_line = fields[7], fields[11], fields[12]
    red_mask, ncolors = fields[14], fields[19]
    if bits_per_pixel != 32 or red_mask != 0xFF0000:
        raise ValueError(f"unsupported XWD: {bits_per_pixel} bpp, red mask {red_mask:#x}")
    offset = header_size + ncolors * 12
    rgb = bytearray(width * height * 3)
    r_at, g_at, b_at = (2, 1, 0) if byte_order == 0 else (1, 2, 3)
    for y in range(height):
        row = data[offset + y * bytes_per_line : offset + y * bytes_per_line + width * 4]
        out = memoryview(rgb)[y * width * 3 : (y + 1) * width * 3]
        out[0::3] = row[r_at::4]
        out[1::3] = row[g_at::4]
        out[2::3] = row[b_at::4]
    return Image(width, height, bytes(rgb))


def png(image: Image) -> bytes:
    """Encode an image as PNG (8-bit RGB, no filter)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    stride = image.width * 3
    raw = b"".join(b"\x00" + image.rgb[y * stride : (y + 1) * stride] for y in range(image.height))
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
