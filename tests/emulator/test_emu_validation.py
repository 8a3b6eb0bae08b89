"""Request validation: 422 for schema errors (FastAPI style), 400 for Luma's own checks."""

from __future__ import annotations

import pytest

IMAGE = {"model": "photon-1", "prompt": "a lighthouse at dawn"}
VIDEO = {"model": "ray-2", "prompt": "waves at night"}
URL = "https://cdn.example.com/a.jpg"
MODIFY = {"generation_type": "modify_video", "model": "ray-2", "mode": "flex_1", "media": {"url": URL}}
REFRAME_IMAGE = {
    "generation_type": "reframe_image",
    "model": "photon-1",
    "aspect_ratio": "1:1",
    "media": {"url": URL},
}
REFRAME_VIDEO = {
    "generation_type": "reframe_video",
    "model": "ray-2",
    "aspect_ratio": "1:1",
    "media": {"url": URL},
}

SCHEMA_ERRORS = [
    ("/generations/image", {"prompt": "no model here"}, ["body", "model"], "missing"),
    ("/generations/image", {**IMAGE, "model": "photon-2"}, ["body", "model"], "literal_error"),
    ("/generations/image", {**IMAGE, "aspect_ratio": "2:1"}, ["body", "aspect_ratio"], "literal_error"),
    ("/generations/image", {**IMAGE, "format": "gif"}, ["body", "format"], "literal_error"),
    ("/generations/image", {**IMAGE, "prompt": 42}, ["body", "prompt"], "string_type"),
    (
        "/generations/image",
        {**IMAGE, "generation_type": "video"},
        ["body", "generation_type"],
        "literal_error",
    ),
    ("/generations/image", {**IMAGE, "image_ref": {"url": URL}}, ["body", "image_ref"], "list_type"),
    (
        "/generations/image",
        {**IMAGE, "image_ref": [{"url": URL, "weight": "high"}]},
        ["body", "image_ref", 0, "weight"],
        "float_type",
    ),
    (
        "/generations/image",
        {**IMAGE, "character_ref": {"identity0": {"images": "x"}}},
        ["body", "character_ref", "identity0", "images"],
        "list_type",
    ),
    ("/generations/image", {**IMAGE, "sync": "yes"}, ["body", "sync"], "bool_type"),
    ("/generations/video", {"prompt": "no model"}, ["body", "model"], "missing"),
    ("/generations/video", {**VIDEO, "model": "ray-3"}, ["body", "model"], "literal_error"),
    ("/generations/video", {**VIDEO, "loop": "yes"}, ["body", "loop"], "bool_type"),
    (
        "/generations/video",
        {**VIDEO, "keyframes": {"frame0": {"type": "video", "url": URL}}},
        ["body", "keyframes", "frame0"],
        "union_tag_invalid",
    ),
    (
        "/generations/video",
        {**VIDEO, "keyframes": {"frame0": {"type": "image"}}},
        ["body", "keyframes", "frame0", "image", "url"],
        "missing",
    ),
    ("/generations/video", {**VIDEO, "concepts": [{"name": "x"}]}, ["body", "concepts", 0, "key"], "missing"),
    ("/generations/video/modify", {**MODIFY, "mode": "wild"}, ["body", "mode"], "literal_error"),
    (
        "/generations/video/modify",
        {k: v for k, v in MODIFY.items() if k != "generation_type"},
        ["body", "generation_type"],
        "missing",
    ),
    ("/generations/video/modify", {**MODIFY, "model": "ray-1-6"}, ["body", "model"], "literal_error"),
    ("/generations/video/modify", {**MODIFY, "media": {}}, ["body", "media", "url"], "missing"),
    (
        "/generations/video/reframe",
        {k: v for k, v in REFRAME_VIDEO.items() if k != "aspect_ratio"},
        ["body", "aspect_ratio"],
        "missing",
    ),
    ("/generations/video/reframe", {**REFRAME_VIDEO, "x_start": 1.5}, ["body", "x_start"], "int_type"),
    ("/generations/image/reframe", {**REFRAME_IMAGE, "model": "ray-2"}, ["body", "model"], "literal_error"),
    (
        "/generations/image/reframe",
        {k: v for k, v in REFRAME_IMAGE.items() if k != "media"},
        ["body", "media"],
        "missing",
    ),
]


@pytest.mark.parametrize(("path", "body", "loc", "kind"), SCHEMA_ERRORS)
def test_schema_errors_are_422_with_fastapi_details(api, emu, path, body, loc, kind):
    answer = api.post(path, body)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["detail"]
    assert any(error["loc"] == loc and error["type"] == kind for error in errors), errors
    assert emu.stats.creates == 0


