"""
Conformance: Luma's own Agents API SDK (``luma_agents``), sync and async, pointed at the emulator's
``agents_base_url`` with ``_strict_response_validation=True`` (every answer validated by pydantic
against the SDK's models, not merely constructed), reads every answer: generations of every type
created and polled to completion or failure (every ``failure_code``), the files flow (presigned
create, upload to the returned URL, complete, get, list in pages, delete), and each error status
as the SDK's own exception class.
"""

from __future__ import annotations

import base64
import io
import time
from datetime import datetime, timedelta, timezone

import httpx
import luma_agents
import pytest
from luma_agents import AsyncLuma, Luma
from luma_agents.types import CreateFileResponse, File, FileList, Generation, GenerationOutput
from luma_agents.types.generation_output import Layer

from airflow_provider_luma.testing import FaultRule
from airflow_provider_luma.testing.agents_catalog import FAILURE_CODES

IMAGE_URL = "https://example.com/photo.png"
VIDEO_URL = "https://example.com/clip.mp4"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def strict_client(emu, api_key: str | None = None, max_retries: int = 0) -> Luma:
    return Luma(
        auth_token=api_key or emu.api_key,
        base_url=emu.agents_base_url,
        max_retries=max_retries,
        _strict_response_validation=True,
    )


@pytest.fixture
def client(emu):
    with strict_client(emu) as sdk:
        yield sdk


def wait_all(client: Luma, ids: list[str], limit: float = 5) -> dict[str, Generation]:
    deadline = time.monotonic() + limit
    done: dict[str, Generation] = {}
    while len(done) < len(ids):
        for generation_id in ids:
            if generation_id not in done:
                generation = client.generations.get(generation_id)
                assert isinstance(generation, Generation)
                if generation.state in ("completed", "failed"):
                    done[generation_id] = generation
        assert time.monotonic() < deadline, f"still running: {set(ids) - set(done)}"
        time.sleep(0.02)
    return done


def test_every_generation_type_through_the_sdk(client, emu):
    data = base64.b64encode(png()).decode()
    image = client.generations.create(
        prompt="a glass of iced coffee",
        model="uni-1-max",
        aspect_ratio="21:9",
        output_format="jpeg",
        style="manga",
        web_search=True,
        user_id="end-user-1",
        image_ref=[{"url": IMAGE_URL}, {"data": data, "media_type": "image/png"}],
    )
    assert isinstance(image, Generation)
    assert (image.state, image.type, image.model, image.output) == ("queued", "image", "uni-1-max", None)
    video = client.generations.create(
        prompt="waves at night",
        type="video",
        model="ray-3.2",
        aspect_ratio="16:9",
        video={"duration": "5s", "resolution": "720p", "loop": True},
    )
    keyframed = client.generations.create(
        prompt="a sunrise",
        type="video",
        video={"keyframes": [{"url": IMAGE_URL}], "keyframe_indexes": [0], "duration": "10s", "hdr": True},
    )
    edited_video = client.generations.create(
        prompt="make it snow",
        type="video_edit",
        source={"url": VIDEO_URL, "media_type": "video/mp4"},
        video={"edit": {"strength": "reimagine_1", "controls": {"depth": {"enabled": True, "blur": 0.5}}}},
    )
    layering = client.generations.create(
        prompt="split the subject from the background",
        type="layering",
        source={"url": IMAGE_URL},
        layering={"resolution": "2k"},
    )
    first = wait_all(client, [image.id, video.id, keyframed.id, edited_video.id, layering.id])
    assert first[image.id].state == "completed"
    [picture] = first[image.id].output or []
    assert isinstance(picture, GenerationOutput)
    assert picture.type == "image"
    assert picture.url.endswith("/0.jpg")
    assert picture.layer is None
    assert httpx.get(picture.url).headers["content-type"] == "image/jpeg"
    for generation_id in (video.id, keyframed.id, edited_video.id):
        [clip] = first[generation_id].output or []
        assert (clip.type, clip.url.endswith(".mp4")) == ("video", True)
    layers = first[layering.id].output or []
    assert [output.layer.index for output in layers if isinstance(output.layer, Layer)] == [0, 1, 2]

    # Chained off the completed ones, by generation id.
    image_edit = client.generations.create(
        prompt="make it night", type="image_edit", source={"generation_id": image.id}
    )
    reframed = client.generations.create(
        prompt="wider", type="video_reframe", source={"generation_id": video.id}, aspect_ratio="21:9"
    )
    extended = client.generations.create(
        prompt="it goes on", type="video", video={"start_frame": {"generation_id": video.id}}
    )
    second = wait_all(client, [image_edit.id, reframed.id, extended.id])
    assert {g.type for g in second.values()} == {"image_edit", "video_reframe", "video"}
    assert all(g.state == "completed" and g.output for g in second.values())

    raw = client.generations.with_raw_response.create(prompt="raw")
    assert raw.http_response.status_code == 201
    assert raw.headers["x-api-version"]
    assert raw.parse().state == "queued"
    assert emu.stats.agents_creates == 9


