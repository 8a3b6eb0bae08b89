"""Bad input is refused before any request, with an error that names the parameter."""

from __future__ import annotations

import pytest

from airflow_provider_luma.exceptions import LumaValidationError
from airflow_provider_luma.kinds import build_request
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
from airflow_provider_luma.validation import check_generation_id

GOOD = {"prompt": "a lighthouse at dawn"}
URL = "https://example.com/a.png"


def image_body(**params):
    """The body of an image create, with the operator's default model."""
    return build_request("image", {"model": "photon-1", **params}).body


def video_body(**params):
    """The body of a video create, with the operator's default model."""
    return build_request("video", {"model": "ray-2", **params}).body


BAD_IMAGE_INPUTS = [
    ({"prompt": ""}, "prompt", "3 to 5000"),
    ({"prompt": "ab"}, "prompt", "got 2"),
    ({"prompt": "x" * 5001}, "prompt", "got 5,001"),
    ({"prompt": 42}, "prompt", "must be a string"),
    ({"prompt": None}, "prompt", "must be a string"),
    ({"model": "ray-2"}, "model", "not for this endpoint; it takes photon-1, photon-flash-1"),
    ({"model": 42}, "model", "non-empty string such as photon-1, photon-flash-1"),
    ({"model": " "}, "model", "non-empty string"),
    ({"aspect_ratio": "2:1"}, "aspect_ratio", "16:9"),
    ({"aspect_ratio": 1.77}, "aspect_ratio", "allowed values"),
    ({"format": "gif"}, "format", "jpg, png"),
    ({"image_ref": [URL] * 5}, "image_ref", "at most 4"),
    ({"image_ref": URL}, "image_ref", "must be a list"),
    ({"image_ref": [{"url": URL, "weight": 1.5}]}, "image_ref[0].weight", "from 0 to 1"),
    ({"image_ref": [{"url": URL, "weight": -0.1}]}, "image_ref[0].weight", "from 0 to 1"),
    ({"image_ref": [{"url": URL, "weight": "heavy"}]}, "image_ref[0].weight", "number from 0 to 1"),
    ({"image_ref": [{"url": URL, "weight": True}]}, "image_ref[0].weight", "number from 0 to 1"),
    ({"image_ref": [{"url": URL, "weight": float("nan")}]}, "image_ref[0].weight", "number"),
    ({"image_ref": [{"weight": 0.5}]}, "image_ref[0]", "needs a 'url'"),
    ({"image_ref": [{"url": URL, "wieght": 0.5}]}, "image_ref[0]", "unknown keys"),
    ({"image_ref": ["ftp://example.com/a.png"]}, "image_ref[0].url", "http:// or https://"),
    ({"image_ref": ["/local/file.png"]}, "image_ref[0].url", "http:// or https://"),
    ({"style_ref": [{"url": "file:///etc/passwd"}]}, "style_ref[0].url", "http:// or https://"),
    ({"style_ref": [42]}, "style_ref[0]", "must be a URL or a mapping"),
    ({"character_ref": {"identity0": {"images": [URL] * 5}}}, "character_ref.identity0.images", "1 to 4"),
    ({"character_ref": {"identity0": {"images": []}}}, "character_ref.identity0.images", "1 to 4"),
    ({"character_ref": {"identity1": {"images": [URL]}}}, "character_ref", "identity0"),
    ({"character_ref": {"identity0": [URL]}}, "character_ref.identity0", "images"),
    ({"character_ref": ["not a url"]}, "character_ref.identity0.images[0]", "http"),
    ({"modify_image_ref": {"url": URL, "weight": 2}}, "modify_image_ref.weight", "from 0 to 1"),
    ({"modify_image_ref": ["a", "b"]}, "modify_image_ref", "must be a URL or a mapping"),
    ({"callback_url": "not-a-url"}, "callback_url", "http:// or https://"),
    ({"callback_url": 123}, "callback_url", "URL string"),
    (
        {"callback_url": "https://user:hunter2@hooks.example/luma"},
        "callback_url",
        "must not carry credentials",
    ),
    ({"image_ref": ["https://:hunter2@cdn.example/a.png"]}, "image_ref[0].url", "must not carry credentials"),
    ({"style_ref": ["https://cdn.example/a b.png"]}, "style_ref[0].url", "without spaces or control"),
    ({"image_ref": [" javascript:alert(1)"]}, "image_ref[0].url", "without spaces or control"),
    ({"modify_image_ref": "https:///a.png"}, "modify_image_ref.url", "with a host"),
    ({"image_ref": ["https://cdn.example:port/a.png"]}, "image_ref[0].url", "not a valid URL"),
]


