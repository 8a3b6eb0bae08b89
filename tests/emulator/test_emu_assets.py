"""Asset files: real pictures showing prompt and id (checked with Pillow), placeholder videos, sized blobs."""

from __future__ import annotations

import io
import time

import pytest
import requests
from PIL import Image

from airflow_provider_luma.testing.catalog import ASPECT_RATIOS, picture_size
from airflow_provider_luma.testing.picture import render_picture


def _open(data: bytes) -> Image.Image:
    Image.open(io.BytesIO(data)).verify()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("fmt", "pil_format", "content_type"), [("png", "PNG", "image/png"), ("jpg", "JPEG", "image/jpeg")]
)
def test_completed_image_is_a_real_picture(api, fmt, pil_format, content_type):
    generation = api.wait(api.image("a red fox in snow", format=fmt, aspect_ratio="4:3")["id"])
    answer = requests.get(generation["assets"]["image"], timeout=10)  # no Authorization: a CDN
    assert answer.status_code == 200
    assert answer.headers["content-type"] == content_type
    image = _open(answer.content)
    assert image.format == pil_format
    assert image.size == (256, 192)
    assert image.mode == "RGB"


def test_default_format_is_jpg_and_pictures_differ_between_prompts(api):
    pictures = []
    for prompt in ("a castle at dusk", "a castle at dawn"):
        generation = api.wait(api.image(prompt)["id"])
        assert generation["assets"]["image"].endswith(".jpg")
        pictures.append(_open(requests.get(generation["assets"]["image"], timeout=10).content))
    first, second = (p.convert("RGB").tobytes() for p in pictures)
    assert first != second
    differing = sum(a != b for a, b in zip(first, second, strict=True))
    assert differing > len(first) // 2


def test_video_assets(api):
    generation = api.wait(api.video(aspect_ratio="9:16")["id"])
    video = requests.get(generation["assets"]["video"], timeout=10)
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    thumbnail = _open(requests.get(generation["assets"]["image"], timeout=10).content)
    assert thumbnail.size == (144, 256)


def test_assets_exist_only_for_completed_live_generations(api, emu):
    generation = api.image(format="png")
    url = f"{emu.url}/assets/{generation['id']}.png"
    assert requests.get(url, timeout=10).status_code == 404
    api.wait(generation["id"])
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(url.replace(".png", ".jpg"), timeout=10).status_code == 404
    assert requests.get(url.replace(".png", ".mp4"), timeout=10).status_code == 404
    assert requests.get(f"{emu.url}/assets/not-an-id.png", timeout=10).status_code == 404
    api.delete(f"/generations/{generation['id']}")
    assert requests.get(url, timeout=10).status_code == 404
    assert emu.stats.requests["GET /assets/{name}"] == 6


@pytest.mark.parametrize("size", [0, 1, 1000, 256 * 1024, 3 * 1024 * 1024 + 17])
def test_blob_has_the_exact_size(emu, size):
    answer = requests.get(f"{emu.url}/assets/blob/{size}", timeout=10, stream=True)
    assert answer.status_code == 200
    assert answer.headers["content-length"] == str(size)
    body = b"".join(answer.iter_content(65536))
    assert len(body) == size
    assert (
        body[:300] == bytes(range(256))[: min(size, 256)] + bytes(range(44))[: max(0, min(size, 300) - 256)]
    )


def test_blob_streams_a_big_body_quickly(emu):
    size = 64 * 1024 * 1024
    started = time.monotonic()
    with requests.get(f"{emu.url}/assets/blob/{size}", timeout=10, stream=True) as answer:
        received = sum(len(chunk) for chunk in answer.iter_content(1024 * 1024))
    assert received == size
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("size", ["-1", "abc", str(5 * 1024**3)])
def test_blob_rejects_bad_sizes(emu, size):
    assert requests.get(f"{emu.url}/assets/blob/{size}", timeout=10).status_code == 404


# -- the encoders themselves ----------------------------------------------------------------------


@pytest.mark.parametrize("aspect_ratio", ASPECT_RATIOS)
@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_pictures_have_the_asked_size_and_format(aspect_ratio, fmt):
    width, height = picture_size(aspect_ratio, 256)
    image = _open(render_picture("a size check", "0f0e0d0c-aaaa-4bbb-8ccc-123456789abc", width, height, fmt))
    assert image.size == (width, height)
    assert image.format == {"png": "PNG", "jpg": "JPEG"}[fmt]


def _band_differs(first: bytes, second: bytes, width: int, rows: range) -> bool:
    row = 3 * width
    return any(first[row * y : row * (y + 1)] != second[row * y : row * (y + 1)] for y in rows)


def test_pictures_show_the_prompt_at_the_top_and_the_id_at_the_bottom():
    width, height = 256, 192
    id_a, id_b = "11111111-aaaa-4bbb-8ccc-000000000001", "99999999-dddd-4eee-8fff-000000000002"

    def pixels(prompt: str, generation_id: str) -> bytes:
        return _open(render_picture(prompt, generation_id, width, height, "png")).tobytes()

    base = pixels("a red fox in snow", id_a)
    other_id = pixels("a red fox in snow", id_b)
    # Same prompt, other id: only the bottom band (the id's line) changes.
    assert not _band_differs(base, other_id, width, range(height // 2))
    assert _band_differs(base, other_id, width, range(height - 30, height))
    # Text is drawn: the prompt's band has white glyph pixels, which a plain gradient lacks.
    image = Image.frombytes("RGB", (width, height), base)
    top = image.crop((0, 0, width, 40)).getcolors(maxcolors=width * 40)
    assert top is not None
    assert any(colour == (255, 255, 255) for _, colour in top)
    # Another prompt: other colours and other words.
    assert base != pixels("a red fox in snow at night", id_a)


def test_pictures_are_deterministic():
    same = "00000000-0000-4000-8000-000000000000"
    assert render_picture("same", same, 64, 48, "jpg") == render_picture("same", same, 64, 48, "jpg")
    assert render_picture("same", same, 64, 48, "png") != render_picture("other", same, 64, 48, "png")
