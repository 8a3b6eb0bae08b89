"""
Paid once, and the right image, on every path: a worker (``dag.test()``) and the triggerer (the
trigger harness of ``tests/test_generate_trigger.py``), against the emulator playing a busy
account, a late listing, another run's identical request, planted records, Airflow failing a try
that had finished, a triggerer taking a try over, and a re-roll.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

from airflow_provider_luma.testing import FaultRule
from tests.airflow_version import HAS_TASK_STATE_STORE
from tests.dags.luma_test_paid_once_dags import ANOTHER_RUN_AFTER_SECONDS
from tests.on_triggerer import first_event, supervisor_comms
from tests.test_generate_trigger import LINK_XCOM, is_task_success

needs_state_store = pytest.mark.skipif(
    not HAS_TASK_STATE_STORE,
    reason="a retry continues an earlier try with the task state store (Airflow 3.3+)",
)
on_the_triggerer = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+"
)
LOST = FaultRule(route="POST /generations/image", kind="reset_after_create", times=1)
# Both after the first read of the list (before the create, for the key's room): they strike the
# search for a lost create.
BUSY = FaultRule(route="GET /generations", kind="traffic", count=1500, times=1, after=1)
UNLISTABLE = FaultRule(route="GET /generations", kind="503", times=4, after=1)


def ours(emulator) -> list[str]:
    """The generations the provider's tasks made (not the busy account's other users')."""
    return [g["id"] for g in emulator.generations if not g["request"]["prompt"].startswith("another user's")]


@pytest.fixture
def start(dagbag, emulator):
    from tests.test_generate_trigger import StartedRun

    emulator.configure(queued_seconds=0.1, dreaming_seconds=0.3)
    return lambda: StartedRun(dagbag.get_dag("luma_test_start"))


# -- 1 and 2: a lost create on a busy account, or listed late, is found, not paid again -------------


@pytest.mark.parametrize(
    "lost_how",
    [
        pytest.param({"faults": [LOST, BUSY]}, id="1,500 newer generations"),
        pytest.param({"faults": [LOST], "listing_delay": 3.0}, id="listed 3 s late"),
    ],
)
def test_a_lost_create_is_found_in_a_worker(run_dag, emulator, read_logs, lost_how):
    emulator.configure(**lost_how)
    result = run_dag("luma_test_lost_create")
    assert result.state == "success", read_logs()[-3000:]
    (generation_id,) = ours(emulator)
    assert emulator.stats.creates == 1
    assert result.xcom("generate", "generation_id") == generation_id
    assert f"adopting generation {generation_id}" in read_logs()


@on_the_triggerer
@pytest.mark.parametrize(
    "lost_how",
    [
        pytest.param({"faults": [LOST, BUSY]}, id="1,500 newer generations"),
        pytest.param({"faults": [LOST], "listing_delay": 3.0}, id="listed 3 s late"),
    ],
)
async def test_a_lost_create_is_found_on_the_triggerer(start, emulator, lost_how):
    run = start()
    emulator.configure(**lost_how)
    assert is_task_success(await run.run("generate"))
    (generation_id,) = ours(emulator)
    assert emulator.stats.creates == 1
    assert run.xcom("generate", "generation_id") == generation_id


# -- 3: another run's identical request is never taken for ours ------------------------------------


@needs_state_store
def test_a_retry_never_takes_another_runs_identical_generation_in_a_worker(run_dag, emulator, read_logs):
    # The first try's create is stored but its answer lost, and it cannot list: it fails in doubt.
    emulator.configure(faults=[LOST, UNLISTABLE])
    result = run_dag("luma_test_another_run")
    assert result.state == "success", read_logs()[-3000:]
    first_try, _another_run = emulator.generations  # oldest first
    assert result.xcom("generate", "generation_id") == first_try["id"]
    assert emulator.stats.creates == 2  # the first try's, and the other run's own


@on_the_triggerer
async def test_a_retry_never_takes_another_runs_identical_generation_on_the_triggerer(start, emulator):
    run_b, run_a = start(), start()
    emulator.configure(faults=[LOST, UNLISTABLE])
    failed = await run_b.run("generate")
    assert failed.payload["status"] == "error"  # in doubt: its search could not list
    (b_generation,) = emulator.generations
    await asyncio.sleep(ANOTHER_RUN_AFTER_SECONDS)
    assert is_task_success(await run_a.run("generate"))  # another run, the same request
    assert is_task_success(await run_b.run("generate", try_number=2))
    assert run_b.xcom("generate", "generation_id") == b_generation["id"]
    assert run_a.xcom("generate", "generation_id") != b_generation["id"]
    assert emulator.stats.creates == 2


# -- 4: a record planted, or replayed from another run, is ignored ---------------------------------


@needs_state_store
def test_a_record_planted_by_another_task_is_ignored_in_a_worker(run_dag, emulator, read_logs):
    from airflow_provider_luma.hooks.luma import LumaHook

    someone_elses = LumaHook().create_image({"model": "photon-1", "prompt": "someone else's lighthouse"})
    result = run_dag("luma_test_planted_record", {"planted_generation_id": someone_elses["id"]})
    assert result.state == "success"
    assert result.xcom("generate", "generation_id") not in (None, someone_elses["id"])
    assert emulator.stats.creates == 2  # someone else's, and the task's own
    assert "Ignoring the stored Luma record of this task instance" in read_logs()


