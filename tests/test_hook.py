"""LumaHook against the emulator over real HTTP: every endpoint, retries, creates, secrets."""

from __future__ import annotations

import json
import socket
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_luma.adoption import CLOCK_SKEW_SECONDS
from airflow_provider_luma.exceptions import (
    LumaAdoptionError,
    LumaAmbiguousCreateError,
    LumaAuthenticationError,
    LumaBadRequestError,
    LumaConnectionConfigError,
    LumaNotFoundError,
    LumaRetryableError,
    LumaTransportError,
)
from airflow_provider_luma.hooks._http import refused_field
from airflow_provider_luma.hooks.luma import DEFAULT_BASE_URL, LumaHook
from airflow_provider_luma.testing import FaultRule
from tests.conftest import API_KEY

IMAGE = {"generation_type": "image", "model": "photon-1", "prompt": "a lighthouse at dawn"}
MISSING_ID = "00000000-0000-4000-8000-000000000000"


def wait_until_done(hook: LumaHook, generation_id: str, limit: float = 10) -> dict:
    deadline = time.time() + limit
    while time.time() < deadline:
        generation = hook.get_generation(generation_id)
        if generation["state"] in ("completed", "failed"):
            return generation
        time.sleep(0.05)
    raise AssertionError(f"generation {generation_id} did not finish")


@pytest.fixture
def hook(emulator, monkeypatch) -> LumaHook:
    return LumaHook(max_retries=2, settle_time=0)


def set_connection(monkeypatch, **fields) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LUMA_DEFAULT", json.dumps({"conn_type": "luma", **fields}))


# -- endpoints ------------------------------------------------------------------------------------


def test_image_lifecycle_create_get_list_delete(hook, emulator):
    created = hook.create_image(IMAGE)
    assert created["state"] in ("queued", "dreaming")
    done = wait_until_done(hook, created["id"])
    assert done["state"] == "completed"
    assert done["assets"]["image"].startswith(emulator.url)
    page = hook.list_generations(limit=10, offset=0)
    assert [g["id"] for g in page["generations"]] == [created["id"]]
    assert page["count"] == 1
    hook.delete_generation(created["id"])
    with pytest.raises(LumaNotFoundError):
        hook.get_generation(created["id"])


def test_reframe_image(hook):
    source = wait_until_done(hook, hook.create_image(IMAGE)["id"])
    reframed = hook.reframe_image(
        {
            "generation_type": "reframe_image",
            "model": "photon-1",
            "aspect_ratio": "9:16",
            "media": {"url": source["assets"]["image"]},
            "prompt": "wider",
        }
    )
    assert wait_until_done(hook, reframed["id"])["state"] == "completed"


def test_video_endpoints_create_modify_reframe_upscale_audio(hook):
    video = hook.create_video({"generation_type": "video", "model": "ray-2", "prompt": "waves at night"})
    video = wait_until_done(hook, video["id"])
    assert video["assets"]["video"]
    url = video["assets"]["video"]
    modified = hook.modify_video(
        {"generation_type": "modify_video", "model": "ray-2", "mode": "flex_1", "media": {"url": url}}
    )
    reframed = hook.reframe_video(
        {"generation_type": "reframe_video", "model": "ray-2", "aspect_ratio": "1:1", "media": {"url": url}}
    )
    upscaled = hook.upscale_video(video["id"], {"generation_type": "upscale_video", "resolution": "1080p"})
    audio = hook.add_audio(video["id"], {"generation_type": "add_audio", "prompt": "rain on a tin roof"})
    for generation in (modified, reframed, upscaled, audio):
        assert wait_until_done(hook, generation["id"])["state"] == "completed"


def test_concepts_credits_ping(hook, emulator):
    assert all(isinstance(key, str) for key in hook.list_concepts())
    before = hook.get_credits()["credit_balance"]
    wait_until_done(hook, hook.create_image(IMAGE)["id"])
    assert hook.get_credits()["credit_balance"] < before
    assert hook.ping()


def test_test_connection(hook, monkeypatch, emulator):
    assert hook.test_connection() == (True, f"Connected to Luma at {emulator.base_url}")
    set_connection(monkeypatch, password="wrong-key", host=emulator.base_url)
    ok, message = LumaHook().test_connection()
    assert not ok
    assert "401" in message
    assert "wrong-key" not in message