@pytest.mark.parametrize("failure_code", FAILURE_CODES)
def test_every_failure_code_parses(client, emu, failure_code):
    emu.configure(dreaming_seconds=60)
    generation = client.generations.create(prompt="doomed")
    emu.fail(generation.id, failure_code=failure_code)
    failed = client.generations.get(generation.id)
    assert (failed.state, failed.failure_code, failed.output) == ("failed", failure_code, None)
    assert failed.failure_reason


def test_the_files_flow_through_the_sdk(client, emu):
    data = png()
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    created = client.files.create(
        mime_type="image/png",
        size_bytes=len(data),
        filename="fox.png",
        purpose="reference",
        expires_at=expires,
        user_id="end-user-2",
    )
    assert isinstance(created, CreateFileResponse)
    assert (created.state, created.file.state, created.id) == ("pending", "pending", created.file.id)
    assert created.file.expires_at is not None
    assert abs((created.file.expires_at - expires).total_seconds()) < 1
    assert created.upload is not None
    assert created.upload.method == "PUT"
    put = httpx.put(created.upload.url, content=data, headers=created.upload.headers or {})
    assert put.status_code == 200

    completed = client.files.complete(created.id)
    assert isinstance(completed, File)
    assert completed.state == "ready"
    fetched = client.files.get(created.id)
    assert (fetched.filename, fetched.purpose, fetched.size_bytes, fetched.user_id) == (
        "fox.png",
        "reference",
        len(data),
        "end-user-2",
    )
    use = client.generations.create(prompt="in this style", image_ref=[{"file_id": created.id}])
    assert use.state == "queued"

    others = []
    for _ in range(2):
        other = client.files.create(mime_type="image/png", size_bytes=len(data))
        httpx.put(other.upload.url, content=data, headers=other.upload.headers or {})  # type: ignore[union-attr]
        others.append(client.files.complete(other.id).id)
    first_page = client.files.list(limit=2)
    assert isinstance(first_page, FileList)
    assert [f.id for f in first_page.data] == others[::-1]
    assert first_page.has_more
    assert first_page.next_cursor
    last_page = client.files.list(limit=2, cursor=first_page.next_cursor)
    assert ([f.id for f in last_page.data], last_page.has_more, last_page.next_cursor) == (
        [created.id],
        False,
        None,
    )
    assert [f.id for f in client.files.list(purpose="reference").data] == [created.id]

    assert client.files.delete(created.id) is None
    deleted = client.files.get(created.id)
    assert deleted.state == "deleted"
    assert deleted.deleted_at is not None
    assert [f.id for f in client.files.list(state="deleted").data] == [created.id]
    with pytest.raises(luma_agents.ConflictError):
        client.files.complete(created.id)
    assert emu.stats.agents_files == 3


