"""
The emulator's image assets: a picture that shows its prompt and generation id, drawn with Pillow.

The background is a vertical gradient between two colours taken from the prompt's SHA-256, so
different prompts differ in every pixel; the prompt's words are written on it, wrapped to the width,
and the generation id along the bottom, so that a person tells two images apart at a glance.
Rendering is deterministic: the same prompt, id and size give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image, ImageFont

#: Pillow's file format names for the API's ``format`` values.
PIL_FORMATS = {"png": "PNG", "jpg": "JPEG"}
_TEXT = (255, 255, 255)
_OUTLINE = (0, 0, 0)


def _colours(prompt: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


def _gradient(width: int, height: int, top: tuple[int, ...], bottom: tuple[int, ...]) -> Image.Image:
    from PIL import Image

    column = Image.new("RGB", (1, height))
    column.putdata(
        [
            tuple(round(a + (b - a) * y / max(1, height - 1)) for a, b in zip(top, bottom, strict=True))
            for y in range(height)
        ]
    )
    return column.resize((width, height))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _wrap(prompt: str, columns: int, max_lines: int) -> str:
    lines = textwrap.wrap(prompt, width=max(4, columns)) or [""]
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: max(1, columns - 1)] + "…"]
    return "\n".join(lines)


def render_picture(prompt: str, generation_id: str, width: int, height: int, fmt: str) -> bytes:
    """
    Draw the picture of a generation and encode it.

    :param prompt: the generation's prompt: picks the colours and is written on the picture.
    :param generation_id: written along the bottom edge.
    :param width: width in pixels.
    :param height: height in pixels.
    :param fmt: ``"png"`` or ``"jpg"``.
    """
    from PIL import ImageDraw

    image = _gradient(width, height, *_colours(prompt))
    draw = ImageDraw.Draw(image)
    margin = max(2, width // 32)
    prompt_size = max(9, min(width, height) // 12)
    id_size = max(7, prompt_size * 2 // 3)
    # Average glyph width is about half the font size; the id gets one line, shortened if need be.
    label = generation_id if len(generation_id) * id_size // 2 <= width - 2 * margin else generation_id[:8]
    max_lines = max(1, (height - 3 * margin - id_size) // (prompt_size + 2))
    text = _wrap(prompt, (width - 2 * margin) * 2 // prompt_size, max_lines)
    draw.multiline_text(
        (margin, margin), text, font=_font(prompt_size), fill=_TEXT, stroke_width=1, stroke_fill=_OUTLINE
    )
    draw.text(
        (margin, height - margin - id_size),
        label,
        font=_font(id_size),
        fill=_TEXT,
        stroke_width=1,
        stroke_fill=_OUTLINE,
    )
    out = io.BytesIO()
    image.save(out, format=PIL_FORMATS[fmt], **({"quality": 85} if fmt == "jpg" else {}))
    return out.getvalue()
