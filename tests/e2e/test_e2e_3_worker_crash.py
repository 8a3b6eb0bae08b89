"""
A worker crash after the create: the task process dies by SIGKILL once Luma has the generation;
the retry re-attaches to that generation through Airflow 3.3's task state store, one create in all.

Not covered: a deferrable task killed between its create and its deferral. Since 5860ae5 that
window holds no Luma request the emulator could hold open (store, two XCom pushes, defer: tens of
milliseconds, all Airflow-side), so no kill can be aimed at it; once deferred, the triggerer-crash
scenario applies. A kill while the create's answer is still on its way (before the id is stored)
would cost a second generation: the harness waits for the stored id before killing.

Named to run after the triggerer scenarios and before the secrets scan, which searches its logs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from luma_e2e.evidence import download_image
from luma_e2e.scenarios import (
    STATE_STORE_KEY,
    assert_run_succeeds,
    generations_of_run,
    kill_task_after_create,
)
from luma_e2e.settings import DREAMING_SECONDS, RUN_TIMEOUT

if TYPE_CHECKING:
    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.scenarios import WorkerCrash
    from luma_e2e.stack import AirflowStack

TASK = "generate"
POLL_ROUTE = "GET /generations/{id}"
#: Dreaming time of the worker-polling run: the kill lands while it polls, the retry may find it
#: still dreaming or done (both re-attach); shorter than the session's 15 s to save time.
WORKER_DREAMING_SECONDS = 8.0


def logs_of_tries(stack: AirflowStack, dag_id: str, run_id: str) -> tuple[str, str]:
    """
    The task logs of try 1 and try 2, as the REST API serves them.

    :param stack: the running stack.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    return (
        stack.api.task_log(dag_id, run_id, TASK, try_number=1),
        stack.api.task_log(dag_id, run_id, TASK, try_number=2),
    )


def assert_recovered_by_reattaching(
    stack: AirflowStack, emulator: LumaEmulatorProcess, dag_id: str, crash: WorkerCrash, creates_before: int
) -> tuple[str, str]:
    """
    The run succeeds on try 2, which re-attached to the generation created before the kill.

    Returns the logs of both tries.

    :param stack: the running stack.
    :param emulator: the emulator.
    :param dag_id: the DAG.
    :param crash: what :func:`kill_task_after_create` saw.
    :param creates_before: the emulator's create count before the run.
    """
    api, run_id, generation_id = stack.api, crash.run_id, crash.generation_id
    record = crash.stored[STATE_STORE_KEY]  # stored before the kill
    assert record["generation_id"] == generation_id
    assert_run_succeeds(api, dag_id, run_id, timeout=RUN_TIMEOUT)

    ti = api.task_instance(dag_id, run_id, TASK)
    assert (ti["state"], ti["try_number"]) == ("success", 2), ti
    tries = [(t["try_number"], t["state"]) for t in api.task_tries(dag_id, run_id, TASK)]
    assert tries == [(1, "failed"), (2, "success")], tries

    # One create in all, for this run and for the whole emulator.
    assert [g["id"] for g in generations_of_run(emulator, run_id)] == [generation_id]
    assert emulator.stats()["creates"] - creates_before == 1
    assert api.xcom(dag_id, run_id, TASK, key="generation_id") == generation_id
    generation = api.xcom(dag_id, run_id, TASK, key="generation")
    assert (generation["id"], generation["state"]) == (generation_id, "completed")
    url = api.xcom(dag_id, run_id, TASK)
    assert url == generation["assets"]["image"]
    download_image(url)
    # The task instance succeeded: its record says so (sealed, kept), so a clear makes a new
    # generation while a retry after Airflow failed the try anyway would take this one up.
    kept = api.task_state(dag_id, run_id, TASK)[STATE_STORE_KEY]
    assert (kept["generation_id"], kept["try_number"], kept["succeeded"]) == (generation_id, 2, True)
    assert len(kept["mac"]) == 64

    first, second = logs_of_tries(stack, dag_id, run_id)
    # Airflow saw try 1's task process die by SIGKILL (its supervisor writes this into the task log).
    assert "Process terminated by signal" in first, first[-3000:]
    assert "SIGKILL" in first, first[-3000:]
    assert f"Re-attaching to generation {generation_id} created by an earlier try" in second, second[-3000:]
    assert "Re-attaching" not in first
    return first, second


def test_a_task_killed_while_polling_in_its_worker_retries_and_reattaches(
    stack: AirflowStack, emulator: LumaEmulatorProcess, facts: dict[str, Any]
) -> None:
    dag_id = "e2e_luma_worker_crash"
    stats = emulator.stats()
    creates_before, polls_before = stats["creates"], stats["requests"].get(POLL_ROUTE, 0)

    def polling() -> bool:
        """The task has polled Luma twice: it is in its worker-side wait loop."""
        return emulator.stats()["requests"].get(POLL_ROUTE, 0) >= polls_before + 2

    emulator.configure(dreaming_seconds=WORKER_DREAMING_SECONDS)
    try:
        crash = kill_task_after_create(stack, emulator, dag_id, TASK, polling, "the task to poll")
    finally:
        emulator.configure(dreaming_seconds=DREAMING_SECONDS)
    killed = time.monotonic()
    first, second = assert_recovered_by_reattaching(stack, emulator, dag_id, crash, creates_before)
    facts["worker crash (polling): seconds from the create to the SIGKILL"] = crash.seconds_create_to_kill
    facts["worker crash (polling): seconds from the SIGKILL to the run's success"] = round(
        time.monotonic() - killed, 1
    )
    facts["worker crash (polling): killed / left alive"] = [crash.killed.title, crash.supervisor.title]
    assert f"Luma generation {crash.generation_id} is" in first  # try 1 was polling in the worker
    facts["worker crash (polling): try 2 still polled after re-attaching"] = (
        f"Luma generation {crash.generation_id} is" in second
    )
