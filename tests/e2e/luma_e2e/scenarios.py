"""Driving DAG runs through the REST API and recording what the system did meanwhile."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psutil

from luma_e2e.evidence import (
    IDLE_WORKER_TITLE,
    WORKER_TITLE_PREFIX,
    ProcessInfo,
    busy_executor_workers,
    processes_running,
    stack_processes,
    trigger_rows,
)
from luma_e2e.processes import GiveUp, wait_until
from luma_e2e.stack import FERNET_KEY

if TYPE_CHECKING:
    from collections.abc import Callable

    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.rest import AirflowApi
    from luma_e2e.stack import AirflowStack

#: Where a task that starts in a worker keeps its record in the task state store, a dict with the
#: ``generation_id`` once Luma answered the create (``STATE_STORE_KEY`` in
#: ``airflow_provider_luma/memory.py``).
STATE_STORE_KEY = "luma_generation"
#: The XCom a task that starts on the triggerer keeps its record in (``RECORD_XCOM_KEY`` there).
RECORD_XCOM_KEY = "luma_generation_record"


def describe_run(api: AirflowApi, dag_id: str, run_id: str, log_lines: int = 40) -> str:
    """
    Task states of a run, with the end of the log of every task that did not succeed.

    :param api: the REST client.
    :param dag_id: the DAG.
    :param run_id: the run.
    :param log_lines: how many log lines to show per task.
    """
    lines = [f"run {run_id} of {dag_id}:"]
    for ti in api.task_instances(dag_id, run_id):
        lines.append(f"  {ti['task_id']}[{ti['map_index']}]: {ti['state']}")
        if ti["state"] != "success":
            try:
                log = api.task_log(dag_id, run_id, ti["task_id"], max(ti["try_number"], 1), ti["map_index"])
            except Exception as exc:  # the log is a courtesy; the states above are the report
                log = f"(log unavailable: {exc})"
            lines += ["    " + line for line in log.splitlines()[-log_lines:]]
    return "\n".join(lines)


def assert_run_succeeds(api: AirflowApi, dag_id: str, run_id: str, timeout: float) -> None:
    """
    Wait for a run; fail with its task states and logs unless it succeeded.

    :param api: the REST client.
    :param dag_id: the DAG.
    :param run_id: the run.
    :param timeout: the most seconds to wait.
    """
    state = api.wait_for_run(dag_id, run_id, timeout=timeout)
    assert state == "success", describe_run(api, dag_id, run_id)


def wait_for_ti_state(
    api: AirflowApi, dag_id: str, run_id: str, task_id: str, state: str, timeout: float
) -> dict[str, Any]:
    """
    Wait until a task instance is in ``state``; return it (fails early if it ends otherwise).

    :param api: the REST client.
    :param dag_id: the DAG.
    :param run_id: the run.
    :param task_id: the task.
    :param state: e.g. ``"deferred"``.
    :param timeout: the most seconds to wait.
    """

    def reached() -> dict[str, Any] | None:
        ti = api.task_instance(dag_id, run_id, task_id)
        if ti["state"] in ("success", "failed", "upstream_failed") and ti["state"] != state:
            raise GiveUp(f"{task_id} ended {ti['state']} before being {state}")
        return ti if ti["state"] == state else None

    try:
        return wait_until(reached, timeout=timeout, interval=0.25, what=f"{task_id} to be {state}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe_run(api, dag_id, run_id)}") from exc


@dataclass(frozen=True)
class DeferralSample:
    """
    One look at a deferred task: its state, its generation's state and the process table.

    :param seconds: seconds since the observation started.
    :param ti_state: the task instance state (REST API).
    :param generation_state: the generation's state according to the emulator.
    :param ti_processes: stack processes whose title carries the task instance's id.
    :param busy_workers: LocalExecutor workers not idle.
    :param idle_workers: LocalExecutor workers idle.
    """

    seconds: float
    ti_state: str
    generation_state: str
    ti_processes: list[ProcessInfo]
    busy_workers: list[ProcessInfo]
    idle_workers: int


@dataclass
class DeferralObservation:
    """
    What was seen while one task of a run was deferred.

    :param ti: the task instance as the REST API showed it when first deferred.
    :param generation_id: the id the task pushed to XCom before deferring.
    :param handoff_seconds: from the first ``deferred`` seen to no process carrying the task's id.
    :param samples: the looks taken, in order.
    :param closing_states: task state and generation state checked after the last sample.
    :param triggers: rows of the ``trigger`` table at the time, kwargs decrypted.
    """

    ti: dict[str, Any]
    generation_id: str
    handoff_seconds: float = 0.0
    samples: list[DeferralSample] = field(default_factory=list)
    closing_states: tuple[str, str] = ("", "")
    triggers: list[dict[str, Any]] = field(default_factory=list)


def observe_deferral(
    stack: AirflowStack,
    emulator: LumaEmulatorProcess,
    dag_id: str,
    run_id: str,
    task_id: str,
    window: float = 3.0,
    interval: float = 0.2,
) -> DeferralObservation:
    """
    Wait until ``task_id`` is deferred and its worker has let go, then sample for ``window`` s.

    The task instance turns ``deferred`` as soon as the task asks to defer; its LocalExecutor
    worker then still reports back and flushes logs for a moment (``handoff_seconds``). The
    samples start once no process carries the task's id and Luma says ``dreaming``. Each process
    scan sits between two checks of the task state and the generation state, so when every sample
    says ``deferred`` and ``dreaming``, no scan fell outside that time.

    :param stack: the running stack.
    :param emulator: the emulator (asked for the generation's state).
    :param dag_id: the DAG.
    :param run_id: the run.
    :param task_id: the deferrable task.
    :param window: how many seconds to sample.
    :param interval: seconds between samples.
    """
    ti = wait_for_ti_state(stack.api, dag_id, run_id, task_id, "deferred", timeout=90)
    deferred_at = time.monotonic()
    roots = [process.pid for process in stack.processes.values()]
    wait_until(
        lambda: not processes_running(str(ti["id"]), stack_processes(roots)),
        timeout=20,
        interval=0.1,
        what=f"the worker of {task_id} to let go after deferring",
    )
    handoff_seconds = round(time.monotonic() - deferred_at, 2)
    # A task that starts on the triggerer is deferred before its trigger has created anything.
    generation_id = wait_until(
        lambda: stack.api.xcom(dag_id, run_id, task_id, key="generation_id"),
        timeout=60,
        interval=0.1,
        what=f"the generation id of {task_id}",
    )
    observation = DeferralObservation(ti=ti, generation_id=generation_id, handoff_seconds=handoff_seconds)
    observation.triggers = trigger_rows(stack.db_path, FERNET_KEY)
    wait_until(
        lambda: emulator.generation(generation_id)["state"] == "dreaming",
        timeout=20,
        interval=0.1,
        what=f"generation {generation_id} to dream",
    )
    start = time.monotonic()
    while True:
        ti_state = stack.api.task_instance(dag_id, run_id, task_id)["state"]
        generation_state = emulator.generation(generation_id)["state"]
        processes = stack_processes(roots)
        observation.samples.append(
            DeferralSample(
                seconds=round(time.monotonic() - start, 2),
                ti_state=ti_state,
                generation_state=generation_state,
                ti_processes=processes_running(str(ti["id"]), processes),
                busy_workers=busy_executor_workers(processes),
                idle_workers=sum(proc.title.startswith(IDLE_WORKER_TITLE) for proc in processes),
            )
        )
        if time.monotonic() - start >= window:
            # One more state check after the last scan closes the bracket.
            observation.closing_states = (
                stack.api.task_instance(dag_id, run_id, task_id)["state"],
                emulator.generation(generation_id)["state"],
            )
            return observation
        time.sleep(interval)


@dataclass
class ImageRun:
    """
    One run of the example image DAG, watched while its first task was deferred.

    :param run_id: the run.
    :param deferral: what was seen while ``text_to_image`` was deferred.
    """

    run_id: str
    deferral: DeferralObservation


def processes_while_running(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> list[ProcessInfo]:
    """
    Wait until ``task_id`` runs in a worker; return the stack processes carrying its id then.

    :param stack: the running stack.
    :param dag_id: the DAG.
    :param run_id: the run.
    :param task_id: a task that holds its worker for several seconds.
    """
    ti = wait_for_ti_state(stack.api, dag_id, run_id, task_id, "running", timeout=90)
    roots = [process.pid for process in stack.processes.values()]

    def found() -> list[ProcessInfo]:
        return processes_running(str(ti["id"]), stack_processes(roots))

    return wait_until(found, timeout=10, interval=0.1, what=f"a process running {task_id} ({ti['id']})")


def generations_of_run(emulator: LumaEmulatorProcess, run_id: str) -> list[dict[str, Any]]:
    """
    The generations the emulator holds whose prompt names ``run_id`` (harness DAGs template it in).

    Read through the admin endpoint, which fault rules never touch.

    :param emulator: the emulator.
    :param run_id: the run.
    """
    generations = emulator.stats()["generations"]
    return [g for g in generations if run_id in str((g.get("request") or {}).get("prompt"))]


def task_and_supervisor(stack: AirflowStack, ti_id: str) -> tuple[ProcessInfo, ProcessInfo]:
    """
    The task process of a running try and the LocalExecutor worker supervising it (its parent).

    :param stack: the running stack.
    :param ti_id: the task instance's UUID.
    """
    roots = [process.pid for process in stack.processes.values()]
    found = processes_running(ti_id, stack_processes(roots))
    supervisors = [proc for proc in found if proc.title == f"{WORKER_TITLE_PREFIX} {ti_id}"]
    tasks = [proc for proc in found if proc.title == f"airflow worker -- {ti_id}"]
    assert len(supervisors) == 1, found
    assert len(tasks) == 1, found
    assert psutil.Process(tasks[0].pid).ppid() == supervisors[0].pid, found
    return tasks[0], supervisors[0]


@dataclass
class WorkerCrash:
    """
    A task process killed with SIGKILL after its create, and what was seen up to the kill.

    :param run_id: the run.
    :param first_try: the task instance (REST API) right before the kill.
    :param generation_id: the one generation created for the run before the kill (emulator).
    :param stored: the task's state store right before the kill.
    :param killed: the task process that got SIGKILL.
    :param supervisor: its parent, the LocalExecutor worker supervising the try (not signalled).
    :param seconds_create_to_kill: from the create (the emulator's ``created_at``) to the SIGKILL.
    """

    run_id: str
    first_try: dict[str, Any]
    generation_id: str
    stored: dict[str, Any]
    killed: ProcessInfo
    supervisor: ProcessInfo
    seconds_create_to_kill: float


def kill_task_after_create(
    stack: AirflowStack,
    emulator: LumaEmulatorProcess,
    dag_id: str,
    task_id: str,
    in_window: Callable[[], bool],
    window: str,
) -> WorkerCrash:
    """
    Trigger ``dag_id``, wait for its create, then SIGKILL the task process while ``in_window()``.

    The kill waits until the generation id is in the task state store's record: a kill while the
    create is only recorded "in doubt" would have the retry look for the generation among Luma's
    (adoption) instead of re-attaching to a known id.
    Only the task process is killed, as by the kernel's OOM killer; its supervisor (the
    LocalExecutor worker) lives on, writes "Process terminated by signal" into the task log and
    ends the workload. On Airflow 3.3.2 it does not send the ``up_for_retry`` it computes (that
    state is among those it expects the task itself to have sent); the scheduler then finds the
    workload over while the task instance is still ``running`` and fails the try, with its retry.

    :param stack: the running stack.
    :param emulator: the emulator.
    :param dag_id: a harness DAG with one task whose prompt contains ``{{ run_id }}``.
    :param task_id: the task.
    :param in_window: true once the task is where the kill should land (e.g. polling).
    :param window: what ``in_window`` waits for, for messages.
    """
    api = stack.api
    creates_before = emulator.stats()["creates"]
    api.unpause(dag_id)
    run_id = api.trigger(dag_id)
    generation = wait_until(
        lambda: generations_of_run(emulator, run_id),
        timeout=90,
        interval=0.1,
        what=f"the create of {dag_id} (run {run_id})",
    )[0]
    assert emulator.stats()["creates"] == creates_before + 1

    def recorded() -> dict[str, Any] | None:
        state = api.task_state(dag_id, run_id, task_id)
        return state if state.get(STATE_STORE_KEY, {}).get("generation_id") else None

    stored = wait_until(
        recorded,
        timeout=10,
        interval=0.1,
        what=f"a generation_id in {STATE_STORE_KEY} in the task state store of {task_id}",
    )
    wait_until(in_window, timeout=15, interval=0.05, what=window)
    first_try = api.task_instance(dag_id, run_id, task_id)
    assert (first_try["state"], first_try["try_number"]) == ("running", 1), first_try
    task, supervisor = task_and_supervisor(stack, str(first_try["id"]))
    os.kill(task.pid, signal.SIGKILL)
    killed_at = datetime.now(timezone.utc)
    created_at = datetime.fromisoformat(generation["created_at"])

    def gone() -> bool:
        try:
            return psutil.Process(task.pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, timeout=10, interval=0.05, what=f"task process {task.pid} to die")
    return WorkerCrash(
        run_id=run_id,
        first_try=first_try,
        generation_id=str(generation["id"]),
        stored=stored,
        killed=task,
        supervisor=supervisor,
        seconds_create_to_kill=round((killed_at - created_at).total_seconds(), 2),
    )
