"""
Telling whether bytes are the image or video their MIME type says: what the Agents API's ingest
checks of an uploaded file or of inline ``data``.

Images must open with Pillow (imported on first use) as the format of their type; videos must
start like an ISO-BMFF file (MP4, QuickTime: a ``ftyp`` box), as the emulator's own placeholder
videos do (:func:`~.assets.placeholder_video`).
"""

from __future__ import annotations

import io

from airflow_provider_luma.testing.agents_catalog import IMAGE_MIME_TYPES


def media_problem(data: bytes, media_type: str) -> str | None:
    """
    Return why ``data`` is not a ``media_type`` file, or None if it is one.

    :param data: the bytes.
    :param media_type: their MIME type, e.g. ``image/png`` or ``video/mp4``.
    """
    if not data:
        return "no bytes"
    if media_type.startswith("video/"):
        return None if data[4:8] == b"ftyp" else f"the bytes are not a valid {media_type} video"
    if not media_type.startswith("image/"):
        return f"unsupported media type {media_type}"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            found = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return f"the bytes are not a valid {media_type} image"
    expected = IMAGE_MIME_TYPES.get(media_type)
    if expected is not None and found != expected:
        return f"the bytes are a {found} image, not {media_type}"
    return None
