"""Generations over time: states, failures, stuck ones, forced states, credits, callbacks, reset."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_luma.testing import EmulatorConfig, FaultRule
from airflow_provider_luma.testing.catalog import price_cents


def test_states_follow_the_clock(api, emu):
    emu.configure(queued_seconds=0.3, dreaming_seconds=0.3)
    generation_id = api.image()["id"]
    seen = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        state = api.get(f"/generations/{generation_id}").json()["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "completed":
            break
        time.sleep(0.02)
    assert seen == ["queued", "dreaming", "completed"]


def test_timings_are_fixed_when_a_generation_is_created(api, emu):
    generation_id = api.image()["id"]
    emu.configure(dreaming_seconds=60)
    assert api.wait(generation_id, limit=2)["state"] == "completed"
    assert api.get(f"/generations/{api.image()['id']}").json()["state"] == "queued"


def test_dreaming_range_spreads_completions_deterministically(emu, api):
    emu.configure(queued_seconds=0, dreaming_seconds=(0.1, 30))
    records = [emu._core.store.get(api.image(f"spread {i}")["id"]) for i in range(8)]
    durations = [record.dreaming_s for record in records]
    assert all(0.1 <= d <= 30 for d in durations)
    assert len(set(durations)) == len(durations)
    import random

    assert durations[0] == random.Random(records[0].id).uniform(0.1, 30)


def test_blocked_word_fails_after_the_queue_and_is_refunded(api, emu):
    before = api.get("/credits").json()["credit_balance"]
    generation = api.image("a BLOCKED scene")
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(
        before - price_cents("image", "photon-1")
    )
    failed = api.wait(generation["id"])
    assert failed["state"] == "failed"
    assert failed["failure_reason"] == "Contains blacklisted words"
    assert failed["assets"] is None
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(before)


def test_configured_blocked_words(api, emu):
    emu.configure(blocked_words=["forbidden", "nope"])
    assert api.wait(api.image("something forbidden")["id"])["state"] == "failed"
    assert api.wait(api.image("blocked is fine now")["id"])["state"] == "completed"


def test_credits_go_down_by_the_price_and_402_when_short(api, emu):
    emu.configure(credits=100)
    api.video(resolution="540p", duration="5s")
    expected = 100 - price_cents("video", "ray-2", "540p", "5s")
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(expected)
    short = api.post("/generations/video", {"model": "ray-2", "prompt": "too dear", "resolution": "4k"})
    assert short.status_code == 402
    assert "Insufficient credits" in short.json()["detail"]
    assert emu.stats.creates == 1


def test_stuck_words_and_rate_keep_dreaming(api, emu):
    emu.configure(queued_seconds=0, dreaming_seconds=0, stuck_words=["forever"])
    stuck = api.image("dreaming forever")["id"]
    time.sleep(0.2)
    assert api.get(f"/generations/{stuck}").json()["state"] == "dreaming"
    emu.configure(stuck_words=[], stuck_rate=1.0)
    assert api.get(f"/generations/{api.image()['id']}").json()["state"] == "dreaming"
    emu.complete(stuck)
    assert api.get(f"/generations/{stuck}").json()["state"] == "completed"


def test_moderation_failure_rate(api, emu):
    emu.configure(moderation_failure_rate=1.0)
    failed = api.wait(api.image()["id"])
    assert failed["failure_reason"] == "Advanced prompt moderation failed"
    emu.configure(moderation_failure_rate=0.5, seed=7, queued_seconds=0, dreaming_seconds=0)
    outcomes = [api.wait(api.image(f"roll {i}")["id"])["state"] for i in range(12)]
    assert set(outcomes) == {"completed", "failed"}


def test_forced_states_and_refund(api, emu):
    emu.configure(dreaming_seconds=60)
    before = api.get("/credits").json()["credit_balance"]
    done, failed = api.image("one")["id"], api.image("two")["id"]
    emu.complete(done)
    emu.fail(failed, "Frame moderation failed")
    assert api.get(f"/generations/{done}").json()["assets"]["image"]
    assert api.get(f"/generations/{failed}").json()["failure_reason"] == "Frame moderation failed"
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(
        before - price_cents("image", "photon-1")
    )
    emu.fail(done)  # a completed one failing later is refunded too
    assert api.get("/credits").json()["credit_balance"] == pytest.approx(before)
    with pytest.raises(KeyError):
        emu.complete("00000000-0000-4000-8000-000000000000")


def test_generations_and_stats_from_python(api, emu):
    first = api.image("first")["id"]
    second = api.video("second")["id"]
    assert [g["id"] for g in emu.generations] == [first, second]
    assert emu.generation(second)["generation_type"] == "video"
    api.get(f"/generations/{first}")
    stats = emu.stats
    assert stats.creates == 2
    assert stats.requests["POST /generations/image"] == 1
    assert stats.requests["GET /generations/{id}"] == 1
    assert stats.requests["GET /never"] == 0
    assert stats.total_requests == 3
    assert stats.last_requests[-1] == ("GET", f"/generations/{first}", 200)


def test_reset_restores_the_starting_state(api, emu):
    start = api.get("/credits").json()["credit_balance"]
    api.image()
    emu.configure(dreaming_seconds=99, blocked_words=["x"], faults=[FaultRule(route="GET /ping", kind="500")])
    emu.reset()
    assert emu.generations == []
    assert emu.stats.total_requests == 0
    assert emu.config == EmulatorConfig(queued_seconds=0.1, dreaming_seconds=0.3)
    assert api.get("/ping").status_code == 200
    assert api.get("/credits").json()["credit_balance"] == start


class CallbackReceiver:
    """A tiny HTTP server recording the JSON POSTed to it; answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict] = []
        self.hits = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.hits += 1
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                assert "Authorization" not in self.headers
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = CallbackReceiver()
    yield r
    r.close()


def _wait_for(condition, limit: float = 3.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_callbacks_post_each_state_change(api, emu, receiver):
    generation = api.image(callback_url=receiver.url)
    _wait_for(lambda: len(receiver.bodies) == 2)
    assert [body["state"] for body in receiver.bodies] == ["dreaming", "completed"]
    assert receiver.bodies[-1]["id"] == generation["id"]
    assert receiver.bodies[-1]["assets"]["image"].startswith(emu.url)
    _wait_for(lambda: emu.stats.callbacks_sent == 2)


def test_callbacks_after_a_forced_failure(api, emu, receiver):
    emu.configure(dreaming_seconds=60)
    generation = api.image(callback_url=receiver.url)
    _wait_for(lambda: len(receiver.bodies) == 1)
    emu.fail(generation["id"], "Job failed")
    _wait_for(lambda: len(receiver.bodies) == 2)
    assert receiver.bodies[-1]["failure_reason"] == "Job failed"


def test_callbacks_retry_three_times_then_give_up(api, emu):
    failing = CallbackReceiver(status=500)
    try:
        emu.configure(dreaming_seconds=60)
        api.image(callback_url=failing.url)
        _wait_for(lambda: emu.stats.callbacks_failed == 1)
        assert failing.hits == 4
    finally:
        failing.close()