# -- errors that are not retried ------------------------------------------------------------------


def test_bad_request_fails_at_once_with_luma_detail(hook, emulator):
    with pytest.raises(LumaBadRequestError) as error:
        hook.create_image({**IMAGE, "aspect_ratio": "2:1"})
    assert error.value.http_status in (400, 422)
    assert "aspect_ratio" in str(error.value)
    # Sent once, never retried (before it: one read of the list, for the key's room).
    assert emulator.stats.requests["POST /generations/image"] == 1
    assert emulator.stats.total_requests == 2


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({**IMAGE, "model": "photon-9"}, 400, "model"),  # a model Luma does not know: Luma's 400
        ({**IMAGE, "prompt": "ab"}, 400, "prompt"),  # "Prompt is too short, ..."
        ({**IMAGE, "image_ref": [{"url": "https://x/a.png", "weight": 2}]}, 400, "image_ref"),
        ({**IMAGE, "aspect_ratio": "2:1"}, 422, "aspect_ratio"),  # FastAPI's list: its location
        ({**IMAGE, "image_ref": [{"weight": "heavy"}]}, 422, "image_ref[0].weight"),
    ],
)
def test_a_refused_create_names_the_parameter_and_is_sent_once(hook, emulator, body, status, param):
    with pytest.raises(LumaBadRequestError) as error:
        hook.create_image(body)
    assert isinstance(error.value, AirflowFailException)  # final: no task retry either
    assert (error.value.http_status, error.value.param) == (status, param)
    assert f"Luma refused {param!r}" in str(error.value)
    assert emulator.stats.requests["POST /generations/image"] == 1
    assert emulator.stats.creates == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"detail": "negative_prompt is too long, maximum length is 5000 characters"}', "negative_prompt"),
        ('{"detail": "Loop is not supported for keyframes"}', "loop"),
        (
            '{"detail": [{"loc": ["body", "keyframes", "frame0", "url"], "msg": "Field required"}]}',
            "keyframes.frame0.url",
        ),
        ('{"detail": "Unknown request type"}', None),
        ("<html>Bad Request</html>", None),
    ],
)
def test_the_refused_field_is_read_from_lumas_answer(body, field):
    assert refused_field(body) == field


def test_not_found_fails_at_once(hook, emulator):
    with pytest.raises(LumaNotFoundError, match="404"):
        hook.get_generation(MISSING_ID)
    assert emulator.stats.total_requests == 1


def test_wrong_key_fails_at_once_and_never_shows_the_key(monkeypatch, emulator, read_logs):
    set_connection(monkeypatch, password="sk-wrong-key-123", host=emulator.base_url)
    with pytest.raises(LumaAuthenticationError) as error:
        LumaHook().get_credits()
    assert "password field" in str(error.value)
    assert "sk-wrong-key-123" not in str(error.value) + repr(error.value) + read_logs()
    assert emulator.stats.total_requests == 1


def test_missing_key_is_a_clear_configuration_error(monkeypatch, emulator):
    set_connection(monkeypatch, host=emulator.base_url)
    with pytest.raises(LumaConnectionConfigError, match="no API key"):
        LumaHook().ping()
    assert emulator.stats.total_requests == 0


@pytest.mark.parametrize("host", ["ftp://example.com", "http://", "://nohost"])
def test_malformed_host_is_a_clear_configuration_error(monkeypatch, host):
    set_connection(monkeypatch, password=API_KEY, host=host)
    with pytest.raises(LumaConnectionConfigError, match="host"):
        LumaHook().ping()


@pytest.mark.parametrize("host", ["https://luma:hunter2@api.example/v1", "luma:hunter2@api.example"])
def test_credentials_in_the_host_are_refused_and_never_echoed(monkeypatch, host):
    set_connection(monkeypatch, password=API_KEY, host=host)
    hook = LumaHook()
    with pytest.raises(LumaConnectionConfigError, match="has credentials in its host") as error:
        hook.ping()
    assert "hunter2" not in str(error.value)
    ok, message = hook.test_connection()  # what `airflow connections test` prints
    assert not ok
    assert "hunter2" not in message


def test_empty_host_means_the_real_api(monkeypatch):
    set_connection(monkeypatch, password=API_KEY)
    assert LumaHook().credentials.base_url == DEFAULT_BASE_URL