def test_all_schema_errors_are_reported_at_once(api):
    errors = api.post("/generations/image", {"model": "x", "aspect_ratio": "x", "format": "x"}).json()[
        "detail"
    ]
    assert {error["loc"][-1] for error in errors} == {"model", "aspect_ratio", "format"}


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"{not json", "json_invalid"), (b"[1, 2]", "model_attributes_type"), (b"", "missing")],
)
def test_bodies_that_are_not_json_objects_are_422(api, raw, kind):
    answer = api.request("POST", "/generations/image", data=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == kind


LUMA_ERRORS = [
    ("/generations/image", {"model": "photon-1"}, "Prompt is required"),
    ("/generations/image", {**IMAGE, "prompt": "ab"}, "Prompt is too short, minimum length is 3 characters"),
    (
        "/generations/image",
        {**IMAGE, "prompt": "x" * 5001},
        "Prompt is too long, maximum length is 5000 characters",
    ),
    ("/generations/image", {**IMAGE, "image_ref": [{"url": URL, "weight": 0.5}] * 5}, "at most 4"),
    (
        "/generations/image",
        {**IMAGE, "image_ref": [{"url": URL, "weight": 1.5}]},
        "image_ref[0].weight must be between 0 and 1",
    ),
    ("/generations/image", {**IMAGE, "style_ref": [{"url": URL, "weight": -0.1}]}, "style_ref[0].weight"),
    (
        "/generations/image",
        {**IMAGE, "modify_image_ref": {"url": URL, "weight": 2}},
        "modify_image_ref.weight must be between 0 and 1",
    ),
    ("/generations/image", {**IMAGE, "image_ref": [{"url": "ftp://x/a.jpg", "weight": 0.5}]}, "http(s) URL"),
    ("/generations/image", {**IMAGE, "character_ref": {"identity0": {"images": [URL] * 5}}}, "at most 4"),
    (
        "/generations/image",
        {**IMAGE, "character_ref": {"identity0": {"images": ["file:///etc/passwd"]}}},
        "http(s) URL",
    ),
    ("/generations/image", {**IMAGE, "callback_url": "not a url"}, "callback_url must be"),
    ("/generations/video", {"model": "ray-2"}, "Prompt is required"),
    ("/generations/video", {**VIDEO, "resolution": "8k"}, "resolution must be one of 540p, 720p, 1080p, 4k"),
    ("/generations/video", {**VIDEO, "duration": "7s"}, "duration must be one of 5s, 9s"),
    ("/generations/video", {**VIDEO, "concepts": [{"key": "moonwalk"}]}, "Unknown concept"),
    ("/generations/video", {**VIDEO, "keyframes": {}}, "No keyframes provided"),
    (
        "/generations/video",
        {**VIDEO, "keyframes": {"frame0": {"type": "generation", "id": "abc"}}},
        "must be a generation id",
    ),
    (
        "/generations/video",
        {**VIDEO, "keyframes": {"frame0": {"type": "image", "url": "s3://b/k.png"}}},
        "http(s) URL",
    ),
    (
        "/generations/video",
        {**VIDEO, "loop": True, "keyframes": {"frame1": {"type": "image", "url": URL}}},
        "Loop is not supported for end frame",
    ),
    (
        "/generations/video",
        {
            **VIDEO,
            "loop": True,
            "keyframes": {"frame0": {"type": "image", "url": URL}, "frame1": {"type": "image", "url": URL}},
        },
        "Loop is not supported for keyframes",
    ),
    ("/generations/video/modify", {**MODIFY, "media": {"url": "relative/path.mp4"}}, "media.url must be"),
    ("/generations/video/reframe", {**REFRAME_VIDEO, "prompt": "no"}, "Prompt is too short"),
    (
        "/generations/image/reframe",
        {**REFRAME_IMAGE, "callback_url": "mailto:me@example.com"},
        "callback_url must be",
    ),
]


@pytest.mark.parametrize(("path", "body", "fragment"), LUMA_ERRORS)
def test_luma_checks_are_400_with_a_message(api, emu, path, body, fragment):
    answer = api.post(path, body)
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["detail"]
    assert emu.stats.creates == 0


def test_upscale_validates_its_resolution(api):
    video = api.wait(api.video()["id"])
    answer = api.post(f"/generations/{video['id']}/upscale", {"resolution": "2k"})
    assert answer.status_code == 400
    assert "resolution" in answer.json()["detail"]
    wrong_type = api.post(f"/generations/{video['id']}/audio", {"generation_type": "upscale_video"})
    assert wrong_type.status_code == 422


def test_valid_edge_values_are_accepted(api):
    api.image("abc", image_ref=[{"url": URL, "weight": 0}] * 4, style_ref=[{"url": URL, "weight": 1}])
    api.image(
        "x" * 5000,
        character_ref={"identity0": {"images": [URL] * 4}},
        modify_image_ref={"url": URL, "weight": 0.05},
    )
    api.video(model="ray-1-6", resolution="4k", duration="9s", aspect_ratio="9:21", callback_url=None)
