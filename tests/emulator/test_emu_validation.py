"""Request validation: 422 for schema errors (FastAPI style), 400 for Luma's own checks."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from airflow_provider_luma.testing import schemas

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
    ("/generations/image", {**IMAGE, "model": 2}, ["body", "model"], "string_type"),
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
        "float_parsing",
    ),
    (
        "/generations/image",
        {**IMAGE, "character_ref": {"identity0": {"images": "x"}}},
        ["body", "character_ref", "identity0", "images"],
        "list_type",
    ),
    ("/generations/image", {**IMAGE, "sync": "maybe"}, ["body", "sync"], "bool_parsing"),
    (
        "/generations/image",
        {**IMAGE, "modify_image_ref": URL},
        ["body", "modify_image_ref"],
        "model_attributes_type",
    ),
    ("/generations/video", {"prompt": "no model"}, ["body", "model"], "missing"),
    ("/generations/video", {**VIDEO, "loop": []}, ["body", "loop"], "bool_type"),
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
    (
        "/generations/video",
        {**VIDEO, "keyframes": {"frame1": {"url": URL}}},
        ["body", "keyframes", "frame1"],
        "union_tag_not_found",
    ),
    ("/generations/video", {**VIDEO, "concepts": [{"name": "x"}]}, ["body", "concepts", 0, "key"], "missing"),
    ("/generations/video/modify", {**MODIFY, "mode": "wild"}, ["body", "mode"], "literal_error"),
    (
        "/generations/video/modify",
        {k: v for k, v in MODIFY.items() if k != "generation_type"},
        ["body", "generation_type"],
        "missing",
    ),
    ("/generations/video/modify", {**MODIFY, "media": {}}, ["body", "media", "url"], "missing"),
    (
        "/generations/video/reframe",
        {k: v for k, v in REFRAME_VIDEO.items() if k != "aspect_ratio"},
        ["body", "aspect_ratio"],
        "missing",
    ),
    ("/generations/video/reframe", {**REFRAME_VIDEO, "x_start": 1.5}, ["body", "x_start"], "int_from_float"),
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
    errors = api.post("/generations/image", {"model": None, "aspect_ratio": "x", "format": "x"}).json()[
        "detail"
    ]
    assert {error["loc"][-1] for error in errors} == {"model", "aspect_ratio", "format"}


def error(kind, loc, msg, value, **ctx):
    """One entry of a 422 ``detail`` as FastAPI writes it."""
    return {"type": kind, "loc": loc, "msg": msg, "input": value, **({"ctx": ctx} if ctx else {})}


FRAME = {"type": "video", "url": URL}
RATIOS = "'1:1', '16:9', '9:16', '4:3', '3:4', '21:9' or '9:21'"
TAG_MSG = (
    "Input tag 'video' found using 'type' does not match any of the expected tags: 'generation', 'image'"
)
NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"
JSON_ERROR = "Expecting property name enclosed in double quotes"
NO_BODY = [error("missing", ["body"], "Field required", None)]
#: (method, path, JSON body or raw bytes, the detail FastAPI answers: pydantic's words)
FASTAPI_BODIES = [
    (
        "POST",
        "/generations/image",
        {"prompt": "x"},
        [error("missing", ["body", "model"], "Field required", {"prompt": "x"})],
    ),
    (
        "POST",
        "/generations/image",
        {**IMAGE, "prompt": 42},
        [error("string_type", ["body", "prompt"], "Input should be a valid string", 42)],
    ),
    (
        "POST",
        "/generations/image",
        {**IMAGE, "aspect_ratio": "2:1"},
        [
            error(
                "literal_error", ["body", "aspect_ratio"], f"Input should be {RATIOS}", "2:1", expected=RATIOS
            )
        ],
    ),
    (
        "POST",
        "/generations/video",
        {**VIDEO, "keyframes": {"frame0": FRAME}},
        [
            error(
                "union_tag_invalid",
                ["body", "keyframes", "frame0"],
                TAG_MSG,
                FRAME,
                discriminator="'type'",
                tag="video",
                expected_tags="'generation', 'image'",
            )
        ],
    ),
    (
        "POST",
        "/generations/image",
        b"{not json",
        [error("json_invalid", ["body", 1], "JSON decode error", {}, error=JSON_ERROR)],
    ),
    (
        "POST",
        "/generations/image",
        b"[1, 2]",
        [error("model_attributes_type", ["body"], NOT_AN_OBJECT, [1, 2])],
    ),
    ("POST", "/generations/image", b"", NO_BODY),
    ("POST", "/generations/image", b"null", NO_BODY),
    (
        "GET",
        "/generations?limit=-1",
        None,
        [
            error(
                "greater_than_equal",
                ["query", "limit"],
                "Input should be greater than or equal to 0",
                "-1",
                ge=0,
            )
        ],
    ),
]


def send(api, method, path, body):
    """Send ``body`` as JSON, or as it is when it is bytes."""
    if isinstance(body, bytes):
        return api.request(method, path, data=body, headers={"Content-Type": "application/json"})
    return api.request(method, path, json=body)


@pytest.mark.parametrize(("method", "path", "body", "detail"), FASTAPI_BODIES)
def test_422_bodies_are_fastapis(api, emu, method, path, body, detail):
    answer = send(api, method, path, body)
    assert (answer.status_code, answer.json()) == (422, {"detail": detail})
    assert emu.stats.creates == 0


def pydantic_detail(schema, value, *loc):
    """Pydantic's errors for ``value`` in FastAPI's shape (under ``loc``), as JSON gives them back."""
    with pytest.raises(ValidationError) as error:
        TypeAdapter(schema).validate_python(value, from_attributes=True)
    return json.loads(
        json.dumps([{**e, "loc": [*loc, *e["loc"]]} for e in error.value.errors(include_url=False)])
    )


@pytest.mark.parametrize(
    ("path", "schema", "body"),
    [
        (
            "/generations/image",
            schemas.ImageRequest,
            {
                "model": None,
                "image_ref": {"url": URL},
                "style_ref": [3],
                "character_ref": {"identity0": {"images": [1]}},
            },
        ),
        (
            "/generations/video",
            schemas.VideoRequest,
            {
                "model": "ray-2",
                "keyframes": {"frame0": {"type": "image"}, "frame1": "x"},
                "concepts": [{}],
                "loop": 2,
            },
        ),
        (
            "/generations/video/modify",
            schemas.VideoModifyRequest,
            {"model": "ray-1-6", "mode": "wild", "media": "u"},
        ),
        (
            "/generations/video/reframe",
            schemas.VideoReframeRequest,
            {"aspect_ratio": "2:1", "x_start": "1.5"},
        ),
        (f"/generations/{uuid.uuid4()}/audio", schemas.AudioRequest, {"prompt": ["a", "b"]}),
    ],
)
def test_422_bodies_are_what_pydantic_says(api, path, schema, body):
    answer = api.post(path, body)
    assert answer.status_code == 422
    assert answer.json()["detail"] == pydantic_detail(schema, body, "body")


def test_a_bad_path_id_is_what_pydantic_says(api):
    answer = api.get("/generations/12345")
    assert answer.status_code == 422
    # The message depends on the pydantic version ("invalid length: found 5" in recent ones).
    assert answer.json()["detail"] == pydantic_detail(uuid.UUID, "12345", "path", "id")


def test_a_body_that_is_not_text_is_400_as_in_fastapi(api):
    answer = send(api, "POST", "/generations/image", b'{"model": "\xff"}')
    assert (answer.status_code, answer.json()) == (400, {"detail": "There was an error parsing the body"})


def test_a_fastapi_app_with_the_same_models_answers_the_same(api):
    """The emulator's 422 (and body-parsing 400) answers against FastAPI's own, where it is installed."""
    fastapi = pytest.importorskip("fastapi")
    testclient = pytest.importorskip("fastapi.testclient")
    app = fastapi.FastAPI()
    app.post("/generations/image")(image_endpoint)
    app.post("/generations/video")(video_endpoint)
    app.post("/generations/{id}/upscale")(upscale_endpoint)
    app.get("/generations/{id}")(get_endpoint)
    app.get("/generations")(list_endpoint)
    reference = testclient.TestClient(app)
    requests_ = [(method, path, body) for method, path, body, _ in FASTAPI_BODIES] + [
        (
            "POST",
            "/generations/image",
            {"model": None, "format": "gif", "sync": "maybe", "image_ref": [{"weight": "x"}]},
        ),
        (
            "POST",
            "/generations/video",
            {"model": "ray-2", "keyframes": {"frame0": {"url": URL}}, "concepts": "x"},
        ),
        ("POST", f"/generations/{uuid.uuid4()}/upscale", {"resolution": 4, "generation_type": "video"}),
        ("POST", "/generations/video", b"  "),
        ("POST", "/generations/video", b'"a string"'),
        ("POST", "/generations/video", b'{"model": "\xff"}'),
        ("GET", "/generations/12345", None),
        ("GET", "/generations?offset=1.5", None),
    ]
    for method, path, body in requests_:
        ours = send(api, method, path, body)
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        theirs = reference.request(method, path, headers={"Content-Type": "application/json"}, **kwargs)
        assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()), (method, path, body)
        assert ours.status_code in (400, 422)


# The reference app's endpoints (module level: FastAPI reads their annotations from the module).
def image_endpoint(body: schemas.ImageRequest) -> None: ...
def video_endpoint(body: schemas.VideoRequest) -> None: ...
def upscale_endpoint(id: uuid.UUID, body: schemas.UpscaleRequest | None = None) -> None: ...
def get_endpoint(id: uuid.UUID) -> None: ...
def list_endpoint(
    limit: Annotated[int, Field(ge=0)] = 100, offset: Annotated[int, Field(ge=0)] = 0
) -> None: ...


def test_lax_mode_coerces_as_fastapi_does_and_the_echo_keeps_what_was_sent(api):
    reframed = api.create(
        "/generations/video/reframe", {**REFRAME_VIDEO, "x_start": "5", "y_end": 7.0, "seed": 3}
    )
    assert (reframed["request"]["x_start"], reframed["request"]["y_end"]) == ("5", 7.0)
    assert "seed" not in reframed["request"]  # unknown fields are ignored, not echoed
    # "true" and "2" are taken for a bool and a number: the answer waits until the image is done.
    assert api.image(sync="true", sync_timeout="2")["state"] == "completed"


LUMA_ERRORS = [
    # A model Luma does not know is a 400 naming the field, not a 422 (the schema has no enum for it).
    ("/generations/image", {**IMAGE, "model": "photon-2"}, "model must be one of photon-1, photon-flash-1"),
    ("/generations/video", {**VIDEO, "model": "ray-3"}, "model must be one of ray-2, ray-flash-2, ray-1-6"),
    ("/generations/video/modify", {**MODIFY, "model": "ray-1-6"}, "model must be one of ray-2, ray-flash-2"),
    ("/generations/video/reframe", {**REFRAME_VIDEO, "model": "photon-1"}, "model must be one of ray-2"),
    ("/generations/image/reframe", {**REFRAME_IMAGE, "model": "ray-2"}, "model must be one of photon-1"),
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