@pytest.mark.parametrize(("overrides", "param", "allowed"), BAD_IMAGE_INPUTS)
def test_bad_image_input_names_the_parameter(overrides, param, allowed):
    with pytest.raises(LumaValidationError) as error:
        image_body(**{**GOOD, **overrides})
    assert error.value.param == param
    assert f"'{param}'" in str(error.value)
    assert allowed.replace("5000", "5,000") in str(error.value)


@pytest.mark.parametrize(
    "bad_id",
    [
        "",
        "123",
        "not-a-uuid",
        "../etc/passwd",
        42,
        None,
        # Spellings Python's uuid module reads but Luma never hands out: a template gone wrong.
        "urn:uuid:6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c",
        "{6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c}",
        "6f1c1f9e3c1a4b8e9d632f0f5c7a1b2c",
        "6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c\n",
        " 6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c",
        "6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c/../credits",
    ],
)
def test_generation_ids_must_be_uuids(bad_id):
    with pytest.raises(LumaValidationError, match="generation_id"):
        check_generation_id(bad_id)


def test_a_generation_id_is_returned_in_canonical_form():
    assert (
        check_generation_id("6F1C1F9E-3C1A-4B8E-9D63-2F0F5C7A1B2C") == "6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c"
    )


def test_credentials_in_a_url_are_never_echoed():
    with pytest.raises(LumaValidationError) as error:
        image_body(**GOOD, image_ref=["https://luma:hunter2@cdn.example/a.png"])
    assert "hunter2" not in str(error.value)
    assert "https://***@cdn.example/a.png" in str(error.value)


def test_good_input_builds_the_api_body():
    body = image_body(
        prompt="a lighthouse at dawn",
        model="photon-flash-1",
        aspect_ratio="1:1",
        format="png",
        image_ref=[URL, {"url": URL, "weight": 0.25}],
        style_ref=[{"url": URL, "weight": 1}],
        character_ref=[URL],
        modify_image_ref={"url": URL, "weight": 0.05},
        callback_url="https://hooks.example.com/luma",
    )
    assert body == {
        "generation_type": "image",
        "model": "photon-flash-1",
        "prompt": "a lighthouse at dawn",
        "aspect_ratio": "1:1",
        "format": "png",
        "image_ref": [{"url": URL}, {"url": URL, "weight": 0.25}],
        "style_ref": [{"url": URL, "weight": 1.0}],
        "character_ref": {"identity0": {"images": [URL]}},
        "modify_image_ref": {"url": URL, "weight": 0.05},
        "callback_url": "https://hooks.example.com/luma",
    }


def test_unset_options_are_left_to_luma():
    assert image_body(prompt="a lighthouse") == {
        "generation_type": "image",
        "model": "photon-1",
        "prompt": "a lighthouse",
    }


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"timeout": -5}, "timeout"),
        ({"poll_interval": "1"}, "poll_interval"),
    ],
)
def test_operator_refuses_bad_waiting_options_before_any_request(emulator, kwargs, param):
    operator = LumaImageGenerateOperator(task_id="t", prompt="a lighthouse", **kwargs)
    with pytest.raises(LumaValidationError, match=param):
        operator.execute({})
    assert emulator.stats.total_requests == 0


@pytest.mark.parametrize(("overrides", "param", "allowed"), BAD_IMAGE_INPUTS)
def test_operator_sends_nothing_on_bad_input(emulator, overrides, param, allowed):
    kwargs = {**GOOD, **overrides}
    operator = LumaImageGenerateOperator(task_id="t", **kwargs)
    with pytest.raises(LumaValidationError, match=param.split("[")[0]):
        operator.execute({})
    assert emulator.stats.total_requests == 0


GEN_ID = "6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c"
BAD_VIDEO_INPUTS = [
    ({"model": "photon-1"}, "model", "not for this endpoint; it takes ray-2, ray-flash-2"),
    ({"resolution": 1080}, "resolution", "540p, 720p, 1080p, 4k"),
    ({"duration": 5}, "duration", "5s, 9s"),
    ({"loop": "yes"}, "loop", "True or False"),
    ({"keyframes": {"frame2": URL}}, "keyframes", "frame0, frame1"),
    ({"keyframes": [URL]}, "keyframes", "mapping"),
    ({"keyframes": {"frame0": "not-an-id"}}, "keyframes.frame0", "UUID"),
    # The shorthand URL is checked like any other URL parameter.
    ({"keyframes": {"frame0": "https://user:pw@cdn.example/a.png"}}, "keyframes.frame0", "credentials"),
    ({"keyframes": {"frame1": "https://"}}, "keyframes.frame1", "with a host"),
    ({"keyframes": {"frame1": "HTTP://cdn.example/a b.png"}}, "keyframes.frame1", "without spaces"),
    ({"keyframes": {"frame0": {"type": "video", "url": URL}}}, "keyframes.frame0.type", "image, generation"),
    ({"keyframes": {"frame0": {"type": "image"}}}, "keyframes.frame0", "'type' and 'url'"),
    ({"keyframes": {"frame1": {"type": "generation", "id": "123"}}}, "keyframes.frame1.id", "UUID"),
    (
        {"keyframes": {"frame0": {"type": "image", "url": "s3://bucket/a.png"}}},
        "keyframes.frame0.url",
        "http",
    ),
    ({"concepts": "dolly_zoom"}, "concepts", "list"),
    ({"concepts": [{"name": "x"}]}, "concepts[0]", "concept key"),
]


