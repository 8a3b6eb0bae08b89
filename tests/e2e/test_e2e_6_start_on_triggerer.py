"""
Tasks that start on the triggerer (Airflow 3.3+): no task process for an image without
``output_path``, one for a copy, paid once through a triggerer crash, and no fast generation failed.

Evidence: the process table sampled through the whole run (each task process carries its task
instance's UUID in its title), the scheduler's log (it names every task instance it hands to the
executor), the task instance rows (never queued), the downstream tasks' own checks of the XComs
they pull, the extra link through the REST API, and the emulator's create count.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psutil
from luma_e2e.evidence import TaskProcessCount, query
from luma_e2e.processes import wait_until
from luma_e2e.scenarios import assert_run_succeeds, describe_run, generations_of_run
from luma_e2e.settings import DREAMING_SECONDS, QUEUED_SECONDS, RUN_TIMEOUT

if TYPE_CHECKING:
    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.stack import AirflowStack

START_DAG = "e2e_luma_start"
#: task id -> task processes it may launch: none on the triggerer, one to copy, two on the classic path.
LAUNCHES = {"url_only": 0, "stored": 1, "from_xcom": 2}
FAST_IMAGES = 30


def test_a_task_that_starts_on_the_triggerer_launches_no_task_process(
    stack: AirflowStack, facts: dict[str, Any]
) -> None:
    api = stack.api
    api.unpause(START_DAG)
    run_id = api.trigger(START_DAG)

    def ti_ids() -> dict[str, str] | None:
        found = {ti["task_id"]: ti["id"] for ti in api.task_instances(START_DAG, run_id)}
        return {task_id: found[task_id] for task_id in LAUNCHES} if set(LAUNCHES) <= set(found) else None

    # Task instances exist from the run's creation; their first process starts after queueing.
    ids = wait_until(ti_ids, timeout=60, interval=0.05, what="the run's task instances")
    count = TaskProcessCount([process.pid for process in stack.processes.values()], ids)
    try:
        assert_run_succeeds(api, START_DAG, run_id, timeout=RUN_TIMEOUT)  # the check_* tasks passed
    finally:
        launches = count.stop()
    facts["task processes per image (start on triggerer / with output_path / from XCom)"] = launches
    assert launches == LAUNCHES

    scheduler_log = (stack.process_logs / "scheduler.log").read_text(errors="replace")
    for task_id, ti_id in ids.items():
        named = ti_id in scheduler_log  # every task instance handed to the executor is named there
        assert named is (LAUNCHES[task_id] > 0), (task_id, named)
    rows = query(
        stack.db_path,
        "SELECT task_id, queued_dttm, hostname FROM task_instance WHERE dag_id = ? AND run_id = ?",
        (START_DAG, run_id),
    )
    never_queued = {row["task_id"] for row in rows if row["queued_dttm"] is None}
    assert "url_only" in never_queued, rows
    assert "stored" not in never_queued, rows

    for task_id in ("url_only", "stored"):
        ti = api.task_instance(START_DAG, run_id, task_id)
        assert ti["trigger"] is None or "LumaGenerateTrigger" in str(ti["trigger"]), ti
        generation = api.xcom(START_DAG, run_id, task_id, key="generation")
        links = api.request("GET", f"/dags/{START_DAG}/dagRuns/{run_id}/taskInstances/{task_id}/links")
        assert links["extra_links"]["Luma asset"] == generation["assets"]["image"], links
    log = api.task_log(START_DAG, run_id, "url_only")
    for state in ("dreaming", "completed"):  # progress while deferred, once per state
        assert log.count(f"is {state} (") == 1, log[-3000:]


def test_thirty_fast_generations_never_fail_a_task_on_either_path(
    stack: AirflowStack, emulator: LumaEmulatorProcess, facts: dict[str, Any]
) -> None:
    """1.5 s generations, ``retries=0``, the operator's defaults: nothing is held back anywhere."""
    api = stack.api
    emulator.configure(queued_seconds=0.5, dreaming_seconds=1.0)
    try:
        runs = {}
        for dag_id in ("e2e_luma_fast_start", "e2e_luma_fast_classic"):
            api.unpause(dag_id)
            runs[dag_id] = (api.trigger(dag_id), time.monotonic())
        for dag_id, (run_id, started) in runs.items():
            state = api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)
            facts[f"{dag_id}: seconds for {FAST_IMAGES} fast generations"] = round(
                time.monotonic() - started, 1
            )
            assert state == "success", describe_run(api, dag_id, run_id)
            tis = api.task_instances(dag_id, run_id)
            assert len(tis) == FAST_IMAGES
            assert {(ti["state"], ti["try_number"]) for ti in tis} == {("success", 1)}, tis
        # The mapped tasks started in workers, and said why.
        classic_run = runs["e2e_luma_fast_classic"][0]
        log = api.task_log("e2e_luma_fast_classic", classic_run, "fast", map_index=0)
        assert "Starting in a worker, not on the triggerer: Airflow 3.3 starts no mapped task there" in log
    finally:
        emulator.configure(queued_seconds=QUEUED_SECONDS, dreaming_seconds=DREAMING_SECONDS)


def test_a_triggerer_killed_right_after_it_sent_the_create_leaves_one_create(
    stack: AirflowStack, emulator: LumaEmulatorProcess, facts: dict[str, Any]
) -> None:
    """Luma stores the generation at once but holds its answer: the kill lands with the create in doubt."""
    api, dag_id = stack.api, "e2e_luma_start_kill"
    emulator.configure(
        dreaming_seconds=3.0,
        faults=[{"route": "POST /generations/image", "kind": "slow", "delay": 60, "times": 1}],
    )
    try:
        api.unpause(dag_id)
        run_id = api.trigger(dag_id)
        (created,) = wait_until(
            lambda: generations_of_run(emulator, run_id), timeout=90, interval=0.1, what="the create"
        )
        old = stack.processes["triggerer"]
        old_processes = [old.pid, *(child.pid for child in old.descendants())]
        old.kill_group()  # SIGKILL while the create's answer is still held: no clean-up runs
        old.popen.wait(timeout=10)
        wait_until(
            lambda: not [pid for pid in old_processes if psutil.pid_exists(pid)],
            timeout=10,
            what="every process of the killed triggerer to be gone",
        )
        emulator.configure(faults=[])
        restarted = time.monotonic()
        stack.start_component("triggerer")
        assert_run_succeeds(api, dag_id, run_id, timeout=RUN_TIMEOUT)
        facts["triggerer killed mid-create: seconds from the new triggerer to the run's end"] = round(
            time.monotonic() - restarted, 1
        )
    finally:
        emulator.configure(dreaming_seconds=DREAMING_SECONDS, faults=[])

    assert [g["id"] for g in generations_of_run(emulator, run_id)] == [created["id"]]  # one create
    assert api.xcom(dag_id, run_id, "generate", key="generation_id") == created["id"]
    ti = api.task_instance(dag_id, run_id, "generate")
    assert (ti["state"], ti["try_number"]) == ("success", 1), ti
    log = api.task_log(dag_id, run_id, "generate")
    assert "Luma's answer never recorded" in log, log[-3000:]
    assert f"Adopting generation {created['id']}" in log, log[-3000:]
    stack.wait_healthy(timeout=60)
