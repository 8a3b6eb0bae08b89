"""
Deterministic pictures derived from a prompt, rendered as PNG or JPEG.

The prompt's SHA-256 picks a cyclic four-colour palette and two wave-plus-slope profiles, one
along x and one along y. A pixel's palette index is ``(fx[x] + gy[y]) mod 256``, so every row is
one ``bytes.translate`` of the x profile, and colour conversion is a table look-up too: the
Python work per pixel is close to nil. Different prompts give different colours and patterns.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

from airflow_provider_luma.testing.imaging.jpeg import encode_jpeg
from airflow_provider_luma.testing.imaging.png import encode_png


@lru_cache(maxsize=1)
def _shift_tables() -> tuple[bytes, ...]:
    """``tables[k]`` maps palette index ``i`` to ``(i + k) mod 256``."""
    return tuple(bytes((i + k) & 0xFF for i in range(256)) for k in range(256))


def _clamp(value: float) -> int:
    return 0 if value < 0 else 255 if value > 255 else round(value)


class Picture:
    """
    A prompt's picture: palette-index rows plus per-channel look-up tables.

    :param seed_text: the text the picture is derived from (usually the prompt).
    :param width: width in pixels.
    :param height: height in pixels.
    """

    def __init__(self, seed_text: str, width: int, height: int) -> None:
        self.width = width
        self.height = height
        digest = hashlib.sha256(seed_text.encode("utf-8")).digest()
        stops = [tuple(digest[i * 3 : i * 3 + 3]) for i in range(4)]
        red, green, blue = bytearray(256), bytearray(256), bytearray(256)
        for i in range(256):
            seg, frac = divmod(i * 4 / 256, 1.0)
            a, b = stops[int(seg)], stops[(int(seg) + 1) % 4]
            red[i], green[i], blue[i] = (_clamp(a[c] + (b[c] - a[c]) * frac) for c in range(3))
        self.red, self.green, self.blue = bytes(red), bytes(green), bytes(blue)
        self._fx = bytes(self._profile(digest[12:16], width))
        self._gy = list(self._profile(digest[16:20], height))

    @staticmethod
    def _profile(params: bytes, length: int) -> list[int]:
        slope = (params[0] / 255.0 * 3.0) - 1.5  # palette cycles across the picture
        waves = 1 + params[1] % 4
        phase = params[2] / 255.0
        amplitude = 24 + params[3] % 48
        return [
            round(256 * slope * t + amplitude * math.sin(2 * math.pi * (waves * t + phase))) & 0xFF
            for t in (i / max(1, length) for i in range(length))
        ]

    def index_rows(self) -> list[bytes]:
        """Return the palette index of every pixel, row by row."""
        shifts = _shift_tables()
        return [self._fx.translate(shifts[g]) for g in self._gy]

    def rgb_rows(self) -> list[bytes]:
        """Return ``height`` rows of packed RGB bytes."""
        rows = []
        for index in self.index_rows():
            row = bytearray(3 * self.width)
            row[0::3] = index.translate(self.red)
            row[1::3] = index.translate(self.green)
            row[2::3] = index.translate(self.blue)
            rows.append(bytes(row))
        return rows

    def ycbcr_tables(self) -> tuple[bytes, bytes, bytes]:
        """Return palette index -> Y, Cb and Cr tables (JFIF conversion)."""
        luma, cb, cr = bytearray(256), bytearray(256), bytearray(256)
        for i, (r, g, b) in enumerate(zip(self.red, self.green, self.blue, strict=True)):
            luma[i] = _clamp(0.299 * r + 0.587 * g + 0.114 * b)
            cb[i] = _clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b)
            cr[i] = _clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b)
        return bytes(luma), bytes(cb), bytes(cr)

    def png(self) -> bytes:
        """Encode the picture as PNG."""
        return encode_png(self.width, self.height, self.rgb_rows())

    def jpeg(self, quality: int = 85) -> bytes:
        """
        Encode the picture as a 4:2:0 JPEG.

        :param quality: JPEG quality, 1..100.
        """
        y_table, cb_table, cr_table = self.ycbcr_tables()
        rows = self.index_rows()
        half = [row[0::2] for row in rows[0::2]]  # chroma point-sampled at even pixels
        return encode_jpeg(
            self.width,
            self.height,
            [row.translate(y_table) for row in rows],
            [row.translate(cb_table) for row in half],
            [row.translate(cr_table) for row in half],
            quality,
        )


def render_picture(seed_text: str, width: int, height: int, fmt: str) -> bytes:
    """
    Render the picture of a prompt.

    :param seed_text: the prompt (or any text) the pixels derive from.
    :param width: width in pixels.
    :param height: height in pixels.
    :param fmt: ``"png"`` or ``"jpg"``.
    """
    picture = Picture(seed_text, width, height)
    return picture.png() if fmt == "png" else picture.jpeg()
