"""
The batch scenario: one mapped run of ``e2e_dist_batch`` while, one after the other, a triggerer
holding several waits is SIGKILLed, a Celery worker host dies (SIGKILL of the worker and its task
processes) and PostgreSQL is stopped and started again. Returns what was seen, for the tests to
judge.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from luma_e2e.processes import wait_until

from luma_dist.cluster import crash
from luma_dist.observe import TriggerWatch, task_instances, trigger_assignments, triggerer_hostnames

if TYPE_CHECKING:
    from luma_e2e.emulator import LumaEmulatorProcess

    from luma_dist.cluster import CeleryWorkerHost, DistributedAirflow
    from luma_dist.servers import PostgresServer

BATCH_DAG = "e2e_dist_batch"
#: Seconds PostgreSQL stays down.
DATABASE_OUTAGE_SECONDS = 10.0
#: The triggerer killed holds at least this many waits, unless none does within the patience below.
MIN_WAITS_ON_VICTIM = 3
VICTIM_PATIENCE_SECONDS = 90.0


@dataclass
class BatchRecord:
    """
    What the harness saw during the batch run.

    :param run_id: the run.
    :param state: its final state.
    :param killed_triggerer_job: the job id of the triggerer that was SIGKILLed.
    :param triggers_on_killed_triggerer: map indexes whose wait it held when it died.
    :param killed_worker: hostname of the worker host that died.
    :param tasks_on_killed_worker: map indexes running on it when it died.
    :param triggers: the trigger table watch.
    :param restarts: components the harness started again after they exited.
    :param timeline: ``(seconds since the trigger, event)``.
    """

    run_id: str
    state: str = ""
    killed_triggerer_job: int | None = None
    triggers_on_killed_triggerer: set[int] = field(default_factory=set)
    killed_worker: str = ""
    tasks_on_killed_worker: set[int] = field(default_factory=set)
    triggers: TriggerWatch | None = None
    restarts: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)


def run_batch_with_faults(
    stack: DistributedAirflow,
    workers: list[CeleryWorkerHost],
    database: PostgresServer,
    emulator: LumaEmulatorProcess,
    timeout: float,
) -> BatchRecord:
    """
    Trigger the batch, inject the three faults in turn, wait for the run's end.

    :param stack: the core host.
    :param workers: the two worker hosts; the first one dies.
    :param database: PostgreSQL.
    :param emulator: the Luma emulator.
    :param timeout: the most seconds for the whole run.
    """
    started = time.monotonic()
    stack.api.unpause(BATCH_DAG)
    record = BatchRecord(run_id=stack.api.trigger(BATCH_DAG))
    record.triggers = TriggerWatch(database, BATCH_DAG, record.run_id)
    keep_down: set[str] = set()

    def note(event: str) -> None:
        record.timeline.append((round(time.monotonic() - started, 1), event))

    def supervise() -> None:
        stack.restart_exited(keep_down)
        for worker in workers[1:]:
            if not worker.is_running():
                stack.restarts.append(f"{worker.hostname} (exited)")
                worker.start()

    def tis() -> list[dict[str, Any]]:
        return task_instances(database, BATCH_DAG, record.run_id)

    # 1. A triggerer dies while both hold waits: the one holding more, once it holds several.
    patience_until = time.monotonic() + VICTIM_PATIENCE_SECONDS

    def both_triggerers_busy() -> tuple[list[dict[str, Any]], Counter[int]] | None:
        supervise()
        found = trigger_assignments(database, BATCH_DAG, record.run_id)
        held = Counter(row["triggerer_id"] for row in found if row["triggerer_id"] is not None)
        if len(held) < 2:
            return None
        if max(held.values()) < MIN_WAITS_ON_VICTIM and time.monotonic() < patience_until:
            return None
        return found, held

    assignments, held = wait_until(
        both_triggerers_busy, timeout=timeout / 2, interval=0.2, what="both triggerers to hold waits"
    )
    victim_job = held.most_common(1)[0][0]
    victim_component = triggerer_hostnames(database)[victim_job].removeprefix("luma-")
    record.killed_triggerer_job = victim_job
    record.triggers_on_killed_triggerer = {
        row["map_index"] for row in assignments if row["triggerer_id"] == victim_job
    }
    keep_down.add(victim_component)
    crash(stack.processes[victim_component])
    note(
        f"SIGKILL {victim_component} (job {victim_job}) holding {len(record.triggers_on_killed_triggerer)} "
        f"waits (the other held {min(held.values())})"
    )

    # 2. A worker host dies while it runs tasks.
    victim = workers[0]

    def running_on_victim() -> set[int]:
        return {
            ti["map_index"] for ti in tis() if ti["state"] == "running" and ti["hostname"] == victim.hostname
        }

    def victim_busy() -> set[int] | None:
        supervise()
        return running_on_victim() or None

    wait_until(victim_busy, timeout=timeout / 2, interval=0.2, what=f"a task running on {victim.hostname}")
    victim.crash()
    # Read after the kill: every task it had started is in this set.
    record.tasks_on_killed_worker = running_on_victim()
    record.killed_worker = victim.hostname
    note(f"SIGKILL {victim.hostname} running map indexes {sorted(record.tasks_on_killed_worker)}")

    # 3. PostgreSQL goes away for a while.
    time.sleep(10)
    database.stop("fast")
    note("PostgreSQL stopped")
    time.sleep(DATABASE_OUTAGE_SECONDS)
    database.start()
    note("PostgreSQL started")

    def bring_back_victim() -> None:
        """The dead host comes back once each task it ran has ended elsewhere (the batch is long)."""
        if victim.is_running():
            return
        states = {ti["map_index"]: ti["state"] for ti in tis()}
        if all(states[index] == "success" for index in record.tasks_on_killed_worker):
            victim.start()
            note(f"{victim.hostname} back")

    def finished() -> str | None:
        supervise()
        bring_back_victim()
        state = stack.api.run_state(BATCH_DAG, record.run_id)
        return state if state in ("success", "failed") else None

    record.state = wait_until(finished, timeout=timeout, interval=2.0, what=f"run {record.run_id} to end")
    note(f"run {record.state}")
    record.triggers.stop()
    record.restarts = list(stack.restarts)
    if not victim.is_running():  # for what follows
        victim.start()
    return record
