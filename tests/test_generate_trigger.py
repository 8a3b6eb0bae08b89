"""
LumaGenerateTrigger: a generate task that starts on the triggerer (Airflow 3.3+), against the
emulator, with its XCom calls going through Airflow's in-process supervisor to the metadata
database (``tests/on_triggerer.py``). The same scenarios run in a real triggerer in
``tests/e2e/test_e2e_6_start_on_triggerer.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

from airflow_provider_luma.records import RECORD_XCOM_KEY
from airflow_provider_luma.testing import FaultRule
from tests.conftest import DagRunResult
from tests.on_triggerer import AttachedTaskInstance, first_event, supervisor_comms, trigger_of

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+")

DAG_ID = "luma_test_start"
LINK_XCOM = "_link_LumaGenerationLink"


class StartedRun:
    """A run of ``luma_test_start`` whose tasks the tests start on the (in-process) triggerer."""

    def __init__(self, dag: Any) -> None:
        self.dag = dag
        # A run and its task instances in the database; nothing of them runs.
        self.result = DagRunResult(dag.test(mark_success_pattern=".*"))
        self.run_id = self.result.dag_run.run_id

    def trigger(self, task_id: str, try_number: int = 1, clears: int = 0, **changes: Any) -> Any:
        task = self.dag.get_task(task_id)
        ti = AttachedTaskInstance(self.dag.dag_id, task_id, self.run_id, try_number, task, clears=clears)
        return trigger_of(task, ti, **changes)

    async def run(self, task_id: str, try_number: int = 1, clears: int = 0, **changes: Any) -> Any:
        """The first event of the task's trigger (of ``try_number``, after ``clears`` clears of the run)."""
        with supervisor_comms(self.result.dag_run.id):
            return await first_event(self.trigger(task_id, try_number, clears, **changes))

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        return self.result.xcom(task_id, key)


@pytest.fixture
def start(dagbag, emulator):
    emulator.configure(queued_seconds=0.1, dreaming_seconds=0.3)
    return lambda: StartedRun(dagbag.get_dag(DAG_ID))


def is_task_success(event: Any) -> bool:
    from airflow.triggers.base import TaskSuccessEvent

    return isinstance(event, TaskSuccessEvent)


async def test_a_task_with_nothing_left_for_a_worker_ends_on_the_triggerer(start, emulator, read_logs):
    run = start()
    event = await run.run("generate")
    assert is_task_success(event), event
    generation = run.xcom("generate", "generation")
    url = run.xcom("generate")
    assert (generation["state"], generation["id"]) == ("completed", run.xcom("generate", "generation_id"))
    assert url == generation["assets"]["image"]
    assert run.xcom("generate", LINK_XCOM) == url  # the extra link Airflow 3 serves from XCom
    record = run.xcom("generate", RECORD_XCOM_KEY)
    assert (record["try_number"], record["generation_id"], record["succeeded"]) == (1, generation["id"], True)
    assert generation["request"]["prompt"] == "a kingfisher on a branch"
    assert emulator.stats.creates == 1
    logs = read_logs()
    assert logs.count(f"Luma generation {generation['id']} is completed (") == 1


@pytest.mark.parametrize(
    ("task_id", "worker_work"),
    [("stored", "the copy to output_path"), ("announced", "the Asset events of its outlets")],
)
async def test_work_only_a_worker_can_do_resumes_the_task_on_one(
    start, emulator, read_logs, task_id, worker_work
):
    run = start()
    event = await run.run(task_id)
    assert not is_task_success(event)
    payload = event.payload
    assert (payload["status"], payload["started_on_triggerer"]) == ("completed", True)
    assert payload["generation"]["id"] == run.xcom(task_id, "generation_id")
    assert run.xcom(task_id) is None  # the worker pushes the result once its work is done
    assert not run.xcom(task_id, RECORD_XCOM_KEY).get("succeeded")  # nor is the record closed yet
    assert f"resuming the task on a worker for {worker_work}" in read_logs()


async def test_a_bad_parameter_fails_the_task_for_good_before_any_call(start, emulator):
    event = await start().run("bad")
    assert (event.payload["status"], event.payload["final"]) == ("error", True)
    assert "'aspect_ratio'" in event.payload["message"]
    assert "2:1" in event.payload["message"]
    assert emulator.stats.total_requests == 0


async def test_an_error_retrying_cannot_fix_fails_the_task_for_good(start, emulator):
    event = await start().run("upscale")  # its source video does not exist: Luma answers 404
    assert (event.payload["status"], event.payload["final"]) == ("error", True)
    assert "404" in event.payload["message"]


async def test_not_enough_credits_fails_before_creating(start, emulator):
    event = await start().run("credits")
    assert (event.payload["status"], event.payload["final"]) == ("error", True)
    assert "below min_credits" in event.payload["message"]
    assert emulator.stats.creates == 0


