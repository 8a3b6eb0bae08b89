"""Asset files: real pictures (checked with Pillow), placeholder videos, sized blobs."""

from __future__ import annotations

import io
import time

import pytest
import requests
from PIL import Image

from airflow_provider_luma.testing.catalog import ASPECT_RATIOS, picture_size
from airflow_provider_luma.testing.imaging.picture import Picture, render_picture


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
def test_encoders_match_the_intended_pixels(aspect_ratio):
    width, height = picture_size(aspect_ratio, 256)
    picture = Picture(f"encoder check {aspect_ratio}", width, height)
    expected = b"".join(picture.rgb_rows())
    png = _open(picture.png())
    assert png.size == (width, height)
    assert png.tobytes() == expected  # lossless
    jpeg = _open(picture.jpeg())
    assert jpeg.size == (width, height)
    decoded = jpeg.convert("RGB").tobytes()
    mean_error = sum(abs(a - b) for a, b in zip(expected, decoded, strict=True)) / len(expected)
    assert mean_error < 6


def test_jpeg_encoding_is_fast_enough():
    started = time.perf_counter()
    render_picture("timing", 256, 256, "jpg")  # the largest default picture (1:1)
    assert time.perf_counter() - started < 0.5  # typically ~60 ms; generous for slow CI boxes


def test_pictures_are_deterministic():
    assert render_picture("same", 64, 48, "jpg") == render_picture("same", 64, 48, "jpg")
    assert render_picture("same", 64, 48, "png") != render_picture("other", 64, 48, "png")
