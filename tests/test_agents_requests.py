"""
Requests of Luma's Agents API built from the operators' parameters, and the connections that may
send them: checked before any call, errors naming the parameter.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_luma.agents import AGENTS, DREAM_MACHINE, api_of_model
from airflow_provider_luma.exceptions import LumaConnectionConfigError, LumaValidationError
from airflow_provider_luma.hooks._credentials import LumaCredentials
from airflow_provider_luma.kinds import build_request
from airflow_provider_luma.pricing import PriceTable

GENERATION = "0f6e5c3a-6a55-4f0b-9a57-2b8e9f1d7c10"


@pytest.mark.parametrize(
    ("kind", "params", "body"),
    [
        pytest.param(
            "image",
            {"prompt": "a lantern", "model": "uni-1", "format": "jpeg", "style": "manga",
             "aspect_ratio": "3:1"},
            {"type": "image", "model": "uni-1", "prompt": "a lantern", "output_format": "jpeg",
             "style": "manga", "aspect_ratio": "3:1"},
            id="image",
        ),
        pytest.param(
            "image",
            {"prompt": "in daylight", "model": "uni-1-max", "source": GENERATION, "web_search": True,
             "image_ref": [{"data": "aGk=", "media_type": "image/png"}, {"file_id": "file-1"}]},
            {"type": "image_edit", "model": "uni-1-max", "prompt": "in daylight",
             "source": {"generation_id": GENERATION}, "web_search": True,
             "image_ref": [{"data": "aGk=", "media_type": "image/png"}, {"file_id": "file-1"}]},
            id="image_edit",
        ),
        pytest.param(
            "video",
            {"prompt": "it rises", "model": "ray-3.2", "resolution": "360p", "duration": "10s", "loop": False,
             "keyframes": {"frame0": "https://example.com/a.png",
                           "frame1": {"type": "generation", "id": GENERATION}}},
            {"type": "video", "model": "ray-3.2", "prompt": "it rises",
             "video": {"resolution": "360p", "duration": "10s", "loop": False,
                       "start_frame": {"url": "https://example.com/a.png"},
                       "end_frame": {"generation_id": GENERATION}}},
            id="video",
        ),
        pytest.param(
            "video_reframe",
            {"prompt": "more sky", "model": "ray-3.2", "media_url": "https://example.com/v.mp4",
             "aspect_ratio": "9:16"},
            {"type": "video_reframe", "model": "ray-3.2", "prompt": "more sky", "aspect_ratio": "9:16",
             "source": {"url": "https://example.com/v.mp4", "media_type": "video/mp4"}},
            id="video_reframe",
        ),
        pytest.param(
            "video_modify",
            {"prompt": "in watercolour", "model": "ray-3.2", "media_url": GENERATION, "mode": "reimagine_2"},
            {"type": "video_edit", "model": "ray-3.2", "prompt": "in watercolour",
             "source": {"generation_id": GENERATION}, "video": {"edit": {"strength": "reimagine_2"}}},
            id="video_edit",
        ),
    ],
)  # fmt: skip
def test_an_agents_model_makes_the_agents_apis_request(kind, params, body):
    request = build_request(kind, params)
    assert request.path == "/generations"
    assert request.api == AGENTS
    assert request.body == body


@pytest.mark.parametrize(
    ("kind", "params", "param", "says"),
    [
        ("image", {"prompt": "a lantern", "model": "uni-1", "character_ref": ["https://e.com/a.png"]},
         "character_ref", "not a parameter of Luma's Agents API"),
        ("image", {"prompt": "a lantern", "model": "uni-1", "format": "jpg"}, "format", "png, jpeg"),
        ("image", {"prompt": "a lantern", "model": "uni-1", "aspect_ratio": "9:21"}, "aspect_ratio", "3:1"),
        ("image", {"prompt": "a lantern", "model": "ray-3.2"}, "model", "not for this endpoint"),
        ("image", {"prompt": "a lantern", "model": "uni-1", "image_ref": ["https://e.com/a.png"] * 10},
         "image_ref", "at most 9"),
        ("image", {"prompt": "a lantern", "model": "uni-1", "source": GENERATION,
                   "image_ref": ["https://e.com/a.png"] * 9}, "image_ref", "at most 8"),
        ("image", {"prompt": "a lantern", "model": "uni-1",
                   "source": {"url": "https://e.com/a.png", "file_id": "f"}},
         "source", "exactly one of"),
        ("image", {"prompt": "a lantern", "model": "uni-1", "source": {"data": "aGk="}}, "source.media_type",
         "required with data"),
        ("image", {"prompt": "a lantern", "model": "uni-1", "source": "not-an-id"}, "source", "UUID"),
        ("image", {"prompt": "a lantern", "model": "uni-1", "source": "s3://bucket/a.png"}, "source",
         "as an ObjectStoragePath"),
        ("image", {"prompt": "a lantern", "model": "uni-1", "web_search": "yes"}, "web_search",
         "True or False"),
        ("video_reframe", {"model": "ray-3.2", "media_url": GENERATION, "aspect_ratio": "9:16"}, "prompt",
         "required by Luma's Agents API"),
        ("video", {"prompt": "it rises", "model": "ray-3.2",
                   "keyframes": {"frame2": "https://e.com/a.png"}},
         "keyframes", "frame0 and/or frame1"),
        ("image_reframe", {"prompt": "a lantern", "model": "uni-1", "media_url": "https://e.com/a.png",
                           "aspect_ratio": "1:1"}, "model", "has no image reframe"),
        ("image", {"prompt": "a lantern", "model": "photon-1", "style": "manga"}, "style",
         "a parameter of Luma's Agents API"),
    ],
)  # fmt: skip
def test_a_bad_agents_request_is_refused_naming_the_parameter(kind, params, param, says):
    with pytest.raises(LumaValidationError) as refused:
        build_request(kind, params)
    assert refused.value.param == param
    assert says in str(refused.value)


def test_a_new_agents_model_passes_with_a_warning_and_the_dream_machine_keeps_its_own(caplog):
    assert build_request("image", {"prompt": "a lantern", "model": "uni-2"}).api == AGENTS
    assert "not one this provider lists" in caplog.text
    assert api_of_model("photon-1") == api_of_model("ray-2") == api_of_model("ray-3") == DREAM_MACHINE


class _Connection:
    def __init__(self, conn_type: str, host: str = "", password: str = "secret-key") -> None:
        self.conn_id, self.conn_type, self.host, self.password, self.port = (
            "luma_x",
            conn_type,
            host,
            password,
            None,
        )
        self.extra = None
        self.extra_dejson: dict = {}


@pytest.mark.parametrize(
    ("conn_type", "base_url", "api"),
    [
        ("luma", "https://api.lumalabs.ai/dream-machine/v1", DREAM_MACHINE),
        ("luma_agents", "https://agents.lumalabs.ai/v1", AGENTS),
        ("luma-agents", "https://agents.lumalabs.ai/v1", AGENTS),  # as a URI's scheme gives it
    ],
)
def test_a_connections_type_says_its_api_and_default_host(conn_type, base_url, api):
    credentials = LumaCredentials.from_connection(_Connection(conn_type))
    assert (credentials.base_url, credentials.api) == (base_url, api)


@pytest.mark.parametrize(
    ("conn_type", "host"),
    [("luma", "https://agents.lumalabs.ai/v1"), ("luma_agents", "api.lumalabs.ai/dream-machine/v1")],
)
def test_a_key_never_goes_to_the_other_apis_host(conn_type, host):
    with pytest.raises(LumaConnectionConfigError, match="points at") as refused:
        LumaCredentials.from_connection(_Connection(conn_type, host))
    assert "secret-key" not in str(refused.value)


@pytest.mark.parametrize(("conn_type", "model"), [("luma", "uni-1"), ("luma_agents", "photon-1")])
def test_a_create_for_the_other_api_is_refused_naming_both(conn_type, model):
    credentials = LumaCredentials.from_connection(_Connection(conn_type))
    with pytest.raises(LumaConnectionConfigError) as refused:
        credentials.check_serves({"model": model, "prompt": "a lantern"}, "luma_x")
    assert model in str(refused.value)
    assert "luma_x" in str(refused.value)
    assert "secret-key" not in str(refused.value)
    assert "secret-key" not in repr(credentials)


def test_agents_requests_are_priced_per_image_and_unknown_ones_stay_unknown():
    prices = PriceTable()
    image = build_request("image", {"prompt": "a lantern", "model": "uni-1"})
    edit = build_request("image", {"prompt": "a lantern", "model": "uni-1", "source": GENERATION})
    video = build_request("video", {"prompt": "it rises", "model": "ray-3.2"})
    assert prices.estimate(image).usd == 0.0404
    assert prices.estimate(edit).usd == 0.0434
    assert prices.estimate(video).usd is None  # Ray 3.2's price is not in the table: never free
    given = PriceTable.of_extra(
        json.loads('{"prices": {"video": {"ray-3.2": {"per_second": {"720p": 0.2}}}}}'), "luma_x"
    )
    ten_seconds = build_request(
        "video", {"prompt": "it rises", "model": "ray-3.2", "duration": "10s", "resolution": "720p"}
    )
    assert given.estimate(ten_seconds).usd == 2.0


@pytest.mark.parametrize(
    ("failure_code", "final"),
    [
        ("content_moderated", True),
        ("budget_exhausted", True),
        ("rate_limited", False),
        ("generation_failed", False),
    ],
)
def test_a_failed_agents_generation_names_its_code_and_is_final_by_it(failure_code, final):
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_luma.exceptions import generation_failed_error

    error = generation_failed_error(GENERATION, "Luma said no", failure_code)
    assert f"Luma said no ({failure_code})" in str(error)
    assert isinstance(error, AirflowFailException) is final


def test_a_file_in_object_storage_stands_as_an_upload_until_its_create_is_sent():
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    request = build_request(
        "image",
        {"prompt": "a lantern", "model": "uni-1", "source": ObjectStoragePath("file:///data/night.png")},
    )
    # The same in every try (the record's request): the file id is known only once it is uploaded.
    assert request.body["source"] == {"upload": "file:///data/night.png", "media_type": "image/png"}
    with pytest.raises(LumaValidationError, match="not an image or video by its name") as refused:
        build_request(
            "image", {"prompt": "a lantern", "model": "uni-1", "source": ObjectStoragePath("file:///a.txt")}
        )
    assert refused.value.param == "source"


def test_a_batch_refuses_files_in_object_storage_before_anything_is_sent():
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_luma.batches import build_batch

    with pytest.raises(LumaValidationError, match="takes no ObjectStoragePath") as refused:
        build_batch(
            "image",
            [{"prompt": "a lantern", "source": ObjectStoragePath("file:///a.png")}],
            {"model": "uni-1"},
        )
    assert refused.value.param == "requests[0]"


def test_inline_media_is_logged_by_its_size_not_its_bytes():
    from airflow_provider_luma.redaction import redacted_values

    body = build_request(
        "image",
        {
            "prompt": "a lantern",
            "model": "uni-1",
            "source": {"data": "QUJD" * 5000, "media_type": "image/png"},
        },
    ).body
    shown = json.dumps(redacted_values(body))
    assert "(20000 characters)" in shown
    assert len(shown) < 400
    assert redacted_values(body)["prompt"] == "a lantern"
