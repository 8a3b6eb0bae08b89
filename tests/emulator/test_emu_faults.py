"""Each fault kind, observed from the client side with requests and aiohttp."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import requests

from airflow_provider_luma.testing import FaultRule

IMAGE = {"model": "photon-1", "prompt": "a lighthouse at dawn"}


def fault(emu, **rule) -> None:
    emu.configure(faults=[FaultRule(**rule)])


def fresh_post(emu, timeout: float = 10) -> requests.Response:
    """POST an image create on a new connection (no keep-alive reuse)."""
    headers = {"Authorization": f"Bearer {emu.api_key}", "Connection": "close"}
    return requests.post(emu.base_url + "/generations/image", json=IMAGE, headers=headers, timeout=timeout)


def test_429_with_retry_after(api, emu):
    fault(emu, route="POST /generations/image", kind="429", retry_after=7)
    answer = api.post("/generations/image", IMAGE)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json() == {"detail": "Too Many Requests"}
    assert emu.stats.creates == 0
    assert api.post("/generations/image", IMAGE).status_code == 429  # no times, no rate: every match


def test_429_without_retry_after(api, emu):
    fault(emu, route="GET /credits", kind="429_no_retry_after")
    answer = api.get("/credits")
    assert answer.status_code == 429
    assert "Retry-After" not in answer.headers


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503)])
def test_5xx_answer_json_and_create_nothing(api, emu, kind, status):
    fault(emu, route="POST /generations/*", kind=kind)
    answer = api.post("/generations/image", IMAGE)
    assert answer.status_code == status
    assert "detail" in answer.json()
    assert emu.stats.creates == 0
    assert emu.stats.faults[kind] == 1


def test_502_is_a_gateway_html_page(api, emu):
    fault(emu, route="GET /generations/{id}", kind="502")
    answer = api.get("/generations/00000000-0000-4000-8000-000000000000")
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert "Bad Gateway" in answer.text


def test_reset_drops_the_connection_before_anything_is_created(emu):
    fault(emu, route="POST /generations/image", kind="reset", times=1)
    with pytest.raises(requests.ConnectionError):
        fresh_post(emu)
    assert emu.stats.creates == 0
    assert emu.generations == []
    assert emu.stats.requests["POST /generations/image"] == 1
    assert emu.stats.last_requests[-1].status == 0
    assert fresh_post(emu).status_code == 201  # times=1: the next one goes through


def test_reset_on_a_keep_alive_connection(api, emu):
    assert api.get("/ping").status_code == 200  # open the connection
    fault(emu, route="GET /credits", kind="reset", times=1)
    with pytest.raises(requests.ConnectionError):
        api.get("/credits")
    assert api.get("/credits").status_code == 200


def test_reset_after_create_drops_the_answer_but_keeps_the_generation(emu):
    fault(emu, route="POST /generations/image", kind="reset_after_create", times=1)
    with pytest.raises(requests.ConnectionError):
        fresh_post(emu)
    assert emu.stats.creates == 1
    [generation] = emu.generations
    assert generation["request"]["prompt"] == IMAGE["prompt"]


def test_slow_create_times_the_client_out_but_creates(emu):
    fault(emu, route="POST /generations/image", kind="slow", delay=1.0, times=1)
    with pytest.raises(requests.ReadTimeout):
        fresh_post(emu, timeout=0.3)
    assert emu.stats.creates == 1


def test_slow_read_answers_late(api, emu):
    fault(emu, route="GET /ping", kind="slow", delay=0.4, times=1)
    answer = api.get("/ping")
    assert answer.status_code == 200
    assert answer.elapsed.total_seconds() >= 0.4
    assert emu.stats.last_requests[-1] == ("GET", "/ping", 200)


def test_malformed_json_is_a_200_that_does_not_parse(api, emu):
    fault(emu, route="POST /generations/image", kind="malformed_json", times=1)
    answer = api.post("/generations/image", IMAGE)
    assert answer.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        answer.json()
    assert emu.stats.creates == 1  # processed, then garbled
    fault(emu, route="DELETE /generations/*", kind="malformed_json", times=1)
    answer = api.delete(f"/generations/{emu.generations[0]['id']}")
    with pytest.raises(requests.JSONDecodeError):
        answer.json()


def test_times_and_route_patterns(api, emu):
    emu.configure(
        faults=[
            FaultRule(route="GET /generations/{id}", kind="503", times=2),
            FaultRule(route="* /credits", kind="500", times=1),
        ]
    )
    generation_id = api.image()["id"]  # POST /generations/image matches neither
    statuses = [api.get(f"/generations/{generation_id}").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [api.get("/credits").status_code for _ in range(2)] == [500, 200]


def test_wildcard_rule_covers_assets_but_never_admin(api, emu):
    fault(emu, route="*", kind="503")
    assert api.get("/ping").status_code == 503
    assert requests.get(f"{emu.url}/assets/blob/10", timeout=10).status_code == 503
    assert (
        requests.get(f"{emu.url}/_emulator/stats", headers=emu.control_headers, timeout=10).status_code == 200
    )


def test_rate_is_seeded_and_reproducible(api, emu):
    def pattern() -> list[int]:
        emu.configure(faults=[FaultRule(route="GET /ping", kind="500", rate=0.5)], seed=3)
        return [api.get("/ping").status_code for _ in range(20)]

    first = pattern()
    assert set(first) == {200, 500}
    assert pattern() == first


async def test_aiohttp_sees_reset_and_reset_after_create_as_disconnects(emu):
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    emu.configure(
        faults=[
            FaultRule(route="POST /generations/image", kind="reset", times=1),
            FaultRule(route="POST /generations/image", kind="reset_after_create", times=1),
        ]
    )
    disconnects = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
    for expected_creates in (0, 1):
        async with aiohttp.ClientSession() as session:
            with pytest.raises(disconnects):
                async with session.post(emu.base_url + "/generations/image", json=IMAGE, headers=headers):
                    pass
        assert emu.stats.creates == expected_creates


async def test_aiohttp_sees_slow_as_a_timeout_and_malformed_as_bad_json(emu):
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    emu.configure(
        faults=[
            FaultRule(route="GET /credits", kind="slow", delay=0.6, times=1),
            FaultRule(route="GET /credits", kind="malformed_json", times=1),
        ]
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as session:
        with pytest.raises(asyncio.TimeoutError):  # builtin TimeoutError only from Python 3.11 on
            async with session.get(emu.base_url + "/credits", headers=headers) as answer:
                await answer.read()
    async with (
        aiohttp.ClientSession() as session,
        session.get(emu.base_url + "/credits", headers=headers) as answer,
    ):
        assert answer.status == 200
        with pytest.raises(json.JSONDecodeError):
            await answer.json()


def test_asset_url_replaces_every_asset_url_of_completed_generations(api, emu):
    hostile = "http://169.254.169.254/latest/meta-data/"
    video = api.video()
    image = api.image()
    api.wait(image["id"])
    api.wait(video["id"])
    fault(emu, route="GET /generations*", kind="asset_url", url=hostile)
    assert api.get(f"/generations/{image['id']}").json()["assets"] == {
        "image": hostile,
        "video": None,
        "progress_video": None,
    }
    listed = api.get("/generations").json()["generations"]
    assert [g["assets"]["image"] for g in listed] == [hostile, hostile]
    assert [g["assets"]["video"] for g in listed] == [None, hostile]  # newest first; null stays null
    running = api.image()
    assert api.get(f"/generations/{running['id']}").json()["assets"] is None  # nothing to replace yet
    assert emu.stats.faults["asset_url"] == 3  # one per GET above


def test_asset_redirect_answers_302_to_the_url(api, emu):
    generation = api.wait(api.image()["id"])
    fault(emu, route="GET /assets/*", kind="asset_redirect", url="file:///etc/passwd", times=1)
    answer = requests.get(generation["assets"]["image"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "file:///etc/passwd"
    assert answer.content == b""
    assert requests.get(generation["assets"]["image"], timeout=10).status_code == 200  # times=1


@pytest.mark.parametrize("kind", ["asset_url", "asset_redirect"])
def test_url_faults_need_a_url(kind):
    with pytest.raises(ValueError, match=f"FaultRule.url is required for kind '{kind}'"):
        FaultRule(route="*", kind=kind)


def test_traffic_adds_other_users_generations_before_answering(api, emu):
    mine = api.post("/generations/image", IMAGE).json()
    fault(emu, route="GET /generations", kind="traffic", count=150, times=1)
    page = api.get("/generations", params={"limit": 100, "offset": 0}).json()
    assert page["has_more"] is True
    assert mine["id"] not in [generation["id"] for generation in page["generations"]]  # 150 newer ones
    listed = (
        page["generations"]
        + api.get("/generations", params={"limit": 100, "offset": 100}).json()["generations"]
    )
    assert listed[-1]["id"] == mine["id"]
    assert emu.stats.creates == 1  # other users' creates are not ours


def test_listing_delay_hides_a_new_generation_from_the_list_only(api, emu):
    import time

    emu.configure(listing_delay=0.5)
    mine = api.post("/generations/image", IMAGE).json()
    assert api.get("/generations").json()["generations"] == []
    assert api.get(f"/generations/{mine['id']}").status_code == 200
    time.sleep(0.6)
    assert [generation["id"] for generation in api.get("/generations").json()["generations"]] == [mine["id"]]
