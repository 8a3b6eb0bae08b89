"""The Build-tier limits: off by default, 429 with Retry-After when on."""

from __future__ import annotations


def test_limits_are_off_by_default(api, emu):
    emu.configure(dreaming_seconds=60)
    for i in range(25):
        api.video(f"video number {i}")
    assert emu.stats.creates == 25


def test_running_generations_are_limited_per_family(api, emu):
    emu.configure(rate_limits=True, concurrency_limits={"image": 2}, queued_seconds=0, dreaming_seconds=0.5)
    first = api.image("one")
    api.image("two")
    refused = api.post("/generations/image", {"model": "photon-1", "prompt": "three"})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "2 running at once" in refused.json()["detail"]
    assert api.video()["state"]  # the video family has its own limit (10)
    api.wait(first["id"])
    assert api.post("/generations/image", {"model": "photon-1", "prompt": "three"}).status_code == 201
    assert emu.stats.creates == 4


def test_failed_and_deleted_generations_free_their_slot(api, emu):
    emu.configure(rate_limits=True, concurrency_limits={"image": 1}, dreaming_seconds=60)
    first = api.image("one")["id"]
    assert api.post("/generations/image", {"model": "photon-1", "prompt": "two"}).status_code == 429
    emu.fail(first)
    second = api.image("two")["id"]
    api.delete(f"/generations/{second}")
    assert api.post("/generations/image", {"model": "photon-1", "prompt": "three"}).status_code == 201


def test_creates_per_minute(api, emu):
    emu.configure(rate_limits=True, creates_per_minute={"video": 3})
    for i in range(3):
        api.video(f"clip {i}")
    refused = api.post("/generations/video", {"model": "ray-2", "prompt": "one too many"})
    assert refused.status_code == 429
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    assert "3 per minute" in refused.json()["detail"]
    assert api.image()["state"]  # images are counted apart
    assert emu.stats.creates == 4


def test_real_tier_defaults(emu):
    assert emu.config.concurrency_limits == {"image": 40, "video": 10}
    assert emu.config.creates_per_minute == {"image": 80, "video": 20}
    assert emu.config.rate_limits is False
