"""A minimal PNG writer (8-bit RGB, no interlace) built on :mod:`zlib` and :mod:`struct`."""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rgb_rows: Iterable[bytes]) -> bytes:
    """
    Encode an RGB picture as PNG.

    :param width: picture width in pixels.
    :param height: picture height in pixels.
    :param rgb_rows: ``height`` rows of ``3 * width`` bytes (R, G, B per pixel), top to bottom.
    """
    raw = b"".join(b"\x00" + bytes(row) for row in rgb_rows)  # filter type 0 (None) on every row
    if len(raw) != height * (1 + 3 * width):
        raise ValueError("rgb_rows do not match width and height")
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
    )
