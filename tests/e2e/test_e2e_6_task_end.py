"""
A deferred task with nothing left for a worker ends on the triggerer: one task process per image,
and its XComs read by the next task exactly as a worker would have left them.

Evidence: the process table sampled through the whole run (each task process carries its task
instance's UUID in its title), the downstream tasks' own checks of the XComs they pull, XCom and
the extra link through the REST API. The control is the same task with ``reattach=True``, which
a worker must finish (it forgets the generation in the task state store): two task processes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from luma_e2e.evidence import WORKER_TITLE_PREFIX, processes_running, stack_processes
from luma_e2e.processes import wait_until
from luma_e2e.scenarios import assert_run_succeeds
from luma_e2e.settings import RUN_TIMEOUT

if TYPE_CHECKING:
    from luma_e2e.stack import AirflowStack

DAG_ID = "e2e_luma_task_end"
TASKS = ("ends_on_triggerer", "resumes_on_worker")


class TaskProcessCount:
    """
    A thread counting, every 0.1 s, the task processes (not their supervisors) of some task instances.

    :param stack: the running stack.
    :param ti_ids: ``{task id: task instance UUID}``.
    """

    def __init__(self, stack: AirflowStack, ti_ids: dict[str, str]) -> None:
        self.roots = [process.pid for process in stack.processes.values()]
        self.ti_ids = ti_ids
        self.pids: dict[str, set[int]] = {task_id: set() for task_id in ti_ids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            processes = stack_processes(self.roots)
            for task_id, ti_id in self.ti_ids.items():
                self.pids[task_id].update(
                    proc.pid
                    for proc in processes_running(ti_id, processes)
                    if not proc.title.startswith(WORKER_TITLE_PREFIX)
                )

    def stop(self) -> dict[str, int]:
        """Stop sampling; ``{task id: task processes seen}``."""
        self._stop.set()
        self._thread.join(timeout=10)
        return {task_id: len(pids) for task_id, pids in self.pids.items()}


def test_a_task_with_nothing_left_for_a_worker_ends_on_the_triggerer(
    stack: AirflowStack, facts: dict[str, Any]
) -> None:
    api = stack.api
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID)

    def ti_ids() -> dict[str, str] | None:
        found = {ti["task_id"]: ti["id"] for ti in api.task_instances(DAG_ID, run_id)}
        return {task_id: found[task_id] for task_id in TASKS} if set(TASKS) <= set(found) else None

    # Task instances exist from the run's creation; their first process starts after queueing.
    count = TaskProcessCount(stack, wait_until(ti_ids, timeout=60, interval=0.05, what="the run's TIs"))
    try:
        assert_run_succeeds(api, DAG_ID, run_id, timeout=RUN_TIMEOUT)
    finally:
        launches = count.stop()
    facts["task processes per deferred image (ends on triggerer / resumes on worker)"] = launches
    assert launches == {"ends_on_triggerer": 1, "resumes_on_worker": 2}

    for task_id in TASKS:  # both leave the same XComs; the check_* tasks read them as users would
        url = api.xcom(DAG_ID, run_id, task_id)
        generation = api.xcom(DAG_ID, run_id, task_id, key="generation")
        assert isinstance(generation, dict), (task_id, generation)
        assert generation["assets"]["image"] == url, (task_id, url)
        links = api.request("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/links")
        assert links["extra_links"]["Luma asset"] == url, links  # the extra link resolves from XCom
