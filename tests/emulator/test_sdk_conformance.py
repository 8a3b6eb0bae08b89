"""
Conformance: the official ``lumaai`` SDK, pointed at the emulator, calls all 13 endpoints and
parses every answer into its own models; the raw answers also pass the SDK models' strict
(pydantic) validation, and each echoed ``request`` lands in the right ``Request`` variant.
"""

from __future__ import annotations

import time

import httpx
import lumaai
import pytest
import requests
from lumaai import AsyncLumaAI, LumaAI
from lumaai.types import CreditGetResponse, Generation, GenerationListResponse, PingCheckResponse
from lumaai.types.generation import (
    RequestAudioGenerationRequest,
    RequestGenerationRequest,
    RequestImageGenerationRequest,
    RequestModifyVideoRequest,
    RequestReframeImageRequest,
    RequestReframeVideoRequest,
    RequestUpscaleVideoGenerationRequest,
)


@pytest.fixture
def client(emu):
    with LumaAI(auth_token=emu.api_key, base_url=emu.base_url, max_retries=0) as sdk:
        yield sdk


def wait(client: LumaAI, generation_id: str, limit: float = 5) -> Generation:
    deadline = time.monotonic() + limit
    while True:
        generation = client.generations.get(generation_id)
        if generation.state in ("completed", "failed"):
            return generation
        assert time.monotonic() < deadline, generation.state
        time.sleep(0.03)


def strictly_valid(emu, generation_id: str) -> Generation:
    """Fetch the raw JSON and validate it with pydantic (not the SDK's lenient construct)."""
    raw = requests.get(
        f"{emu.base_url}/generations/{generation_id}",
        headers={"Authorization": f"Bearer {emu.api_key}"},
        timeout=10,
    ).json()
    return Generation.model_validate(raw)


def test_all_13_endpoints_through_the_sdk(client, emu):
    # GET /ping, GET /credits, GET /generations/concepts/list
    assert isinstance(client.ping.check(), PingCheckResponse)
    assert client.ping.check().message == "pong"
    credits = client.credits.get()
    assert isinstance(credits, CreditGetResponse)
    assert credits.credit_balance == emu.config.credits
    concepts = client.generations.concepts.list()
    assert "dolly_zoom" in concepts

    # POST /generations/image
    image = client.generations.image.create(
        model="photon-1",
        prompt="a lighthouse at dawn",
        aspect_ratio="1:1",
        format="png",
        image_ref=[{"url": "https://example.com/ref.jpg", "weight": 0.5}],
        character_ref={"identity0": {"images": ["https://example.com/face.jpg"]}},
    )
    assert isinstance(image, Generation)
    assert image.state == "queued"
    assert isinstance(image.request, RequestImageGenerationRequest)
    image = wait(client, image.id)
    assert image.state == "completed"
    assert image.generation_type == "image"
    assert image.assets.image.endswith(".png")
    assert image.created_at.tzinfo is not None

    # POST /generations/image/reframe
    reframed_image = client.generations.image.reframe(
        aspect_ratio="16:9",
        generation_type="reframe_image",
        media={"url": image.assets.image},
        model="photon-flash-1",
        prompt="wider",
    )
    assert isinstance(reframed_image.request, RequestReframeImageRequest)

    # POST /generations/video, through both SDK entry points
    video = client.generations.video.create(
        model="ray-2",
        prompt="waves at night",
        resolution="720p",
        duration="5s",
        concepts=[{"key": "dolly_zoom"}],
    )
    assert isinstance(video.request, RequestGenerationRequest)
    also_video = client.generations.create(model="ray-flash-2", prompt="clouds rolling by", loop=True)
    assert also_video.model == "ray-flash-2"
    video = wait(client, video.id)
    assert video.assets.video.endswith(".mp4")
    chained = client.generations.video.create(
        model="ray-2", prompt="it goes on", keyframes={"frame0": {"type": "generation", "id": video.id}}
    )
    assert chained.request.keyframes.frame0.id == video.id

    # POST /generations/video/modify and /generations/video/reframe
    modified = client.generations.video.modify(
        generation_type="modify_video", media={"url": video.assets.video}, mode="reimagine_2", model="ray-2"
    )
    assert isinstance(modified.request, RequestModifyVideoRequest)
    reframed_video = client.generations.video.reframe(
        aspect_ratio="9:16", generation_type="reframe_video", media={"url": video.assets.video}, model="ray-2"
    )
    assert isinstance(reframed_video.request, RequestReframeVideoRequest)

    # POST /generations/{id}/upscale and /generations/{id}/audio
    upscaled = client.generations.upscale(video.id, resolution="4k", generation_type="upscale_video")
    assert isinstance(upscaled.request, RequestUpscaleVideoGenerationRequest)
    with_audio = client.generations.audio(video.id, prompt="rain on a tin roof", negative_prompt="music")
    assert isinstance(with_audio.request, RequestAudioGenerationRequest)
    for generation in (reframed_image, modified, reframed_video, upscaled, with_audio, chained, also_video):
        assert wait(client, generation.id).state == "completed"
        assert strictly_valid(emu, generation.id).id == generation.id
    assert strictly_valid(emu, image.id).assets.image == image.assets.image

    # GET /generations (paging)
    page = client.generations.list(limit=3, offset=1)
    assert isinstance(page, GenerationListResponse)
    assert (page.count, page.has_more, page.limit, page.offset) == (3, True, 3, 1)
    assert all(isinstance(g, Generation) for g in page.generations)
    assert page.generations[0].id == upscaled.id  # newest first, after skipping with_audio
    raw_page = requests.get(
        f"{emu.base_url}/generations", headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=10
    ).json()
    assert len(GenerationListResponse.model_validate(raw_page).generations) == 9

    # DELETE /generations/{id}
    assert client.generations.delete(image.id) is None
    with pytest.raises(lumaai.NotFoundError):
        client.generations.get(image.id)

    assert client.credits.get().credit_balance < emu.config.credits
    assert emu.stats.creates == 9


