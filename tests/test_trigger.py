"""LumaGenerationTrigger polling the emulator in a real event loop."""

from __future__ import annotations

import asyncio
import http.server
import importlib
import json
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from airflow_provider_luma.generations import MIN_POLL_SECONDS
from airflow_provider_luma.hooks import _transport as hook_module
from airflow_provider_luma.hooks.luma import LumaHook
from airflow_provider_luma.testing import FaultRule
from airflow_provider_luma.triggers.luma import LumaGenerationTrigger
from tests.conftest import API_KEY

MISSING_ID = "00000000-0000-4000-8000-000000000000"


def create(prompt: str = "a lighthouse at dawn") -> str:
    body = {"generation_type": "image", "model": "photon-1", "prompt": prompt}
    return LumaHook().create_image(body)["id"]


def trigger_for(
    generation_id: str, deadline_in: float = 20, poll_interval: float = 0.1
) -> LumaGenerationTrigger:
    return LumaGenerationTrigger(
        generation_id=generation_id,
        luma_conn_id="luma_default",
        poll_interval=poll_interval,
        end_time=time.time() + deadline_in,
    )


@pytest.fixture
def hostile_luma():
    """A fake Luma that answers every GET with 200 and the given body; returns its base URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(body: str) -> str:
        class Answer(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                payload = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/dream-machine/v1"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


async def first_event(trigger: LumaGenerationTrigger) -> dict:
    events = trigger.run()
    try:
        event = await asyncio.wait_for(events.__anext__(), timeout=30)
    finally:
        await events.aclose()
    return event.payload


async def test_completed_generation_yields_its_object(emulator):
    emulator.configure(dreaming_seconds=1.0)  # still dreaming at the first poll, however slow this machine
    generation_id = create()
    event = await first_event(trigger_for(generation_id))
    assert event["status"] == "completed"
    assert event["generation_id"] == generation_id
    assert event["generation"]["state"] == "completed"
    assert event["generation"]["assets"]["image"]
    assert emulator.stats.requests["GET /generations/{id}"] >= 2  # it really polled


async def test_failed_generation_yields_its_reason(emulator):
    emulator.configure(blocked_words=["forbidden"])
    generation_id = create("a forbidden picture")
    event = await first_event(trigger_for(generation_id))
    assert event["status"] == "failed"
    assert event["generation"]["failure_reason"]


async def test_deadline_yields_timeout(emulator):
    emulator.configure(dreaming_seconds=60)
    generation_id = create()
    started = time.monotonic()
    event = await first_event(trigger_for(generation_id, deadline_in=0.5, poll_interval=0.2))
    assert event["status"] == "timeout"
    assert generation_id in event["message"]
    assert time.monotonic() - started < 5


async def test_deadline_already_passed_still_polls_once(emulator):
    generation_id = create()
    emulator.complete(generation_id)
    event = await first_event(trigger_for(generation_id, deadline_in=-10))
    assert event["status"] == "completed"


async def test_unknown_generation_yields_error(emulator):
    event = await first_event(trigger_for(MISSING_ID))
    assert event["status"] == "error"
    assert "404" in event["message"]


async def test_transient_poll_failures_do_not_end_the_wait(emulator):
    generation_id = create()
    emulator.configure(faults=[FaultRule(route="GET /generations/{id}", kind="503", times=6)])
    event = await first_event(trigger_for(generation_id))
    assert event["status"] == "completed"


async def test_wrong_key_yields_error_without_the_key(emulator, monkeypatch):
    generation_id = create()
    monkeypatch.setenv(
        "AIRFLOW_CONN_LUMA_DEFAULT",
        json.dumps({"conn_type": "luma", "password": "sk-wrong-999", "host": emulator.base_url}),
    )
    event = await first_event(trigger_for(generation_id))
    assert event["status"] == "error"
    assert "sk-wrong-999" not in json.dumps(event)


def test_serialize_round_trips_and_carries_no_secret():
    trigger = trigger_for("6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c")
    classpath, kwargs = trigger.serialize()
    module_name, class_name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module_name), class_name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON
    assert API_KEY not in json.dumps(kwargs) + repr(trigger)
    assert set(kwargs) == {
        "generation_id",
        "luma_conn_id",
        "poll_interval",
        "end_time",
        "delete_on_timeout",
        "cancel_on_kill",
        "first_poll_at",
        "handoff_until",
    }


async def test_many_waits_share_one_session_and_close_it(emulator):
    ids = [create(f"picture number {n}") for n in range(20)]
    events = await asyncio.gather(*(first_event(trigger_for(i)) for i in ids))
    assert {e["status"] for e in events} == {"completed"}
    assert hook_module._shared_sessions._by_loop == {}


async def test_cancellation_closes_the_session(emulator):
    emulator.configure(dreaming_seconds=60)
    generation_id = create()
    events = trigger_for(generation_id).run()
    waiting = asyncio.ensure_future(events.__anext__())
    await asyncio.sleep(0.5)
    assert len(hook_module._shared_sessions._by_loop) == 1
    (session, _users) = next(iter(hook_module._shared_sessions._by_loop.values()))
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await events.aclose()
    assert session.closed
    assert hook_module._shared_sessions._by_loop == {}


def live_ids(emulator) -> set[str]:
    return {generation["id"] for generation in emulator.generations}


async def test_delete_on_timeout_deletes_the_generation(emulator):
    emulator.configure(dreaming_seconds=60)
    generation_id = create()
    trigger = trigger_for(generation_id, deadline_in=0.3)
    trigger.delete_on_timeout = True
    event = await first_event(trigger)
    assert event["status"] == "timeout"
    assert "it was deleted" in event["message"]
    assert generation_id not in live_ids(emulator)


async def test_timeout_without_delete_keeps_the_generation(emulator):
    emulator.configure(dreaming_seconds=60)
    generation_id = create()
    event = await first_event(trigger_for(generation_id, deadline_in=0.3))
    assert event["status"] == "timeout"
    assert generation_id in live_ids(emulator)


@pytest.mark.parametrize("cancel_on_kill", [True, False])
async def test_on_kill_deletes_only_when_asked(emulator, cancel_on_kill):
    generation_id = create()
    trigger = trigger_for(generation_id)
    trigger.cancel_on_kill = cancel_on_kill
    await trigger.on_kill()
    assert (generation_id in live_ids(emulator)) is not cancel_on_kill


async def test_a_triggerer_restart_never_deletes(emulator):
    """A restart cancels the running wait (then calls cleanup()): the generation must survive it."""
    emulator.configure(dreaming_seconds=60)
    generation_id = create()
    trigger = trigger_for(generation_id, poll_interval=0.05)
    trigger.cancel_on_kill = trigger.delete_on_timeout = True
    events = trigger.run()
    waiting = asyncio.ensure_future(events.__anext__())
    await asyncio.sleep(0.5)  # a few polls in
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await trigger.cleanup()
    assert emulator.stats.requests["GET /generations/{id}"] >= 2
    assert emulator.stats.requests.get("DELETE /generations/{id}", 0) == 0
    assert generation_id in live_ids(emulator)


async def test_a_hung_luma_still_times_out_and_deletes_near_the_deadline(emulator):
    """Every poll, retries included, is bounded by the time left: GET answers held for minutes."""
    emulator.configure(dreaming_seconds=600)
    generation_id = create()
    emulator.configure(faults=[FaultRule(route="GET /generations/{id}", kind="slow", delay=300)])
    trigger = trigger_for(generation_id, deadline_in=2, poll_interval=0.2)
    trigger.delete_on_timeout = True
    started = time.monotonic()
    event = await first_event(trigger)
    elapsed = time.monotonic() - started
    assert event["status"] == "timeout"
    assert "it was deleted" in event["message"]
    assert generation_id not in live_ids(emulator)
    # The deadline, at most one minimum-length poll past it, and the delete: seconds, not minutes.
    assert elapsed < 2 + MIN_POLL_SECONDS + 3, elapsed


async def test_a_missing_connection_is_an_error_event(emulator, monkeypatch):
    generation_id = create()
    monkeypatch.delenv("AIRFLOW_CONN_LUMA_DEFAULT")
    trigger = trigger_for(generation_id)
    trigger.luma_conn_id = "luma_nowhere"
    event = await first_event(trigger)
    assert event["status"] == "error"
    assert "luma_nowhere" in event["message"]
    assert event["final"] is False


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("null", "instead of a generation object"),
        ('["not", "a", "generation"]', "instead of a generation object"),
        ('{"id": "x", "state": "rendering"}', "'rendering', which this provider does not know"),
    ],
)
async def test_hostile_answers_are_error_events(hostile_luma, monkeypatch, answer, said):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LUMA_DEFAULT",
        json.dumps({"conn_type": "luma", "password": API_KEY, "host": hostile_luma(answer)}),
    )
    event = await first_event(trigger_for(MISSING_ID))
    assert event["status"] == "error"
    assert said in event["message"]
    assert event["final"] is False


async def test_errors_retrying_cannot_fix_are_final(emulator):
    event = await first_event(trigger_for(MISSING_ID))
    assert event["status"] == "error"
    assert event["final"] is True  # a 404: the task fails without using its retries


async def test_first_poll_waits_until_first_poll_at(emulator):
    generation_id = create()
    trigger = trigger_for(generation_id)
    trigger.first_poll_at = time.time() + 0.6
    started = time.monotonic()
    event = await first_event(trigger)
    assert event["status"] == "completed"
    assert time.monotonic() - started >= 0.6
    assert emulator.stats.requests["GET /generations/{id}"] == 1  # done by then: one poll was enough


async def test_waits_started_together_poll_at_spread_moments(emulator):
    """Without first_poll_at (a restarted triggerer), the first polls spread over one interval."""
    generation_ids = [create(f"a lighthouse number {n}") for n in range(30)]
    for generation_id in generation_ids:  # all done before the waits start: each ends at its first poll
        while LumaHook().get_generation(generation_id)["state"] != "completed":
            await asyncio.sleep(0.05)
    polls_before = emulator.stats.requests["GET /generations/{id}"]
    started = time.monotonic()

    async def seconds_to_event(generation_id: str) -> float:
        assert (await first_event(trigger_for(generation_id, poll_interval=1.0)))["status"] == "completed"
        return time.monotonic() - started

    moments = await asyncio.gather(*(seconds_to_event(g) for g in generation_ids))
    assert max(moments) <= 1.5  # each polled within one interval
    assert max(moments) - min(moments) >= 0.3  # and not all at once
    assert emulator.stats.requests["GET /generations/{id}"] - polls_before == 30  # one poll each


IMPORT_THREAD_PROBE = """
import asyncio, importlib.abc, sys, threading

