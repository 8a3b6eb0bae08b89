"""Every endpoint's happy path and its error answers, over real HTTP."""

from __future__ import annotations

import uuid

import pytest
import requests

from airflow_provider_luma.testing.catalog import CONCEPTS
from airflow_provider_luma.testing.routes import API_ROUTES

MISSING = "00000000-0000-4000-8000-000000000000"


def test_ping_credits_concepts(api, emu):
    assert api.get("/ping").json() == {"message": "pong"}
    assert api.get("/credits").json() == {"credit_balance": emu.config.credits}
    concepts = api.get("/generations/concepts/list").json()
    assert concepts == list(CONCEPTS)
    assert all(isinstance(key, str) for key in concepts)


def test_image_create_answers_201_with_the_generation_object(api):
    body = {"model": "photon-flash-1", "prompt": "a red fox", "aspect_ratio": "1:1", "format": "png"}
    generation = api.create("/generations/image", body)
    assert set(generation) == {
        "id",
        "generation_type",
        "state",
        "failure_reason",
        "created_at",
        "assets",
        "model",
        "request",
    }
    assert uuid.UUID(generation["id"]).version == 4
    assert generation["generation_type"] == "image"
    assert generation["state"] == "queued"
    assert generation["failure_reason"] is None
    assert generation["assets"] is None
    assert generation["model"] == "photon-flash-1"
    assert generation["created_at"].endswith("Z")
    assert generation["request"] == {**body, "generation_type": "image"}


def test_completed_image_points_at_its_asset(api, emu):
    generation = api.wait(api.image(format="png")["id"])
    assert generation["state"] == "completed"
    assert generation["assets"]["image"] == f"{emu.url}/assets/{generation['id']}.png"
    assert generation["assets"]["video"] is None


def test_sync_image_answers_when_done(api):
    generation = api.image(sync=True, sync_timeout=5)
    assert generation["state"] == "completed"
    assert generation["assets"]["image"]


def test_image_reframe(api):
    source = api.wait(api.image()["id"])
    body = {
        "generation_type": "reframe_image",
        "model": "photon-1",
        "aspect_ratio": "9:16",
        "media": {"url": source["assets"]["image"]},
        "prompt": "wider",
        "x_start": 0,
        "x_end": 100,
    }
    reframed = api.wait(api.create("/generations/image/reframe", body)["id"])
    assert reframed["state"] == "completed"
    assert reframed["generation_type"] == "image"
    assert reframed["request"] == body
    assert reframed["assets"]["image"].endswith(".jpg")


def test_video_create_and_chain_from_an_earlier_generation(api, emu):
    video = api.wait(
        api.video(resolution="720p", duration="5s", loop=True, concepts=[{"key": "dolly_zoom"}])["id"]
    )
    assert video["generation_type"] == "video"
    assert video["assets"]["video"] == f"{emu.url}/assets/{video['id']}.mp4"
    assert video["assets"]["image"] == f"{emu.url}/assets/{video['id']}.jpg"
    keyframes = {"frame0": {"type": "generation", "id": video["id"]}}
    extended = api.wait(api.video("it continues", keyframes=keyframes)["id"])
    assert extended["state"] == "completed"
    assert extended["request"]["keyframes"] == keyframes
    image_only = api.create(
        "/generations/video",
        {"model": "ray-flash-2", "keyframes": {"frame1": {"type": "image", "url": "https://x.test/a.jpg"}}},
    )
    assert image_only["model"] == "ray-flash-2"


def test_video_keyframe_generation_must_exist_and_be_completed(api):
    missing = api.post(
        "/generations/video",
        {"model": "ray-2", "prompt": "go on", "keyframes": {"frame0": {"type": "generation", "id": MISSING}}},
    )
    assert missing.status_code == 400
    assert "not found" in missing.json()["detail"]
    running = api.video()
    queued = api.post(
        "/generations/video",
        {
            "model": "ray-2",
            "prompt": "go on",
            "keyframes": {"frame0": {"type": "generation", "id": running["id"]}},
        },
    )
    assert queued.status_code == 400
    assert "not completed" in queued.json()["detail"]


def test_video_modify_and_reframe(api):
    source = api.wait(api.video()["id"])
    url = source["assets"]["video"]
    modified = api.create(
        "/generations/video/modify",
        {"generation_type": "modify_video", "model": "ray-2", "mode": "flex_1", "media": {"url": url}},
    )
    reframed = api.create(
        "/generations/video/reframe",
        {
            "generation_type": "reframe_video",
            "model": "ray-flash-2",
            "aspect_ratio": "1:1",
            "media": {"url": url},
            "first_frame": {"url": "https://x.test/first.jpg"},
        },
    )
    for generation in (modified, reframed):
        done = api.wait(generation["id"])
        assert done["state"] == "completed"
        assert done["generation_type"] == "video"
        assert done["assets"]["video"].endswith(".mp4")
    assert modified["request"]["generation_type"] == "modify_video"
    assert reframed["request"]["generation_type"] == "reframe_video"