@on_the_triggerer
async def test_a_record_replayed_from_another_run_is_ignored_on_the_triggerer(start, emulator, read_logs):
    from airflow_provider_luma.records import RECORD_XCOM_KEY

    run_1, run_2 = start(), start()
    assert is_task_success(await run_1.run("generate"))
    replayed = run_1.xcom("generate", RECORD_XCOM_KEY)
    plant(run_2, "generate", RECORD_XCOM_KEY, replayed)  # its record, as any task could write it
    assert is_task_success(await run_2.run("generate"))
    assert run_2.xcom("generate", "generation_id") not in (None, run_1.xcom("generate", "generation_id"))
    assert run_2.xcom("generate") is not None
    assert emulator.stats.creates == 2
    assert "Ignoring the stored Luma record of this task instance" in read_logs()


@on_the_triggerer
@pytest.mark.parametrize("planted", [{"succeeded": True}, {"sent_at": 0.0}, {"generation_id": "someone's"}])
async def test_a_planted_record_never_skips_the_work_nor_picks_the_image(start, emulator, read_logs, planted):
    from airflow_provider_luma.hooks.luma import LumaHook
    from airflow_provider_luma.kinds import build_request
    from airflow_provider_luma.records import RECORD_XCOM_KEY

    someone_elses = LumaHook().create_image({"model": "photon-1", "prompt": "a kingfisher on a branch"})
    run = start()
    request = build_request("image", run.dag.get_task("generate").request_params())
    # What the record of this very try would say (the form an earlier release kept, without a seal).
    record = {"request": request.fingerprint, "try_number": 1, "body": request.body}
    record.update(
        {key: someone_elses["id"] if value == "someone's" else value for key, value in planted.items()}
    )
    plant(run, "generate", RECORD_XCOM_KEY, record)
    assert is_task_success(await run.run("generate"))
    assert run.xcom("generate", "generation_id") not in (None, someone_elses["id"])
    assert emulator.stats.creates == 2
    # Nothing searched for it either (the list is read only for the key's room, before a create).
    assert "looking for the generation it made" not in read_logs()
    assert emulator.stats.requests["GET /generations"] <= emulator.stats.creates


def plant(run: Any, task_id: str, key: str, value: Any) -> None:
    """Write an XCom of the run's task instance, as another task may (through the Task SDK)."""
    from airflow.sdk.bases.xcom import BaseXCom

    with supervisor_comms(run.result.dag_run.id):
        BaseXCom.set(key, value, dag_id=run.dag.dag_id, task_id=task_id, run_id=run.run_id)


# -- 6: a try Airflow fails after it finished: the retry takes it up, a clear makes a new one ---------


@needs_state_store
@pytest.mark.parametrize("mode", ["worker", "deferrable"])
def test_a_try_failed_after_it_finished_is_taken_up_by_its_retry_in_a_worker(
    run_dag, emulator, read_logs, mode
):
    result = run_dag(f"luma_test_failed_after_finishing_{mode}")
    assert result.state == "success"
    assert "Airflow failed this try after it finished" in read_logs()
    (generation,) = emulator.generations
    assert emulator.stats.creates == 1
    assert result.xcom("generate", "generation_id") == generation["id"]
    assert result.xcom("generate") == generation["assets"]["image"]


@on_the_triggerer
async def test_a_try_failed_after_it_finished_is_taken_up_and_a_clear_makes_a_new_one(start, emulator):
    run = start()
    assert is_task_success(await run.run("generate"))
    first = run.xcom("generate", "generation_id")
    # Airflow failed try 1 after its trigger ended it; the retry (no clear since) takes it up.
    assert is_task_success(await run.run("generate", try_number=2))
    assert run.xcom("generate", "generation_id") == first
    assert emulator.stats.creates == 1
    # A clear (the finished run starts again): the user asks again, for a new image.
    assert is_task_success(await run.run("generate", try_number=3, clears=1))
    assert run.xcom("generate", "generation_id") != first
    assert emulator.stats.creates == 2


# -- 7: a triggerer that takes a try over continues what that try paid for ----------------------------


@on_the_triggerer
@pytest.mark.parametrize("meanwhile", ["the prompt renders differently", "the generation failed"])
async def test_a_takeover_continues_the_records_own_generation(start, emulator, meanwhile):
    emulator.configure(dreaming_seconds=60)
    run = start()
    with supervisor_comms(run.result.dag_run.id):
        first = asyncio.ensure_future(first_event(run.trigger("generate")))
        while not emulator.generations:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the create's answer is recorded
        first.cancel()  # the triggerer dies mid-wait
        with pytest.raises(asyncio.CancelledError):
            await first
        (paid_for,) = emulator.generations
        if meanwhile == "the generation failed":
            emulator.fail(paid_for["id"], "Advanced prompt moderation failed")
            event = await first_event(run.trigger("generate"))
            assert (event.payload["status"], event.payload["generation"]["id"]) == ("failed", paid_for["id"])
        else:
            emulator.complete(paid_for["id"])
            event = await first_event(run.trigger("generate", prompt="a kingfisher, rendered anew"))
            assert is_task_success(event)
            assert run.xcom("generate", "generation_id") == paid_for["id"]
    assert emulator.stats.creates == 1


# -- 8: a re-roll never shows the earlier try's image as its own ------------------------------------


@on_the_triggerer
async def test_a_new_try_clears_the_earlier_tries_results_first(start, emulator):
    run = start()
    assert is_task_success(await run.run("generate"))
    assert run.xcom("generate")
    assert run.xcom("generate", LINK_XCOM)
    failed = await run.run("generate", try_number=2, clears=1, prompt="a blocked kingfisher")
    assert failed.payload["status"] == "failed"  # moderation
    assert run.xcom("generate") is None  # what a downstream all_done task reads: not try 1's image
    assert run.xcom("generate", LINK_XCOM) is None
    assert run.xcom("generate", "generation_id") == failed.payload["generation"]["id"]