def test_credentials_repr_hides_the_key(hook):
    assert API_KEY not in repr(hook.credentials)


# -- retries --------------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(hook, emulator):
    emulator.configure(faults=[FaultRule(route="GET /credits", kind="429", times=1, retry_after=1)])
    started = time.monotonic()
    assert "credit_balance" in hook.get_credits()
    assert time.monotonic() - started >= 1.0
    assert emulator.stats.requests["GET /credits"] == 2


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_errors_are_retried_on_reads(hook, emulator, kind):
    emulator.configure(faults=[FaultRule(route="GET /credits", kind=kind, times=2)])
    assert "credit_balance" in hook.get_credits()
    assert emulator.stats.requests["GET /credits"] == 3


def test_retries_give_up_after_max_retries(hook, emulator):
    emulator.configure(faults=[FaultRule(route="GET /credits", kind="503", times=10)])
    with pytest.raises(LumaRetryableError, match="503"):
        hook.get_credits()
    assert emulator.stats.requests["GET /credits"] == 3


def test_reset_connection_is_retried_on_reads(hook, emulator):
    emulator.configure(faults=[FaultRule(route="GET /credits", kind="reset", times=1)])
    assert "credit_balance" in hook.get_credits()


def test_create_is_retried_after_429(hook, emulator):
    emulator.configure(
        faults=[FaultRule(route="POST /generations/image", kind="429", times=1, retry_after=0)]
    )
    hook.create_image(IMAGE)
    assert emulator.stats.requests["POST /generations/image"] == 2
    assert emulator.stats.creates == 1


@pytest.mark.parametrize("kind", ["reset_after_create", "slow"])
def test_ambiguous_create_adopts_the_generation_it_made(emulator, kind):
    emulator.configure(faults=[FaultRule(route="POST /generations/image", kind=kind, times=1, delay=1.5)])
    hook = LumaHook(read_timeout=0.5, settle_time=0)
    generation = hook.create_image(IMAGE)
    assert emulator.stats.requests["POST /generations/image"] == 1
    assert emulator.stats.creates == 1
    assert generation["id"] == emulator.generations[0]["id"]


@pytest.mark.parametrize("kind", ["500", "503"])
def test_ambiguous_create_that_made_nothing_is_sent_again(hook, emulator, kind):
    emulator.configure(faults=[FaultRule(route="POST /generations/image", kind=kind, times=1)])
    generation = hook.create_image(IMAGE)
    assert emulator.stats.requests["POST /generations/image"] == 2
    assert emulator.stats.creates == 1
    assert generation["id"] == emulator.generations[0]["id"]


def test_ambiguous_create_never_adopts_an_older_twin(hook, emulator):
    """With the default clock skew: an identical generation this hook saw created is never ours."""
    assert CLOCK_SKEW_SECONDS > 1
    older = hook.create_image(IMAGE)
    time.sleep(0.05)
    emulator.configure(faults=[FaultRule(route="POST /generations/image", kind="500", times=1)])
    newer = hook.create_image(IMAGE)
    assert newer["id"] != older["id"]
    assert emulator.stats.creates == 2


def test_ambiguous_create_among_identical_strangers_adopts_none_and_creates_nothing(hook, emulator):
    """Two generations fit exactly (another task's and ours): none is adopted, none created again."""
    sibling = LumaHook().create_image(IMAGE)  # an identical request by another task, just before
    emulator.configure(
        faults=[FaultRule(route="POST /generations/image", kind="reset_after_create", times=1)]
    )
    with pytest.raises(LumaAdoptionError) as error:
        hook.create_image(IMAGE)
    ours = next(g["id"] for g in emulator.generations if g["id"] != sibling["id"])
    assert sibling["id"] in str(error.value)
    assert ours in str(error.value)
    assert emulator.stats.creates == 2
    assert isinstance(error.value, AirflowFailException)  # final: a retry could pay again


def test_ambiguous_create_adopts_only_an_exact_request(hook, emulator):
    """A generation whose request has more in it than ours (another variant) is not ours."""
    LumaHook().create_image({**IMAGE, "aspect_ratio": "1:1"})
    emulator.configure(
        faults=[FaultRule(route="POST /generations/image", kind="reset_after_create", times=1)]
    )
    adopted = hook.create_image(IMAGE)
    assert adopted["request"].get("aspect_ratio") is None
    assert emulator.stats.creates == 2