def test_errors_are_the_sdks_exception_classes(client, emu):
    with pytest.raises(luma_agents.BadRequestError) as bad:
        client.generations.create(prompt="x", type="gif")  # type: ignore[arg-type]
    assert bad.value.status_code == 400
    assert "type: Input should be" in bad.value.body["detail"]  # type: ignore[index]
    with pytest.raises(luma_agents.UnprocessableEntityError) as rejected:
        client.generations.create(prompt="x", type="video", model="uni-1")
    assert "does not support type video" in str(rejected.value)
    with pytest.raises(luma_agents.UnprocessableEntityError):
        client.generations.create(prompt="x", type="image_edit")  # no source
    with pytest.raises(luma_agents.NotFoundError):
        client.generations.get(UNKNOWN)
    with pytest.raises(luma_agents.NotFoundError):
        client.files.get(UNKNOWN)
    with strict_client(emu, api_key="wrong") as stranger, pytest.raises(luma_agents.AuthenticationError):
        stranger.generations.get(UNKNOWN)
    emu.configure(rate_limits=True, agents_requests_per_minute=1)
    client.generations.create(prompt="one")
    with pytest.raises(luma_agents.RateLimitError) as limited:
        client.generations.create(prompt="two")
    assert int(limited.value.response.headers["retry-after"]) >= 55
    emu.configure(rate_limits=False, credits=1)
    with pytest.raises(luma_agents.APIStatusError) as broke:
        client.generations.create(prompt="three")
    assert broke.value.status_code == 402


def test_sdk_retries_honour_retry_after(emu):
    emu.configure(
        faults=[FaultRule(route="POST /agents/v1/generations", kind="429", retry_after=0.2, times=1)]
    )
    with strict_client(emu, max_retries=2) as sdk:
        started = time.monotonic()
        assert sdk.generations.create(prompt="after a wait").state == "queued"
    assert time.monotonic() - started >= 0.2
    assert emu.stats.requests["POST /agents/v1/generations"] == 2
    assert emu.stats.agents_creates == 1


def test_sdk_sees_a_reset_as_a_connection_error(emu):
    emu.configure(faults=[FaultRule(route="POST /agents/v1/generations", kind="reset", times=1)])
    with strict_client(emu) as sdk, pytest.raises(luma_agents.APIConnectionError):
        sdk.generations.create(prompt="dropped")
    assert emu.stats.agents_creates == 0


async def test_async_sdk(emu):
    data = png()
    async with AsyncLuma(
        auth_token=emu.api_key,
        base_url=emu.agents_base_url,
        max_retries=0,
        http_client=httpx.AsyncClient(),
        _strict_response_validation=True,
    ) as client:
        created = await client.files.create(mime_type="image/png", size_bytes=len(data))
        assert created.upload is not None
        async with httpx.AsyncClient() as http:
            put = await http.put(created.upload.url, content=data, headers=created.upload.headers or {})
        assert put.status_code == 200
        assert (await client.files.complete(created.id)).state == "ready"
        assert (await client.files.get(created.id)).id == created.id
        assert [f.id for f in (await client.files.list()).data] == [created.id]
        image = await client.generations.create(
            prompt="an async fox", source={"file_id": created.id}, type="image_edit"
        )
        video = await client.generations.create(
            prompt="an async river",
            type="video_reframe",
            source={"url": VIDEO_URL, "media_type": "video/mp4"},
        )
        emu.complete(image.id)
        emu.fail(video.id, failure_code="corrupt_input")
        fetched_image = await client.generations.get(image.id)
        fetched_video = await client.generations.get(video.id)
        assert await client.files.delete(created.id) is None
        assert (await client.files.get(created.id)).state == "deleted"
    assert fetched_image.state == "completed"
    assert fetched_image.output
    assert fetched_image.output[0].url.endswith(".png")
    assert (fetched_video.state, fetched_video.failure_code) == ("failed", "corrupt_input")