async def test_rate_limits_are_waited_out_on_the_triggerer(start, emulator, read_logs):
    emulator.configure(
        faults=[FaultRule(route="POST /generations/image", kind="429", times=2, retry_after=0.2)]
    )
    event = await start().run("generate")
    assert is_task_success(event), event
    assert emulator.stats.requests["POST /generations/image"] == 3  # two 429s, then the create
    assert emulator.stats.creates == 1
    assert read_logs().count("Luma's rate limit is reached: creating again in") == 2


async def test_a_triggerer_that_takes_over_a_create_in_doubt_adopts_what_it_made(start, emulator, read_logs):
    """The first triggerer sends the create, Luma stores it and holds the answer; the trigger is cancelled."""
    emulator.configure(faults=[FaultRule(route="POST /generations/image", kind="slow", delay=30, times=1)])
    run = start()
    with supervisor_comms(run.result.dag_run.id):
        first = asyncio.ensure_future(first_event(run.trigger("generate")))
        while emulator.stats.creates == 0:
            await asyncio.sleep(0.05)
        first.cancel()  # the triggerer dies: the answer is never read
        with pytest.raises(asyncio.CancelledError):
            await first
        (created,) = emulator.generations
        record = run.xcom("generate", RECORD_XCOM_KEY)
        assert (record["try_number"], record.get("generation_id")) == (1, None)  # in doubt
        assert record["sent_at"] <= time.time()
        event = await first_event(run.trigger("generate"))  # another triggerer, the same try
    assert is_task_success(event), event
    assert emulator.stats.creates == 1
    assert run.xcom("generate", "generation_id") == created["id"]
    assert f"Adopting generation {created['id']}" in read_logs()


async def test_a_try_after_a_failed_one_reattaches_and_one_after_success_creates_anew(
    start, emulator, read_logs
):
    run = start()
    first = await run.run("stored")  # the worker then fails copying: the record stays open
    generation_id = first.payload["generation"]["id"]
    second = await run.run("stored", try_number=2)
    assert second.payload["generation"]["id"] == generation_id
    assert emulator.stats.creates == 1
    assert f"Re-attaching to generation {generation_id} created by an earlier try (completed)" in read_logs()
    assert run.xcom("stored", RECORD_XCOM_KEY)["try_number"] == 2  # this try's now

    assert is_task_success(await run.run("generate"))
    earlier = run.xcom("generate", "generation_id")
    assert is_task_success(await run.run("generate", try_number=2, clears=1))  # a clear after success
    assert run.xcom("generate", "generation_id") != earlier
    assert emulator.stats.creates == 3
    said = f"An earlier try succeeded with generation {earlier} and the task was cleared since"
    assert f"{said}: creating a new one" in read_logs()


async def test_a_try_taken_over_after_it_succeeded_ends_without_calling_luma(start, emulator):
    run = start()
    assert is_task_success(await run.run("generate"))
    requests_before = emulator.stats.total_requests
    assert is_task_success(await run.run("generate"))  # the triggerer died before its event was kept
    assert emulator.stats.total_requests == requests_before
    assert emulator.stats.creates == 1


async def test_reattach_false_never_waits_on_an_earlier_try(start, emulator, read_logs):
    run = start()
    first = await run.run("opted_out", output_path="file:///tmp/luma-start/")  # left open for a worker
    second = await run.run("opted_out", try_number=2)
    assert is_task_success(second)
    assert run.xcom("opted_out", "generation_id") != first.payload["generation"]["id"]
    assert emulator.stats.creates == 2
    assert "Re-attaching" not in read_logs()


async def test_identical_siblings_never_take_each_others_generation(start, emulator, read_logs):
    run = start()
    assert is_task_success(await run.run("variant_0"))
    sibling_id = run.xcom("variant_0", "generation_id")
    # The next identical create is stored by Luma, but its answer is lost on the way back.
    emulator.configure(
        faults=[FaultRule(route="POST /generations/image", kind="reset_after_create", times=1)]
    )
    assert is_task_success(await run.run("variant_1"))
    own_id = run.xcom("variant_1", "generation_id")
    assert own_id != sibling_id
    assert {g["id"] for g in emulator.generations} == {sibling_id, own_id}
    assert emulator.stats.creates == 2  # adopted, not paid twice
    assert f"adopting generation {own_id}" in read_logs()


@pytest.mark.parametrize("url", ["javascript:fetch('/api/v2/connections')", "data:text/html,<b>hi</b>"])
async def test_a_refused_asset_url_fails_the_task_for_good_and_is_never_pushed(start, emulator, url):
    emulator.configure(faults=[FaultRule(route="GET /generations/*", kind="asset_url", url=url)])
    run = start()
    event = await run.run("generate")
    assert (event.payload["status"], event.payload["final"]) == ("error", True)
    assert url[:20] in event.payload["message"]
    assert run.xcom("generate") is None  # no return_value
    assert run.xcom("generate", LINK_XCOM) is None
    assert not run.xcom("generate", RECORD_XCOM_KEY).get("succeeded")