from airflow_provider_luma.triggers._imports import import_hook_off_the_loop

assert "airflow_provider_luma.hooks.luma" not in sys.modules, "imported before the first wait"
threads = []

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in ("airflow_provider_luma.hooks.luma", "aiohttp"):
            threads.append(threading.current_thread() is threading.main_thread())
        return None

sys.meta_path.insert(0, Watch())
hook_class = asyncio.run(import_hook_off_the_loop())
print(hook_class.__name__, threads)
"""


def test_first_wait_imports_the_hook_and_aiohttp_off_the_event_loop():
    """A fresh triggerer process: the hook's first import runs in a thread, not the loop's."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_THREAD_PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split()[-3:] == ["LumaHook", "[False,", "False]"]  # both, neither on the loop


async def test_a_triggerer_never_polls_before_the_handoff_of_the_deferring_worker(emulator):
    """Airflow may read the deferring worker's exit late: a trigger run by a triggerer waits for it."""
    generation_id = create()
    while LumaHook().get_generation(generation_id)["state"] != "completed":
        await asyncio.sleep(0.05)
    started = time.monotonic()
    handed_off = trigger_for(generation_id)
    handed_off.first_poll_at = time.time()  # due at once, but for the hand-off
    handed_off.handoff_until = time.time() + 1.0
    # What a triggerer attaches; dag.test() attaches nothing.
    handed_off.task_instance = SimpleNamespace(task_id="generate", task=None)
    assert (await first_event(handed_off))["status"] == "completed"
    assert time.monotonic() - started >= 1.0

    started = time.monotonic()
    inline = trigger_for(generation_id)
    inline.first_poll_at = time.time()
    inline.handoff_until = time.time() + 1.0  # dag.test(): no worker hands anything off
    assert (await first_event(inline))["status"] == "completed"
    assert time.monotonic() - started < 0.5
