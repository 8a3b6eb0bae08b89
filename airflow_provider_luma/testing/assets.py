"""
The files behind asset URLs: pictures, placeholder videos and sized blobs.

* Pictures are real PNG/JPEG files that show the prompt and the generation id (see
  :mod:`.picture`), cached by generation id and format.
* Videos are a placeholder, NOT a playable MP4: a 24-byte ISO-BMFF ``ftyp`` box followed by a
  ``free`` box naming the generation, served as ``video/mp4``. Enough to download, store and
  checksum; do not hand it to a video decoder.
* Blobs (``/assets/blob/{size}``) are deterministic bytes of an exact size, streamed in chunks
  with constant memory, for download benchmarks.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from airflow_provider_luma.testing import catalog
from airflow_provider_luma.testing.picture import render_picture

if TYPE_CHECKING:
    from collections.abc import Iterator

BLOB_CHUNK = 256 * 1024
#: the largest blob served (4 GiB).
BLOB_MAX = 4 * 1024**3
_BLOB_PATTERN = bytes(range(256)) * (BLOB_CHUNK // 256)

CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "mp4": "video/mp4"}


def placeholder_video(generation_id: str) -> bytes:
    """
    Return the placeholder "video" of a generation (see the module docstring).

    :param generation_id: the generation id, written into the file.
    """
    ftyp = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"isom", 0x200, b"isom", b"mp41")
    note = f"luma-emulator placeholder video {generation_id}".encode()
    return ftyp + struct.pack(">I4s", 8 + len(note), b"free") + note


def blob_chunks(size: int) -> Iterator[bytes]:
    """
    Yield ``size`` deterministic bytes (0, 1, ..., 255, 0, 1, ...) in chunks.

    :param size: total number of bytes.
    """
    remaining = size
    while remaining > 0:
        chunk = _BLOB_PATTERN if remaining >= BLOB_CHUNK else _BLOB_PATTERN[:remaining]
        remaining -= len(chunk)
        yield chunk


class PictureCache:
    """
    Rendered pictures, most recently used kept.

    :param capacity: how many pictures to keep.
    """

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()

    def clear(self) -> None:
        """Forget every picture."""
        with self._lock:
            self._items.clear()

    def picture(
        self, generation_id: str, seed_text: str, aspect_ratio: str, fmt: str, long_side: int
    ) -> bytes:
        """
        Return the picture of a generation, rendering it on first use.

        :param generation_id: the cache key, also written on the picture.
        :param seed_text: the prompt: picks the colours and is written on the picture.
        :param aspect_ratio: ``"W:H"``.
        :param fmt: ``"png"`` or ``"jpg"``.
        :param long_side: the long side in pixels.
        """
        key = (generation_id, fmt, long_side)
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                return data
        width, height = catalog.picture_size(aspect_ratio, long_side)
        data = render_picture(seed_text, generation_id, width, height, fmt)
        with self._lock:
            self._items[key] = data
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return data