def test_sdk_error_classes(client, emu):
    with pytest.raises(lumaai.UnprocessableEntityError) as unprocessable:
        client.generations.image.create(model="photon-1", prompt="nope", aspect_ratio="2:1")  # type: ignore[arg-type]
    assert unprocessable.value.status_code == 422
    [detail] = unprocessable.value.body["detail"]  # type: ignore[index]
    assert (detail["type"], detail["loc"], detail["input"]) == (
        "literal_error",
        ["body", "aspect_ratio"],
        "2:1",
    )
    with pytest.raises(lumaai.BadRequestError) as unknown_model:
        client.generations.image.create(model="photon-9", prompt="nope")  # type: ignore[arg-type]
    assert "photon-9" in str(unknown_model.value)
    with pytest.raises(lumaai.BadRequestError) as error:
        client.generations.image.create(model="photon-1", prompt="ab")
    assert "too short" in str(error.value)
    with pytest.raises(lumaai.NotFoundError):
        client.generations.get("00000000-0000-4000-8000-000000000000")
    stranger = LumaAI(auth_token="wrong", base_url=emu.base_url, max_retries=0)
    with stranger, pytest.raises(lumaai.AuthenticationError):
        stranger.ping.check()


def test_sdk_retries_honour_the_emulators_retry_after(emu):
    from airflow_provider_luma.testing import FaultRule

    emu.configure(faults=[FaultRule(route="GET /credits", kind="429", retry_after=0.2, times=1)])
    with LumaAI(auth_token=emu.api_key, base_url=emu.base_url, max_retries=2) as sdk:
        started = time.monotonic()
        assert sdk.credits.get().credit_balance > 0
    assert time.monotonic() - started >= 0.2
    assert emu.stats.requests["GET /credits"] == 2


def test_sdk_sees_a_reset_as_a_connection_error(emu):
    from airflow_provider_luma.testing import FaultRule

    emu.configure(faults=[FaultRule(route="POST /generations/image", kind="reset", times=1)])
    sdk = LumaAI(auth_token=emu.api_key, base_url=emu.base_url, max_retries=0)
    with sdk, pytest.raises(lumaai.APIConnectionError):
        sdk.generations.image.create(model="photon-1", prompt="dropped")
    assert emu.stats.creates == 0


async def test_async_sdk(emu):
    async with AsyncLumaAI(
        auth_token=emu.api_key, base_url=emu.base_url, max_retries=0, http_client=httpx.AsyncClient()
    ) as client:
        created = await client.generations.image.create(model="photon-flash-1", prompt="an async fox")
        emu.complete(created.id)
        fetched = await client.generations.get(created.id)
    assert fetched.state == "completed"
    assert fetched.assets.image.endswith(".jpg")