def test_a_list_call_that_fails_during_adoption_creates_nothing(hook, emulator):
    emulator.configure(
        faults=[
            FaultRule(route="POST /generations/image", kind="reset_after_create", times=1),
            FaultRule(route="GET /generations", kind="503"),
        ]
    )
    with pytest.raises(LumaRetryableError):
        hook.create_image(IMAGE)
    assert emulator.stats.requests["POST /generations/image"] == 1
    assert emulator.stats.creates == 1


def test_ambiguous_create_gives_up_after_max_retries(hook, emulator):
    emulator.configure(faults=[FaultRule(route="POST /generations/image", kind="503", times=10)])
    with pytest.raises(LumaAmbiguousCreateError, match="lists no generation made by it"):
        hook.create_image(IMAGE)
    assert emulator.stats.requests["POST /generations/image"] == 3
    assert emulator.stats.creates == 0


def test_create_is_retried_when_the_connection_never_opened(monkeypatch, read_logs):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    set_connection(monkeypatch, password=API_KEY, host=f"http://127.0.0.1:{port}/dream-machine/v1")
    with pytest.raises(LumaTransportError) as error:
        LumaHook(max_retries=2).create_image(IMAGE)
    assert error.value.request_sent is False
    logged = read_logs()
    assert "try 1 of 3 failed, trying again" in logged
    assert "try 2 of 3 failed, trying again" in logged
    assert "try 3 of 3" not in logged  # the last try's failure is raised, not retried


def test_malformed_json_on_a_read_is_retried(hook, emulator):
    emulator.configure(faults=[FaultRule(route="GET /credits", kind="malformed_json", times=1)])
    assert "credit_balance" in hook.get_credits()
    assert emulator.stats.requests["GET /credits"] == 2


def test_the_key_never_appears_in_logs_or_errors(hook, emulator, read_logs):
    emulator.configure(
        faults=[
            FaultRule(route="GET /credits", kind="503", times=10),
            FaultRule(route="POST /generations/image", kind="500", times=10),
        ]
    )
    texts = []
    for call in (
        hook.get_credits,
        lambda: hook.create_image(IMAGE),
        lambda: hook.get_generation(MISSING_ID),
    ):
        with pytest.raises(Exception) as error:  # noqa: PT011 - each call fails its own way
            call()
        texts += [str(error.value), repr(error.value), str(error.value.__cause__)]
    assert texts
    assert API_KEY not in "\n".join(texts) + read_logs()


# -- async path -----------------------------------------------------------------------------------


async def aget_generation(hook: LumaHook, generation_id: str, session) -> dict:
    return await hook.async_transport.call(session, "GET", f"/generations/{generation_id}")


async def test_async_get_generation_and_shared_session(hook):
    created = hook.create_image(IMAGE)
    async with LumaHook.async_session() as session, LumaHook.async_session() as same:
        assert session is same
        generation = await aget_generation(hook, created["id"], session)
    assert generation["id"] == created["id"]
    assert session.closed


async def test_async_path_retries_and_classifies(hook, emulator):
    created = hook.create_image(IMAGE)
    emulator.configure(faults=[FaultRule(route="GET /generations/{id}", kind="503", times=1)])
    async with LumaHook.async_session() as session:
        assert (await aget_generation(hook, created["id"], session))["id"] == created["id"]
        with pytest.raises(LumaNotFoundError):
            await aget_generation(hook, MISSING_ID, session)


async def test_async_path_picks_up_a_rotated_key_after_a_401(hook, monkeypatch, emulator):
    generation_id = hook.create_image(IMAGE)["id"]
    set_connection(monkeypatch, password="sk-revoked-key", host=emulator.base_url)
    async with LumaHook.async_session() as session:
        with pytest.raises(LumaAuthenticationError):  # the old key, now looked up and kept
            await aget_generation(LumaHook(), generation_id, session)
        set_connection(monkeypatch, password=API_KEY, host=emulator.base_url)  # the user rotates it
        assert (await aget_generation(LumaHook(), generation_id, session))["id"] == generation_id
    polls = [r.status for r in emulator.stats.last_requests if r.path.startswith("/generations/")]
    assert polls[-3:] == [401, 401, 200]  # the old key, kept; tried again once; then the new key