@pytest.mark.parametrize(("overrides", "param", "allowed"), BAD_VIDEO_INPUTS)
def test_bad_video_input_names_the_parameter(overrides, param, allowed):
    with pytest.raises(LumaValidationError) as error:
        video_body(**{"prompt": "waves at night", **overrides})
    assert error.value.param == param
    assert allowed in str(error.value)


def test_video_keyframe_shorthands_build_the_api_shape():
    body = video_body(
        prompt="extend it",
        keyframes={"frame0": GEN_ID, "frame1": URL},
        concepts=["dolly_zoom", {"key": "orbit_left"}],
        resolution="720p",
        duration="9s",
        loop=False,
    )
    assert body["keyframes"] == {
        "frame0": {"type": "generation", "id": GEN_ID},
        "frame1": {"type": "image", "url": URL},
    }
    assert body["concepts"] == [{"key": "dolly_zoom"}, {"key": "orbit_left"}]
    assert body["generation_type"] == "video"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"max_asset_bytes": 0}, "max_asset_bytes"),
        ({"max_asset_bytes": 1.5e9}, "max_asset_bytes"),
        ({"max_asset_bytes": True}, "max_asset_bytes"),
        ({"copy_timeout": -1}, "copy_timeout"),
        ({"copy_timeout": "1h"}, "copy_timeout"),
    ],
)
def test_copy_limits_are_checked_when_the_dag_is_parsed(kwargs, param):
    with pytest.raises(LumaValidationError) as error:
        LumaImageGenerateOperator(task_id="t", prompt="a lighthouse", output_path="file:///tmp/x/", **kwargs)
    assert error.value.param == param


OPEN_VALUES = [
    ("image", {"prompt": "a lighthouse", "model": "photon-2"}, "model", "photon-2"),
    ("video", {"prompt": "waves", "model": "ray-3"}, "model", "ray-3"),
    ("video", {"prompt": "waves", "model": "ray-1-6"}, "model", "ray-1-6"),  # dropped from Luma's SDK
    ("video", {"prompt": "waves", "model": "ray-2", "resolution": "8k"}, "resolution", "8k"),
    ("video", {"prompt": "waves", "model": "ray-2", "duration": "10s"}, "duration", "10s"),
    ("video_upscale", {"generation_id": GEN_ID, "resolution": "8k"}, "resolution", "8k"),
    ("video_modify", {"media_url": URL, "mode": "flex_1", "model": "ray-3"}, "model", "ray-3"),
    ("image_reframe", {"media_url": URL, "aspect_ratio": "1:1", "model": "photon-2"}, "model", "photon-2"),
]


@pytest.mark.parametrize(("kind", "params", "param", "value"), OPEN_VALUES)
def test_values_the_provider_does_not_list_go_to_luma_with_a_warning(kind, params, param, value, caplog):
    """A model, resolution or duration Luma added after this release needs no new release."""
    with caplog.at_level("WARNING", logger="airflow_provider_luma.validation"):
        body = build_request(kind, params).body
    assert body[param] == value
    [warning] = caplog.records
    assert warning.getMessage().startswith(f"{param}={value!r} is not one this provider lists")


def test_listed_values_pass_without_a_warning(caplog):
    with caplog.at_level("WARNING", logger="airflow_provider_luma.validation"):
        video_body(prompt="waves", model="ray-flash-2", resolution="4k", duration="9s")
    assert caplog.records == []


@pytest.mark.parametrize("model", ["photon-1", "photon-flash-1"])
def test_a_model_known_for_another_endpoint_is_still_refused(model):
    with pytest.raises(LumaValidationError, match="not for this endpoint; it takes ray-2, ray-flash-2"):
        build_request("video_modify", {"media_url": URL, "mode": "flex_1", "model": model})