@pytest.mark.parametrize(
    ("action", "body", "kind"),
    [
        ("upscale", {"generation_type": "upscale_video", "resolution": "4k"}, "upscale_video"),
        ("upscale", None, "upscale_video"),
        ("audio", {"generation_type": "add_audio", "prompt": "rain on a tin roof"}, "add_audio"),
        ("audio", {}, "add_audio"),
    ],
)
def test_upscale_and_audio_make_a_new_video_generation(api, action, body, kind):
    source = api.wait(api.video()["id"])
    created = api.create(f"/generations/{source['id']}/{action}", body)
    assert created["id"] != source["id"]
    assert created["model"] == source["model"]
    assert created["request"]["generation_type"] == kind
    assert api.wait(created["id"])["assets"]["video"]


@pytest.mark.parametrize("action", ["upscale", "audio"])
def test_upscale_and_audio_need_a_completed_video(api, action):
    running = api.video()
    assert api.post(f"/generations/{running['id']}/{action}", {}).status_code == 400
    image = api.wait(api.image()["id"])
    answer = api.post(f"/generations/{image['id']}/{action}", {})
    assert answer.status_code == 400
    assert "only videos" in answer.json()["detail"]
    assert api.post(f"/generations/{MISSING}/{action}", {}).status_code == 404
    assert api.post(f"/generations/not-a-uuid/{action}", {}).status_code == 422


def test_get_unknown_is_404_and_non_uuid_is_422(api):
    missing = api.get(f"/generations/{MISSING}")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Generation not found"}
    bad = api.get("/generations/12345")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "id"]


def test_delete_then_404(api, emu):
    generation = api.image()
    answer = api.delete(f"/generations/{generation['id']}")
    assert answer.status_code == 204
    assert answer.content == b""
    assert api.get(f"/generations/{generation['id']}").status_code == 404
    assert api.delete(f"/generations/{generation['id']}").status_code == 404
    assert emu.generations == []
    assert emu.stats.creates == 1


def test_list_pages_newest_first(api):
    ids = [api.image(f"picture number {i}")["id"] for i in range(5)]
    first = api.get("/generations", params={"limit": 2}).json()
    assert [g["id"] for g in first["generations"]] == ids[::-1][:2]
    assert (first["count"], first["has_more"], first["limit"], first["offset"]) == (2, True, 2, 0)
    last = api.get("/generations", params={"limit": 2, "offset": 4}).json()
    assert [g["id"] for g in last["generations"]] == [ids[0]]
    assert (last["count"], last["has_more"]) == (1, False)
    beyond = api.get("/generations", params={"offset": 10}).json()
    assert beyond["generations"] == []
    everything = api.get("/generations").json()
    assert everything["limit"] == 100
    assert len(everything["generations"]) == 5


@pytest.mark.parametrize("params", [{"limit": "ten"}, {"limit": -1}, {"offset": -1}, {"offset": "x"}])
def test_list_rejects_bad_paging(api, params):
    answer = api.get("/generations", params=params)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][0] == "query"


def test_list_takes_any_limit_the_api_does_not_bound(api):
    for _ in range(3):
        api.image()
    empty = api.get("/generations", params={"limit": 0}).json()
    assert (empty["generations"], empty["count"], empty["has_more"], empty["limit"]) == ([], 0, True, 0)
    big = api.get("/generations", params={"limit": 5000}).json()
    assert (big["count"], big["has_more"], big["limit"]) == (3, False, 5000)


def test_video_create_on_the_older_path(api):
    """``POST /generations``: the path of the video curl examples in Luma's docs and older SDKs."""
    answer = api.post("/generations", json={"model": "ray-2", "prompt": "a paper boat in the rain"})
    assert answer.status_code == 201
    generation = answer.json()
    assert generation["generation_type"] == "video"
    assert api.wait(generation["id"])["assets"]["video"].endswith(".mp4")
    bad = api.post("/generations", json={"model": "photon-1", "prompt": "a paper boat"})
    assert bad.status_code == 400  # validated as a video request
    assert "model must be one of ray-2" in bad.json()["detail"]


def test_sync_timeout_zero_answers_at_once(api, emu):
    emu.configure(queued_seconds=0, dreaming_seconds=30)
    generation = api.image(sync=True, sync_timeout=0)
    assert generation["state"] in ("queued", "dreaming")


def test_unknown_paths_and_methods_answer_json(api):
    unknown = api.get("/nothing/here")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not Found"}
    wrong_method = api.request("PUT", "/credits")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Method Not Allowed"}


@pytest.mark.parametrize(("method", "template"), API_ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer wrong-key-123", "Basic emu-test-key-7f3a", "Bearer"])
def test_every_endpoint_needs_the_bearer_key(emu, method, template, header):
    headers = {"Authorization": header} if header else {}
    path = emu.base_url + template.replace("{id}", MISSING)
    answer = requests.request(method, path, headers=headers, json={}, timeout=10)
    assert answer.status_code == 401
    detail = answer.json()["detail"]
    assert isinstance(detail, str)
    assert "wrong-key-123" not in answer.text
    assert emu.api_key not in answer.text
    assert emu.stats.creates == 0
