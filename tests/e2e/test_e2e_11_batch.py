"""
A batch task in a real Airflow 3.3 (scheduler, triggerer, LocalExecutor): it starts, runs and ends on
the triggerer with no task process, and a triggerer killed with its items in flight pays for
nothing twice; a batch that defers from a worker and fails one item makes only that one again on
its retry.

Evidence: the process table sampled through the run (each task process carries its task
instance's UUID in its title), the task instance row, the downstream task's own checks of the
XComs it pulls, the items' records through the REST API, and the emulator's generations.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psutil
from luma_e2e.evidence import TaskProcessCount
from luma_e2e.processes import wait_until
from luma_e2e.scenarios import assert_run_succeeds, generations_of_run
from luma_e2e.settings import DREAMING_SECONDS, RUN_TIMEOUT

if TYPE_CHECKING:
    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.stack import AirflowStack

BATCH_DAG = "e2e_luma_batch_task"
KILL_DAG = "e2e_luma_batch_task_kill"
RETRY_DAG = "e2e_luma_batch_task_retry"


def test_a_batch_starts_runs_and_ends_on_the_triggerer_with_no_task_process(
    stack: AirflowStack, emulator: LumaEmulatorProcess, facts: dict[str, Any]
) -> None:
    api = stack.api
    api.unpause(BATCH_DAG)
    run_id = api.trigger(BATCH_DAG)

    def batch_ti_id() -> dict[str, str] | None:
        found = {ti["task_id"]: ti["id"] for ti in api.task_instances(BATCH_DAG, run_id)}
        return {"batch": found["batch"]} if "batch" in found else None

    ids = wait_until(batch_ti_id, timeout=60, interval=0.05, what="the batch's task instance")
    count = TaskProcessCount([process.pid for process in stack.processes.values()], ids)
    try:
        assert_run_succeeds(api, BATCH_DAG, run_id, timeout=RUN_TIMEOUT)  # the check task passed
    finally:
        launches = count.stop()
    facts["batch of 12 on the triggerer: task processes"] = launches
    assert launches == {"batch": 0}
    generations = generations_of_run(emulator, run_id)
    assert len(generations) == 12
    batch = api.xcom(BATCH_DAG, run_id, "batch", key="batch")
    assert {item["generation_id"] for item in batch["items"]} == {g["id"] for g in generations}
    record = api.xcom(BATCH_DAG, run_id, "batch", key="luma_generation_record_0")
    assert record["generation_id"] == batch["items"][0]["generation_id"]
    # Which items completed is kept once, sealed, as the batch ends.
    completed = api.xcom(BATCH_DAG, run_id, "batch", key="luma_generation_record_ended")
    assert [completed[str(item["index"])] for item in batch["items"]] == [
        g["generation_id"] for g in batch["items"]
    ]
    assert "mac" in completed
    ti = api.task_instance(BATCH_DAG, run_id, "batch")
    assert (ti["state"], ti["try_number"]) == ("success", 1), ti


def test_a_triggerer_killed_mid_batch_pays_for_nothing_twice(
    stack: AirflowStack, emulator: LumaEmulatorProcess, facts: dict[str, Any]
) -> None:
    api = stack.api
    emulator.configure(dreaming_seconds=20.0)
    try:
        api.unpause(KILL_DAG)
        run_id = api.trigger(KILL_DAG)
        wait_until(
            lambda: len(generations_of_run(emulator, run_id)) == 6 or None,
            timeout=90,
            interval=0.1,
            what="every item created",
        )
        old = stack.processes["triggerer"]
        old_processes = [old.pid, *(child.pid for child in old.descendants())]
        old.kill_group()  # SIGKILL with every item dreaming: no clean-up runs
        old.popen.wait(timeout=10)
        wait_until(
            lambda: not [pid for pid in old_processes if psutil.pid_exists(pid)] or None,
            timeout=10,
            what="every process of the killed triggerer to be gone",
        )
        emulator.configure(dreaming_seconds=DREAMING_SECONDS)
        restarted = time.monotonic()
        stack.start_component("triggerer")
        assert_run_succeeds(api, KILL_DAG, run_id, timeout=RUN_TIMEOUT)
        facts["batch of 6, triggerer killed mid-batch: seconds from the new triggerer to the run's end"] = (
            round(time.monotonic() - restarted, 1)
        )
    finally:
        emulator.configure(dreaming_seconds=DREAMING_SECONDS)
    generations = generations_of_run(emulator, run_id)
    assert len(generations) == 6  # one create per item, the kill notwithstanding
    batch = api.xcom(KILL_DAG, run_id, "batch", key="batch")
    assert {item["generation_id"] for item in batch["items"]} == {g["id"] for g in generations}
    ti = api.task_instance(KILL_DAG, run_id, "batch")
    assert (ti["state"], ti["try_number"]) == ("success", 1), ti
    stack.wait_healthy(timeout=60)


def test_a_retry_of_a_batch_from_a_worker_makes_only_the_failed_item_again(
    stack: AirflowStack, emulator: LumaEmulatorProcess
) -> None:
    """The items' records outlive Airflow clearing the task's XComs when the retry starts."""
    api = stack.api
    emulator.configure(stuck_words=["held back"])
    try:
        api.unpause(RETRY_DAG)
        run_id = api.trigger(RETRY_DAG)

        def first_try() -> list[dict[str, Any]] | None:
            made = sorted(generations_of_run(emulator, run_id), key=lambda g: g["request"]["prompt"])
            states = [emulator.generation(g["id"])["state"] for g in made]
            return made if len(made) == 3 and states.count("completed") == 2 else None

        made = wait_until(first_try, timeout=120, interval=0.5, what="two items completed, one held back")
        held_back = next(g for g in made if "held back" in g["request"]["prompt"])
        emulator.configure(stuck_words=[])
        emulator.fail(held_back["id"], "Job failed")  # a failure a retry may fix
        assert_run_succeeds(api, RETRY_DAG, run_id, timeout=RUN_TIMEOUT)
    finally:
        emulator.configure(stuck_words=[])
    ti = api.task_instance(RETRY_DAG, run_id, "batch")
    assert (ti["state"], ti["try_number"]) == ("success", 2), ti
    generations = generations_of_run(emulator, run_id)
    assert len(generations) == 4  # three, then only the failed one again
    items = api.xcom(RETRY_DAG, run_id, "batch", key="batch")["items"]
    kept = {g["id"] for g in made} - {held_back["id"]}
    assert {items[1]["generation_id"], items[2]["generation_id"]} == kept
    assert items[0]["generation_id"] not in {g["id"] for g in made}
    assert [item["state"] for item in items] == ["completed"] * 3
