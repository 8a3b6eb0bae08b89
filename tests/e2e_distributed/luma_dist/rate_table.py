"""
Part of the harness that measures a batch at Luma's rate limits and prints it as a table:
makespan against its bound, worker-slot seconds, 429 answers, retries and task-process launches
per image, for the provider's ways and for the SDK-in-a-PythonOperator way, in the same run; and
the floor any task pays on this cluster (the life of a task process that returns at once), so
that the slot seconds can be read net of Airflow's own start-up and shut-down.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from luma_dist.observe import TaskProcessWatch, task_instances

if TYPE_CHECKING:
    from collections.abc import Callable

    from luma_e2e.emulator import LumaEmulatorProcess

    from luma_dist.cluster import DistributedAirflow
    from luma_dist.servers import PostgresServer


@dataclass(frozen=True)
class RateLimits:
    """
    The emulator's limits for the measured batch.

    :param creates_per_minute: R, create requests per minute.
    :param concurrent: C, generations running at once (also the pool's size).
    :param generation_seconds: how long one generation takes (queued + dreaming).
    """

    creates_per_minute: int
    concurrent: int
    generation_seconds: float

    def bound(self, images: int) -> float:
        """The least makespan for ``images``: max(N / R, N / C x generation time), in seconds."""
        return max(
            images / self.creates_per_minute * 60.0, images / self.concurrent * self.generation_seconds
        )


@dataclass(frozen=True)
class BatchFigures:
    """
    One measured batch.

    :param way: which way the images were made.
    :param run_state: the run's final state.
    :param images: N.
    :param succeeded: task instances that succeeded.
    :param creates: generations the emulator created.
    :param makespan: seconds from the trigger to the last task's end.
    :param bound: :meth:`RateLimits.bound`.
    :param slot_seconds: seconds task processes (each holding a worker slot) lived, in all.
    :param answers_429: 429 answers the emulator gave.
    :param retries: task tries beyond the first, in all.
    :param launches: task processes started, in all.
    """

    way: str
    run_state: str
    images: int
    succeeded: int
    creates: int
    makespan: float
    bound: float
    slot_seconds: float
    answers_429: int
    retries: int
    launches: int

    def row(self, floor: float) -> str:
        """
        The figures as one Markdown table row.

        :param floor: seconds one task process lives when its task returns at once.
        """
        n = self.images
        beyond_floor = max(0.0, self.slot_seconds - self.launches * floor) / n
        return (
            f"| {self.way} | {n} | {self.succeeded} | {self.creates} | {self.makespan:.0f} s "
            f"| {self.bound:.0f} s | {self.makespan / self.bound:.2f} | {self.slot_seconds / n:.2f} s "
            f"| {beyond_floor:.2f} s | {self.answers_429} | {self.retries} | {self.launches / n:.2f} |"
        )


HEADER = (
    "| way | images | succeeded | creates | makespan | bound | makespan / bound | worker-slot s per image "
    "| of which beyond Airflow's floor | 429 answers | task retries | task-process launches per image |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def measure_floor(stack: DistributedAirflow, database: PostgresServer, dag_id: str, timeout: float) -> float:
    """
    The median life, in seconds, of the task processes of a DAG whose mapped tasks return at once.

    :param stack: the core host.
    :param database: PostgreSQL, for the task instances.
    :param dag_id: the DAG (``e2e_dist_task_floor``).
    :param timeout: the most seconds for the run.
    """
    watch = TaskProcessWatch()
    try:
        stack.api.unpause(dag_id)
        run_id = stack.api.trigger(dag_id)
        state = stack.api.wait_for_run(dag_id, run_id, timeout=timeout)
        time.sleep(1.0)
    finally:
        watch.stop()
    assert state == "success", f"{dag_id} ended {state}"
    lives = watch.per_task_instance({ti["id"] for ti in task_instances(database, dag_id, run_id)})
    return statistics.median(seconds for each in lives.values() for seconds in each)


def measure(
    stack: DistributedAirflow,
    database: PostgresServer,
    emulator: LumaEmulatorProcess,
    dag_id: str,
    way: str,
    prompt_word: str,
    images: int,
    limits: RateLimits,
    timeout: float,
    during: Callable[[str], None] | None = None,
    batch_task: str | None = None,
) -> BatchFigures:
    """
    Run one DAG of ``images`` tasks (or one batch task of ``images`` items) against a freshly
    reset, rate-limited emulator.

    :param stack: the core host.
    :param database: PostgreSQL, for the task instances.
    :param emulator: the Luma emulator.
    :param dag_id: the DAG to run.
    :param way: its label in the table.
    :param prompt_word: a word only this DAG's prompts have (tells its generations apart).
    :param images: its number of mapped tasks.
    :param limits: the emulator's limits.
    :param timeout: the most seconds for the run.
    :param during: called with the run id once the run is triggered (a fault to inject).
    :param batch_task: the DAG's one batch task: its manifest counts the images that succeeded.
    """
    emulator.http.post(f"{emulator.root_url}/_emulator/reset", timeout=10).raise_for_status()
    emulator.configure(
        rate_limits=True,
        concurrency_limits={"image": limits.concurrent},
        creates_per_minute={"image": limits.creates_per_minute},
        queued_seconds=1.0,
        dreaming_seconds=limits.generation_seconds - 1.0,
    )
    watch = TaskProcessWatch()
    try:
        stack.api.unpause(dag_id)
        started = time.time()
        run_id = stack.api.trigger(dag_id)
        if during is not None:
            during(run_id)
        state = stack.api.wait_for_run(dag_id, run_id, timeout=timeout)
        # The last task process may still be exiting when the run's state flips.
        time.sleep(1.0)
    finally:
        watch.stop()
    tis = task_instances(database, dag_id, run_id)
    lives = watch.per_task_instance({ti["id"] for ti in tis})
    stats = emulator.stats()
    if batch_task is None:
        succeeded = sum(ti["state"] == "success" for ti in tis)
    else:
        succeeded = (stack.api.xcom(dag_id, run_id, batch_task, "batch") or {}).get("succeeded", 0)
    return BatchFigures(
        way=way,
        run_state=state,
        images=images,
        succeeded=succeeded,
        creates=sum(prompt_word in (g["request"].get("prompt") or "") for g in stats["generations"]),
        makespan=max((ti["end_date"].timestamp() for ti in tis if ti["end_date"]), default=time.time())
        - started,
        bound=limits.bound(images),
        slot_seconds=sum(sum(seconds) for seconds in lives.values()),
        answers_429=int(stats["answers"].get("POST 429", 0)),
        retries=sum(max(0, ti["try_number"] - 1) for ti in tis),
        launches=sum(len(seconds) for seconds in lives.values()),
    )


def machine() -> str:
    """The machine the figures were measured on, in one line."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {platform.system()}"


def kill_a_triggerer_mid_batch(
    stack: DistributedAirflow, database: PostgresServer, dag_id: str, run_id: str, timeout: float
) -> str:
    """
    SIGKILL the triggerer holding most of the run's waits once creates are under way; start it again.

    Airflow defers every task it starts on the triggerer at once, and one triggerer usually takes
    them all: the other takes them over when the first stops heart-beating. Returns what was done.

    :param stack: the core host.
    :param database: PostgreSQL, for the trigger table.
    :param dag_id: the DAG.
    :param run_id: the run.
    :param timeout: the most seconds to wait for the run's waits to be held.
    """
    from collections import Counter

    from luma_e2e.processes import wait_until

    from luma_dist.cluster import crash
    from luma_dist.observe import trigger_assignments, triggerer_hostnames

    def held() -> Counter[int] | None:
        found = Counter(
            row["triggerer_id"]
            for row in trigger_assignments(database, dag_id, run_id)
            if row["triggerer_id"] is not None
        )
        return found if found else None

    wait_until(held, timeout=timeout, interval=0.2, what="a triggerer to hold the run's waits")
    time.sleep(MID_BATCH_SECONDS)  # some creates made, others waiting on Luma's rate limit
    holders = wait_until(held, timeout=timeout, interval=0.2, what="a triggerer to hold the run's waits")
    victim_job, waits = holders.most_common(1)[0]
    victim = triggerer_hostnames(database)[victim_job].removeprefix("luma-")
    crash(stack.processes[victim])
    stack.start_component(victim)
    return f"SIGKILL {victim} holding {waits} of the run's tasks, then started again"


#: How long after the run's tasks are deferred the triggerer is killed.
MID_BATCH_SECONDS = 15.0
