"""
The emulator's Agents API (``/agents/v1``) over HTTP: every generation type to completion, request
validation, the files flow, auth, faults, rate limits, failures with a ``failure_code``, credits
and stats.
"""

from __future__ import annotations

import base64
import io
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_luma.testing import AgentsFailureRule, FaultRule
from airflow_provider_luma.testing.agents_catalog import FAILURE_REASONS

IMAGE_URL = "https://example.com/photo.png"
VIDEO_SOURCE = {"url": "https://example.com/clip.mp4", "media_type": "video/mp4"}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def picture(fmt: str = "PNG", size: tuple[int, int] = (16, 12)) -> bytes:
    """Return a real image file of that Pillow format."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(out, format=fmt)
    return out.getvalue()


def download(url: str) -> requests.Response:
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, (url, answer.text)
    return answer


# -- generations ------------------------------------------------------------------------------------


def test_every_generation_type_goes_queued_processing_completed_with_outputs(agents, emu):
    emu.configure(dreaming_seconds=0.6)  # room for a poll of each in processing, on a busy machine
    requests_by_type = {
        "image": {"model": "uni-1-max", "output_format": "jpeg", "aspect_ratio": "3:1"},
        "image_edit": {"source": {"url": IMAGE_URL}, "image_ref": [{"url": IMAGE_URL}]},
        "video": {"video": {"duration": "10s", "resolution": "1080p"}, "aspect_ratio": "9:16"},
        "video_edit": {"source": VIDEO_SOURCE, "video": {"edit": {"strength": "flex_2"}}},
        "video_reframe": {"source": VIDEO_SOURCE, "aspect_ratio": "1:1"},
        "layering": {"source": {"url": IMAGE_URL}, "layering": {"resolution": "2k"}},
    }
    created = {
        kind: agents.create(f"a {kind} of a fox", type=kind, **body)
        for kind, body in requests_by_type.items()
    }
    for kind, generation in created.items():
        assert generation["state"] == "queued"
        assert generation["type"] == kind
        assert (generation["failure_code"], generation["failure_reason"], generation["output"]) == (
            None,
            None,
            None,
        )
        assert uuid.UUID(generation["id"]).version == 4
        assert datetime.fromisoformat(generation["created_at"].replace("Z", "+00:00")).tzinfo is not None
    assert created["image"]["model"] == "uni-1-max"
    assert created["image_edit"]["model"] == "uni-1"  # the image types' default
    assert {created[kind]["model"] for kind in ("video", "video_edit", "video_reframe")} == {"ray-3.2"}

    finals = agents.wait_all([generation["id"] for generation in created.values()])
    done = {kind: finals[generation["id"]] for kind, generation in created.items()}
    for kind, generation in done.items():
        assert generation["state"] == "completed", generation
        assert agents.seen[generation["id"]] == ["queued", "processing", "completed"], kind

    [image] = done["image"]["output"]
    assert image["type"] == "image"
    assert image["url"].startswith(emu.url + "/assets/agents/")
    jpeg = download(image["url"])
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content[:3] == b"\xff\xd8\xff"
    from PIL import Image

    assert Image.open(io.BytesIO(jpeg.content)).size == (
        emu.config.image_long_side,
        emu.config.image_long_side // 3,
    )
    [edited] = done["image_edit"]["output"]
    assert download(edited["url"]).content[:8] == b"\x89PNG\r\n\x1a\n"  # png unless asked otherwise
    for kind in ("video", "video_edit", "video_reframe"):
        [video] = done[kind]["output"]
        assert video["type"] == "video"
        clip = download(video["url"])
        assert clip.headers["content-type"] == "video/mp4"
        assert clip.content[4:8] == b"ftyp"
    layers = done["layering"]["output"]
    assert [layer["layer"]["index"] for layer in layers] == [0, 1, 2]
    assert [layer["layer"]["alpha_hint"] for layer in layers] == ["soft", "hard", "none"]
    assert layers[-1]["layer"]["label"] == "background"
    assert all(layer["type"] == "image" and layer["layer"]["description"] for layer in layers)
    pictures = [download(layer["url"]).content for layer in layers]
    assert len(set(pictures)) == 3  # three different pictures
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pictures)
    assert "layer" not in image
    assert emu.stats.agents_creates == 6
    assert emu.stats.creates == 0  # the Dream Machine's count is apart


def test_outputs_are_not_served_before_completion_nor_beyond_the_last(agents, emu):
    emu.configure(dreaming_seconds=60)
    generation = agents.create()
    url = f"{emu.url}/assets/agents/{generation['id']}/0.png"
    assert requests.get(url, timeout=10).status_code == 404
    emu.complete(generation["id"])
    assert requests.get(url, timeout=10).status_code == 200
    for name in ("1.png", "0.jpg", "0.mp4", "x.png"):
        assert (
            requests.get(f"{emu.url}/assets/agents/{generation['id']}/{name}", timeout=10).status_code == 404
        )


def test_chaining_off_earlier_generations_by_id(agents, emu):
    image = agents.create("a red kite")
    video = agents.create("a kite flying", type="video")
    not_yet = agents.post(
        "/generations", {"prompt": "redo", "type": "image_edit", "source": {"generation_id": image["id"]}}
    )
    assert not_yet.status_code == 422
    assert "not completed" in not_yet.json()["detail"]
    agents.wait(image["id"])
    agents.wait(video["id"])
    edit = agents.create("make it blue", type="image_edit", source={"generation_id": image["id"]})
    extended = agents.create(
        "and it flies on", type="video", video={"start_frame": {"generation_id": video["id"]}}
    )
    reframed = agents.create("wider", type="video_reframe", source={"generation_id": video["id"]})
    assert {edit["type"], extended["type"], reframed["type"]} == {"image_edit", "video", "video_reframe"}
    wrong_kind = agents.post(
        "/generations", {"prompt": "x", "type": "video_edit", "source": {"generation_id": image["id"]}}
    )
    assert wrong_kind.status_code == 422
    assert "is a image generation; a video output is needed here" in wrong_kind.json()["detail"]
    unknown = agents.post(
        "/generations", {"prompt": "x", "type": "image_edit", "source": {"generation_id": UNKNOWN}}
    )
    assert unknown.status_code == 422
    assert f"source.generation_id: generation {UNKNOWN} not found" == unknown.json()["detail"]
    assert emu.stats.agents_creates == 5


def test_get_unknown_generation_is_404_and_there_is_no_list_nor_delete(agents):
    for generation_id in (UNKNOWN, "not-a-uuid"):
        answer = agents.get(f"/generations/{generation_id}")
        assert answer.status_code == 404
        assert answer.json() == {"detail": "Generation not found"}
    generation = agents.create()
    assert agents.get("/generations").status_code == 405
    assert agents.delete(f"/generations/{generation['id']}").status_code == 405
    assert agents.get(f"/generations/{generation['id']}").status_code == 200
    # The Dream Machine API does not see Agents generations, nor the reverse.
    dm = requests.get(
        f"{agents.emulator.base_url}/generations/{generation['id']}",
        headers={"Authorization": f"Bearer {agents.emulator.api_key}"},
        timeout=10,
    )
    assert dm.status_code == 404


# -- validation -------------------------------------------------------------------------------------

TEN_REFS = [{"url": IMAGE_URL}] * 10
PNG_DATA = base64.b64encode(picture("PNG")).decode()


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({}, 400, "prompt: Field required"),
        ({"prompt": 42}, 400, "prompt: Input should be a valid string"),
        ({"prompt": "  "}, 400, "prompt: must not be empty"),
        ({"prompt": "x" * 6001}, 400, "prompt: at most 6000 characters"),
        (
            {"prompt": "x" * 501, "type": "layering", "source": {"url": IMAGE_URL}},
            400,
            "at most 500 characters",
        ),
        ({"prompt": "x", "type": "gif"}, 400, "type: Input should be 'image', 'image_edit', 'video'"),
        ({"prompt": "x", "model": "uni-2"}, 400, "model: Input should be 'uni-1', 'uni-1-max' or 'ray-3.2'"),
        ({"prompt": "x", "aspect_ratio": "5:4"}, 400, "aspect_ratio: Input should be"),
        ({"prompt": "x", "output_format": "webp"}, 400, "output_format: Input should be 'png' or 'jpeg'"),
        ({"prompt": "x", "style": "anime"}, 400, "style: Input should be 'auto' or 'manga'"),
        (
            {"prompt": "x", "type": "video", "video": {"duration": "7s"}},
            400,
            "video.duration: Input should be",
        ),
        ({"prompt": "x", "type": "video", "model": "uni-1"}, 422, "model uni-1 does not support type video"),
        ({"prompt": "x", "model": "ray-3.2"}, 422, "model ray-3.2 does not support type image"),
        (
            {"prompt": "x", "type": "layering", "model": "uni-1-max", "source": {"url": IMAGE_URL}},
            422,
            "only model uni-1",
        ),
        (
            {"prompt": "x", "type": "video", "aspect_ratio": "3:1"},
            422,
            "aspect_ratio 3:1 is not supported by ray-3.2",
        ),
        ({"prompt": "x", "image_ref": TEN_REFS}, 400, "image_ref: at most 9 images for type image; got 10"),
        (
            {"prompt": "x", "type": "image_edit", "source": {"url": IMAGE_URL}, "image_ref": TEN_REFS[:9]},
            400,
            "image_ref: at most 8 images for type image_edit; got 9",
        ),
        (
            {"prompt": "x", "image_ref": [{}]},
            400,
            "image_ref[0]: provide exactly one of url, data, generation_id or file_id; got none",
        ),
        (
            {"prompt": "x", "image_ref": [{"url": IMAGE_URL, "file_id": UNKNOWN}]},
            400,
            "got url and file_id",
        ),
        ({"prompt": "x", "type": "image_edit"}, 422, "source: type image_edit needs a source"),
        ({"prompt": "x", "type": "video_edit"}, 422, "source: type video_edit needs a source"),
        ({"prompt": "x", "type": "video_reframe"}, 422, "source: type video_reframe needs a source"),
        ({"prompt": "x", "type": "layering"}, 422, "source: type layering needs a source"),
        (
            {"prompt": "x", "image_ref": [{"file_id": UNKNOWN}]},
            422,
            f"image_ref[0].file_id: file {UNKNOWN} not found",
        ),
        ({"prompt": "x", "image_ref": [{"file_id": "nope"}]}, 400, "image_ref[0].file_id: must be a UUID"),
        ({"prompt": "x", "image_ref": [{"generation_id": UNKNOWN}]}, 422, f"generation {UNKNOWN} not found"),
        ({"prompt": "x", "image_ref": [{"data": PNG_DATA}]}, 400, "image_ref[0].media_type: required"),
        ({"prompt": "x", "image_ref": [{"data": "%%%", "media_type": "image/png"}]}, 422, "not valid base64"),
        (
            {"prompt": "x", "image_ref": [{"data": PNG_DATA, "media_type": "image/jpeg"}]},
            422,
            "the bytes are a PNG image, not image/jpeg",
        ),
        (
            {"prompt": "x", "image_ref": [{"url": "ftp://example.com/a.png"}]},
            422,
            "must be a public http(s) URL",
        ),
        (
            {"prompt": "x", "type": "video_edit", "source": {"url": "https://example.com/a.mp4"}},
            400,
            "source.media_type: required",
        ),
        (
            {"prompt": "x", "type": "video_edit", "source": {"url": IMAGE_URL, "media_type": "image/png"}},
            422,
            "video media is needed here",
        ),
        ({"prompt": "x", "video": {"duration": "5s"}}, 422, "video: only valid for types video"),
        ({"prompt": "x", "layering": {"resolution": "1k"}}, 422, "layering: only valid for type layering"),
        (
            {"prompt": "x", "type": "video", "video": {"loop": True, "duration": "10s"}},
            422,
            "not supported with duration 10s",
        ),
        (
            {"prompt": "x", "type": "video", "video": {"hdr": True, "resolution": "540p"}},
            422,
            "needs resolution 720p or 1080p",
        ),
        ({"prompt": "x", "type": "video", "video": {"exr_export": True}}, 422, "requires hdr=true"),
        (
            {
                "prompt": "x",
                "type": "video",
                "video": {"keyframes": [{"url": IMAGE_URL}] * 2, "keyframe_indexes": [0]},
            },
            422,
            "one index per keyframe",
        ),
        (
            {
                "prompt": "x",
                "type": "video",
                "video": {"keyframes": [{"url": IMAGE_URL}], "keyframe_indexes": [121]},
            },
            422,
            "frames go from 0 to 120",
        ),
        (
            {"prompt": "x", "type": "video", "video": {"edit": {"strength": "flex_1"}}},
            422,
            "video.edit: only valid for type video_edit",
        ),
        (
            {
                "prompt": "x",
                "type": "video",
                "video": {"source_position": {"h_norm": 1, "w_norm": 1, "x_norm": 0, "y_norm": 0}},
            },
            422,
            "only valid for type video_reframe",
        ),
    ],
)
def test_invalid_creates_are_refused_and_create_nothing(agents, emu, body, status, detail):
    answer = agents.post("/generations", body)
    assert answer.status_code == status, answer.text
    assert detail in answer.json()["detail"]
    assert isinstance(answer.json()["detail"], str)
    assert emu.stats.agents_creates == 0
    assert emu.agents_generations == []


def test_bodies_that_are_not_json(agents):
    for raw in (b"", b"{oops", b"\xff\xfe"):
        answer = agents.request(
            "POST", "/generations", data=raw, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400
        assert answer.json()["detail"].startswith("body:")
    not_an_object = agents.post("/generations", ["prompt"])
    assert not_an_object.status_code == 400


def test_valid_media_in_every_position_is_accepted(agents, emu):
    video = agents.create("a clip", type="video")
    agents.wait(video["id"])
    file = agents.ready_file(picture("JPEG"), "image/jpeg", purpose="reference")
    accepted = [
        {"image_ref": [{"data": PNG_DATA, "media_type": "image/png"}, {"file_id": file["id"]}]},
        {
            "type": "video",
            "video": {
                "keyframes": [{"url": IMAGE_URL}, {"file_id": file["id"]}],
                "keyframe_indexes": [0, 240],
                "duration": "10s",
            },
        },
        {
            "type": "video",
            "video": {
                "start_frame": {"url": IMAGE_URL},
                "end_frame": {"data": PNG_DATA, "media_type": "image/png"},
                "loop": False,
            },
        },
        {"type": "video", "video": {"hdr": True, "exr_export": True, "resolution": "1080p"}},
        {
            "type": "video_edit",
            "source": {"generation_id": video["id"]},
            "video": {
                "edit": {
                    "keyframes": [{"url": IMAGE_URL}],
                    "keyframe_indexes": [3],
                    "controls": {"pose": {"strength": "coarse"}},
                }
            },
        },
        {
            "type": "video_reframe",
            "source": {"generation_id": video["id"]},
            "video": {"source_position": {"h_norm": 0.5, "w_norm": 2, "x_norm": -0.5, "y_norm": 0}},
        },
        {"type": "layering", "source": {"file_id": file["id"]}, "prompt": ""},
        {"style": "manga", "web_search": True, "user_id": "end-user-7"},
    ]
    for body in accepted:
        fields = {"prompt": "anything", **body}
        answer = agents.post("/generations", fields)
        assert answer.status_code == 201, (body, answer.text)
    assert emu.stats.agents_creates == 1 + len(accepted)


# -- files ------------------------------------------------------------------------------------------


def test_the_presigned_file_flow(agents, emu):
    data = picture("PNG")
    created = agents.post(
        "/files",
        {
            "mime_type": "image/png",
            "size_bytes": len(data),
            "filename": "fox.png",
            "purpose": "input",
            "user_id": "u1",
        },
    )
    assert created.status_code == 201
    body = created.json()
    file = body["file"]
    assert body["id"] == file["id"]
    assert body["state"] == file["state"] == "pending"
    assert (file["mime_type"], file["size_bytes"], file["filename"], file["purpose"], file["user_id"]) == (
        "image/png",
        len(data),
        "fox.png",
        "input",
        "u1",
    )
    assert (file["deleted_at"], file["expires_at"], file["failure_reason"]) == (None, None, None)
    upload = body["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"Content-Type": "image/png"}
    assert upload["url"].startswith(emu.url + "/uploads/")
    assert len(upload["url"].rsplit("/", 1)[1]) >= 32  # an unguessable token
    expires = datetime.fromisoformat(upload["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - datetime.now(timezone.utc) <= timedelta(hours=1)

    # The PUT needs no Bearer, but the signed Content-Type and the exact size.
    short = requests.put(upload["url"], data=data[:-1], headers=upload["headers"], timeout=10)
    assert short.status_code == 400
    assert "<Code>IncompleteBody</Code>" in short.text
    other_type = requests.put(upload["url"], data=data, headers={"Content-Type": "image/jpeg"}, timeout=10)
    assert other_type.status_code == 403
    assert "SignatureDoesNotMatch" in other_type.text
    assert (
        requests.put(
            emu.url + "/uploads/not-a-token", data=data, headers=upload["headers"], timeout=10
        ).status_code
        == 403
    )
    put = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=10)
    assert put.status_code == 200
    assert put.headers["ETag"].startswith('"')
    assert agents.get(f"/files/{file['id']}").json()["state"] == "pending"  # until completed

    completed = agents.post(f"/files/{file['id']}/complete")
    assert completed.status_code == 200
    assert completed.json()["state"] == "ready"
    assert agents.post(f"/files/{file['id']}/complete").json()["state"] == "ready"  # again: no change
    assert (
        requests.put(upload["url"], data=data, headers=upload["headers"], timeout=10).status_code == 403
    )  # closed
    fetched = agents.get(f"/files/{file['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == completed.json()

    edit = agents.create("make it night", type="image_edit", source={"file_id": file["id"]})
    assert agents.wait(edit["id"])["state"] == "completed"

    assert agents.delete(f"/files/{file['id']}").status_code == 204
    assert agents.delete(f"/files/{file['id']}").status_code == 204  # again: no change
    deleted = agents.get(f"/files/{file['id']}").json()
    assert deleted["state"] == "deleted"
    assert datetime.fromisoformat(deleted["deleted_at"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)
    refused = agents.post(
        "/generations", {"prompt": "again", "type": "image_edit", "source": {"file_id": file["id"]}}
    )
    assert refused.status_code == 422
    assert "is deleted, not ready" in refused.json()["detail"]
    assert agents.post(f"/files/{file['id']}/complete").status_code == 409
    assert emu.stats.agents_files == 1
    assert emu.stats.requests["PUT /uploads/{token}"] == 5


def test_files_list_in_keyset_pages_newest_first_with_filters(agents, emu):
    ids = [
        agents.ready_file(picture("PNG"), purpose="reference" if i % 2 else "input")["id"] for i in range(5)
    ]
    pending = agents.new_file(picture("PNG"))["id"]
    ids.append(pending)
    pages, cursor = [], None
    while True:
        answer = agents.get("/files", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200
        page = answer.json()
        assert set(page) == {"data", "has_more", "next_cursor"}
        pages.append([file["id"] for file in page["data"]])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert pages == [ids[5:3:-1], ids[3:1:-1], ids[1::-1]]
    assert [f["id"] for f in agents.get("/files").json()["data"]] == ids[::-1]  # default limit 25
    references = agents.get("/files", params={"purpose": "reference"}).json()["data"]
    assert [f["id"] for f in references] == [ids[3], ids[1]]
    assert [f["id"] for f in agents.get("/files", params={"state": "pending"}).json()["data"]] == [pending]
    agents.delete(f"/files/{ids[0]}")
    assert [f["id"] for f in agents.get("/files", params={"state": "deleted"}).json()["data"]] == [ids[0]]
    for params, detail in (
        ({"limit": 0}, "limit:"),
        ({"limit": 101}, "limit:"),
        ({"limit": "x"}, "limit:"),
        ({"purpose": "other"}, "purpose:"),
        ({"state": "gone"}, "state:"),
        ({"cursor": "bogus"}, "cursor:"),
    ):
        answer = agents.get("/files", params=params)
        assert answer.status_code == 400, params
        assert answer.json()["detail"].startswith(detail)


def test_files_that_fail_ingest_or_are_not_ready(agents, emu):
    never_uploaded = agents.post("/files", {"mime_type": "image/png", "size_bytes": 10}).json()["id"]
    failed = agents.post(f"/files/{never_uploaded}/complete").json()
    assert failed["state"] == "failed"
    assert failed["failure_reason"] == "No bytes were uploaded to the upload URL before completion"
    jpeg_as_png = agents.new_file(picture("JPEG"), "image/png")["id"]
    assert (
        agents.post(f"/files/{jpeg_as_png}/complete").json()["failure_reason"]
        == "the bytes are a JPEG image, not image/png"
    )
    not_a_video = agents.new_file(b"0123456789abcdef", "video/mp4")["id"]
    assert agents.post(f"/files/{not_a_video}/complete").json()["state"] == "failed"
    clip = agents.ready_file(b"\x00\x00\x00\x18ftypisom" + bytes(20), "video/mp4")
    assert clip["state"] == "ready"

    pending = agents.new_file(picture("PNG"))["id"]
    for file_id, state in ((never_uploaded, "failed"), (pending, "pending")):
        refused = agents.post("/generations", {"prompt": "x", "image_ref": [{"file_id": file_id}]})
        assert refused.status_code == 422
        assert f"is {state}, not ready" in refused.json()["detail"]
    video_as_image = agents.post("/generations", {"prompt": "x", "image_ref": [{"file_id": clip["id"]}]})
    assert video_as_image.status_code == 422
    assert "image media is needed here" in video_as_image.json()["detail"]

    emu.configure(agents_file_ingest_seconds=0.2)
    slow = agents.new_file(picture("PNG"))["id"]
    assert agents.post(f"/files/{slow}/complete").json()["state"] == "pending"
    time.sleep(0.25)
    assert agents.get(f"/files/{slow}").json()["state"] == "ready"

    for body, detail in (
        ({"mime_type": "image/png"}, "size_bytes: Field required"),
        ({"mime_type": "image/png", "size_bytes": 0}, "size_bytes:"),
        ({"mime_type": "application/pdf", "size_bytes": 5}, "mime_type: must be one of"),
        ({"mime_type": "image/png", "size_bytes": 5, "purpose": "style"}, "purpose:"),
        (
            {"mime_type": "image/png", "size_bytes": 5, "expires_at": "2000-01-01T00:00:00Z"},
            "expires_at: must be in the future",
        ),
    ):
        answer = agents.post("/files", body)
        assert answer.status_code == 400, body
        assert answer.json()["detail"].startswith(detail), answer.text
    assert emu.stats.agents_files == 6


def test_a_file_expires_into_deleted(agents):
    soon = datetime.now(timezone.utc) + timedelta(seconds=0.8)
    file = agents.ready_file(picture("PNG"), expires_at=soon.isoformat())
    assert datetime.fromisoformat(file["expires_at"].replace("Z", "+00:00")) == soon
    time.sleep(max(0.0, (soon - datetime.now(timezone.utc)).total_seconds()) + 0.05)
    expired = agents.get(f"/files/{file['id']}").json()
    assert (expired["state"], expired["deleted_at"]) == ("deleted", file["expires_at"])


def test_another_clients_files_are_invisible(agents, emu):
    theirs = emu.plant_agents_file(picture("PNG"), "image/png")
    assert theirs["state"] == "ready"
    mine = emu.plant_agents_file(picture("PNG"), "image/png", owner="own")
    assert agents.get(f"/files/{theirs['id']}").status_code == 404
    assert agents.post(f"/files/{theirs['id']}/complete").status_code == 404
    assert agents.delete(f"/files/{theirs['id']}").status_code == 404
    assert [f["id"] for f in agents.get("/files").json()["data"]] == [mine["id"]]
    refused = agents.post("/generations", {"prompt": "x", "image_ref": [{"file_id": theirs["id"]}]})
    assert refused.status_code == 422
    assert "not found" in refused.json()["detail"]
    assert (
        agents.post("/generations", {"prompt": "x", "image_ref": [{"file_id": mine["id"]}]}).status_code
        == 201
    )
    assert [f["id"] for f in emu.agents_files] == [mine["id"]]


def test_inline_multipart_upload(agents, emu):
    data = picture("JPEG")
    answer = agents.request(
        "POST", "/files", files={"file": ("cat.jpg", data, "image/jpeg")}, data={"purpose": "reference"}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["upload"] is None
    assert (body["file"]["filename"], body["file"]["size_bytes"], body["file"]["purpose"]) == (
        "cat.jpg",
        len(data),
        "reference",
    )
    assert agents.get(f"/files/{body['id']}").json()["state"] == "ready"
    bad = agents.request("POST", "/files", files={"file": ("x.png", b"not a png", "image/png")})
    assert agents.get(f"/files/{bad.json()['id']}").json()["state"] == "failed"
    no_file = agents.request("POST", "/files", files={"other": ("x", b"1", "image/png")})
    assert no_file.status_code == 400


# -- auth, faults, limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/generations"),
        ("GET", f"/generations/{UNKNOWN}"),
        ("POST", "/files"),
        ("GET", "/files"),
        ("GET", f"/files/{UNKNOWN}"),
        ("DELETE", f"/files/{UNKNOWN}"),
        ("POST", f"/files/{UNKNOWN}/complete"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", f"Basic {'x'}"])
def test_every_endpoint_needs_the_key(emu, method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.request(
        method,
        emu.agents_base_url + path,
        json={"prompt": "x", "mime_type": "image/png", "size_bytes": 1},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 401
    assert emu.api_key not in answer.text
    assert "detail" in answer.json()
    assert answer.headers["X-API-Version"]
    assert emu.stats.agents_creates == 0
    assert emu.stats.agents_files == 0


def test_request_id_is_echoed_or_made(agents):
    assert agents.get("/files", headers={"X-Request-Id": "trace-42"}).headers["X-Request-Id"] == "trace-42"
    made = agents.get(f"/generations/{UNKNOWN}").headers["X-Request-Id"]
    assert uuid.UUID(made)


def test_faults_target_agents_create_and_poll_by_route(agents, emu):
    emu.configure(
        faults=[
            FaultRule(route="POST /agents/v1/generations", kind="503", times=1),
            FaultRule(route="GET /agents/v1/generations/{id}", kind="500", times=1),
            FaultRule(route="POST /generations", kind="500"),  # the Dream Machine's older path only
        ]
    )
    refused = agents.post("/generations", {"prompt": "first"})
    assert refused.status_code == 503
    assert emu.stats.agents_creates == 0
    generation = agents.create("second")
    assert agents.get(f"/generations/{generation['id']}").status_code == 500
    assert agents.get(f"/generations/{generation['id']}").status_code == 200
    stats = emu.stats
    assert stats.faults == {"503": 1, "500": 1}
    assert stats.requests["POST /agents/v1/generations"] == 2
    assert stats.requests["GET /agents/v1/generations/{id}"] == 2
    assert stats.requests_by_path[f"GET /agents/v1/generations/{generation['id']}"] == 2
    assert stats.agents_creates == 1


def test_a_reset_after_create_and_a_hostile_output_url(agents, emu):
    emu.configure(faults=[FaultRule(route="POST /agents/v1/*", kind="reset_after_create", times=1)])
    with pytest.raises(requests.ConnectionError):
        requests.post(
            emu.agents_base_url + "/generations",
            json={"prompt": "lost answer"},
            headers={"Authorization": f"Bearer {emu.api_key}", "Connection": "close"},
            timeout=10,
        )
    assert emu.stats.agents_creates == 1  # created, and paid for
    [lost] = emu.agents_generations
    emu.complete(lost["id"])
    emu.configure(
        faults=[FaultRule(route="GET /agents/v1/generations/*", kind="asset_url", url="file:///etc/passwd")]
    )
    assert agents.get(f"/generations/{lost['id']}").json()["output"][0]["url"] == "file:///etc/passwd"


def test_a_429_fault_with_retry_after(agents, emu):
    emu.configure(faults=[FaultRule(route="POST /agents/v1/generations", kind="429", retry_after=3, times=1)])
    answer = agents.post("/generations", {"prompt": "too soon"})
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "3"
    assert agents.post("/generations", {"prompt": "now"}).status_code == 201


def test_requests_per_minute_limit(agents, emu):
    emu.configure(rate_limits=True, agents_requests_per_minute=2)
    first = agents.post("/generations", {"prompt": "one"})
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("2", "1")
    assert agents.post("/generations", {"prompt": "two"}).headers["X-RateLimit-Remaining"] == "0"
    refused = agents.post("/generations", {"prompt": "three"})
    assert refused.status_code == 429
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    assert (
        refused.json()["detail"]
        == "Rate limit exceeded: Agents API create requests are limited to 2 per minute"
    )
    assert emu.stats.agents_creates == 2
    # The Dream Machine's limits are counted apart.
    dm = requests.post(
        emu.base_url + "/generations/image",
        json={"model": "photon-1", "prompt": "a picture"},
        headers={"Authorization": f"Bearer {emu.api_key}"},
        timeout=10,
    )
    assert dm.status_code == 201


def test_concurrent_jobs_limit(agents, emu):
    emu.configure(rate_limits=True, agents_concurrent_jobs=1, dreaming_seconds=60)
    first = agents.create("one")
    refused = agents.post("/generations", {"prompt": "two"})
    assert refused.status_code == 429
    assert 60 <= int(refused.headers["Retry-After"]) <= 61  # when the running one finishes
    assert "Agents API generations are limited to 1 running at once" in refused.json()["detail"]
    emu.fail(first["id"])  # a final generation frees its slot
    assert agents.post("/generations", {"prompt": "two"}).status_code == 201


def test_limits_are_off_by_default(agents, emu):
    emu.configure(dreaming_seconds=60)
    for number in range(35):
        agents.create(f"picture {number}")
    assert emu.stats.agents_creates == 35
    assert (emu.config.agents_requests_per_minute, emu.config.agents_concurrent_jobs) == (30, 10)


# -- failures, credits, stats -----------------------------------------------------------------------


def test_failure_rules_choose_the_failure_code(agents, emu):
    emu.configure(
        dreaming_seconds=0.6,
        agents_failures=[
            AgentsFailureRule(failure_code="image_too_large", times=1),
            AgentsFailureRule(
                failure_code="corrupt_input", reason="bad bytes", prompt="broken", in_queue=True
            ),
            AgentsFailureRule(failure_code="rate_limited", type="video"),
        ],
    )
    too_large = agents.create("first")
    fine = agents.create("second")
    broken = agents.create("a broken one")
    video = agents.create("a clip", type="video")
    named = {"too_large": too_large, "fine": fine, "broken": broken, "video": video}
    finals = agents.wait_all([g["id"] for g in named.values()])
    results = {name: finals[g["id"]] for name, g in named.items()}
    assert (results["too_large"]["state"], results["too_large"]["failure_code"]) == (
        "failed",
        "image_too_large",
    )
    assert results["too_large"]["failure_reason"] == FAILURE_REASONS["image_too_large"]
    assert results["too_large"]["output"] is None
    assert agents.seen[too_large["id"]] == ["queued", "processing", "failed"]
    assert (results["fine"]["state"], results["fine"]["failure_code"]) == ("completed", None)
    assert (results["broken"]["failure_code"], results["broken"]["failure_reason"]) == (
        "corrupt_input",
        "bad bytes",
    )
    assert agents.seen[broken["id"]] == ["queued", "failed"]  # in_queue: no processing
    assert results["video"]["failure_code"] == "rate_limited"


def test_failing_a_generation_now_with_a_code(agents, emu):
    emu.configure(dreaming_seconds=60)
    first, second, third = agents.create("one"), agents.create("two"), agents.create("three")
    emu.fail(first["id"], failure_code="unsupported_format")
    emu.fail(second["id"])
    control = requests.post(
        f"{emu.url}/_emulator/generations/{third['id']}/fail",
        json={"failure_code": "output_not_found", "reason": "the bucket was empty"},
        headers=emu.control_headers,
        timeout=10,
    )
    assert control.status_code == 200
    got = [agents.get(f"/generations/{g['id']}").json() for g in (first, second, third)]
    assert [(g["state"], g["failure_code"], g["failure_reason"]) for g in got] == [
        ("failed", "unsupported_format", FAILURE_REASONS["unsupported_format"]),
        ("failed", "generation_failed", FAILURE_REASONS["generation_failed"]),
        ("failed", "output_not_found", "the bucket was empty"),
    ]
    with pytest.raises(ValueError, match="failure_code must be one of"):
        emu.fail(first["id"], failure_code="oops")
    bad_code = requests.post(
        f"{emu.url}/_emulator/generations/{third['id']}/fail",
        json={"failure_code": "oops"},
        headers=emu.control_headers,
        timeout=10,
    )
    assert bad_code.status_code == 400
    with pytest.raises(KeyError):
        emu.fail(UNKNOWN, failure_code="corrupt_input")
    stats = requests.get(f"{emu.url}/_emulator/stats", headers=emu.control_headers, timeout=10).json()
    assert stats["agents_generation_count"] == 3
    assert [g["id"] for g in stats["agents_generations"]] == [first["id"], second["id"], third["id"]]
    assert stats["agents_creates"] == 3
    listed = requests.get(
        f"{emu.url}/_emulator/agents/generations", headers=emu.control_headers, timeout=10
    ).json()
    assert listed == emu.agents_generations
    emu.complete(first["id"])
    assert emu.agents_generation(first["id"])["state"] == "completed"
    assert emu.agents_generation(first["id"])["failure_code"] is None


def test_blocked_words_fail_with_content_moderated(agents, emu):
    generation = agents.wait(agents.create("a blocked idea")["id"])
    assert (generation["failure_code"], generation["failure_reason"]) == (
        "content_moderated",
        "Contains blacklisted words",
    )


def test_one_ledger_charged_at_create_and_refunded_on_failure(agents, emu, api):
    start = api.get("/credits").json()["credit_balance"]
    emu.configure(dreaming_seconds=60)
    image = agents.create("one", model="uni-1")
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(start - 4.04)
    max_image = agents.create("two", model="uni-1-max", image_ref=[{"url": IMAGE_URL}] * 2)
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(start - 4.04 - 10.6)
    emu.fail(max_image["id"])
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(start - 4.04)
    agents.create("a clip", type="video", video={"resolution": "720p", "duration": "5s"})
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(start - 4.04 - 71.0)
    emu.complete(image["id"])
    emu.configure(credits=3)
    broke = agents.post("/generations", {"prompt": "no money"})
    assert broke.status_code == 402
    assert "Insufficient credits" in broke.json()["detail"]
    assert emu.stats.agents_creates == 3


def test_max_in_flight_counts_both_apis(agents, emu, api):
    emu.configure(dreaming_seconds=60)
    api.image("one")
    agents.create("two")
    agents.create("three", type="video")
    api.video("four")
    stats = emu.stats
    assert stats.max_in_flight == 4
    assert (stats.creates, stats.agents_creates) == (2, 2)


def test_reset_forgets_agents_generations_and_files(agents, emu):
    generation = agents.create()
    agents.ready_file(picture("PNG"))
    emu.configure(agents_failures=[{"failure_code": "invalid_request"}])
    emu.reset()
    assert emu.agents_generations == []
    assert emu.agents_files == []
    assert emu.config.agents_failures == []
    assert agents.get(f"/generations/{generation['id']}").status_code == 404
    assert (emu.stats.agents_creates, emu.stats.agents_files) == (0, 0)
