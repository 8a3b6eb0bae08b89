"""
The deferral-race experiment: which way keeps Airflow 3.3.2 from failing fast generations' tasks
that defer from a worker (apache/airflow#66374). Opt-in, it takes about 15 minutes:
``make e2e-deferral-race`` (``LUMA_E2E_EXPERIMENTS=1``).

Each variant of ``tests/e2e/dags/e2e_luma_race_dags.py`` runs its 30 mapped 1.5 s generations
(``retries=0``) on an idle machine and on one whose two cores are kept busy by two spinning
processes (once idle, twice busy). Per variant: task instances Airflow failed, the scheduler's "state
attribute is queued/running" reports, the wait from trigger to run end, and worker-slot seconds
per image (task processes from the process table). The table goes to the run's facts and to
``deferral-race.md`` in AIRFLOW_HOME.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
from luma_e2e.evidence import TaskProcessCount
from luma_e2e.processes import wait_until
from luma_e2e.settings import DREAMING_SECONDS, QUEUED_SECONDS, RUN_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Iterator

    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.stack import AirflowStack

pytestmark = pytest.mark.skipif(
    os.environ.get("LUMA_E2E_EXPERIMENTS") != "1", reason="an experiment: make e2e-deferral-race"
)
VARIANTS = {
    "e2e_race_unguarded": "none (first poll one poll_interval, 5 s, after the deferral)",
    "e2e_race_unguarded_fast_poll": "none, poll_interval=1",
    "e2e_race_handoff": "the provider's: no resume sooner than 10 s after the deferral",
    "e2e_race_worker_grace": "the worker polls up to 10 s before deferring, no hold",
}
#: Runs of each variant per machine state: the race shows under load.
ROUNDS = {"idle": 1, "2 busy cores": 2}
REPORTED = (
    "but the task instance's state attribute is queued",
    "but the task instance's state attribute is running",
)


@contextlib.contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """Keep ``count`` cores busy with spinning processes for the block."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def run_once(stack: AirflowStack, dag_id: str) -> dict[str, float]:
    """One run of a variant's DAG: failures, reports, seconds and worker-slot seconds per image."""
    api = stack.api
    log = stack.process_logs / "scheduler.log"
    reports_before = sum(log.read_text(errors="replace").count(text) for text in REPORTED)
    started = time.monotonic()
    run_id = api.trigger(dag_id)
    tis = wait_until(
        lambda: api.task_instances(dag_id, run_id), timeout=60, interval=0.05, what="the run's TIs"
    )
    count = TaskProcessCount(
        [process.pid for process in stack.processes.values()],
        {f"{ti['task_id']}[{ti['map_index']}]": ti["id"] for ti in tis},
    )
    try:
        api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)
    finally:
        launches = count.stop()
    tis = api.task_instances(dag_id, run_id)
    return {
        "failed": sum(ti["state"] != "success" for ti in tis),
        "reports": sum(log.read_text(errors="replace").count(text) for text in REPORTED) - reports_before,
        "seconds": time.monotonic() - started,
        "slot_seconds": count.seconds() / len(tis),
        "launches": sum(launches.values()) / len(tis),
    }


def test_which_way_keeps_fast_generations_from_failing(
    stack: AirflowStack, emulator: LumaEmulatorProcess, facts: dict[str, Any]
) -> None:
    emulator.configure(queued_seconds=0.5, dreaming_seconds=1.0)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for dag_id in VARIANTS:
            stack.api.unpause(dag_id)
        for load, spinners in (("idle", 0), ("2 busy cores", 2)):
            with busy_cores(spinners):
                for _ in range(ROUNDS[load]):
                    for dag_id in VARIANTS:
                        results.setdefault((dag_id, load), []).append(run_once(stack, dag_id))
    finally:
        emulator.configure(queued_seconds=QUEUED_SECONDS, dreaming_seconds=DREAMING_SECONDS)
    lines = [
        "| way | machine | tasks failed | scheduler reports | seconds per run | worker-slot s per image "
        "| task processes per image |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (dag_id, load), runs in results.items():
        images = 30 * len(runs)
        lines.append(
            f"| {VARIANTS[dag_id]} | {load} | {sum(r['failed'] for r in runs):.0f} of {images} "
            f"| {sum(r['reports'] for r in runs):.0f} | {sum(r['seconds'] for r in runs) / len(runs):.0f} s "
            f"| {sum(r['slot_seconds'] for r in runs) / len(runs):.2f} s "
            f"| {sum(r['launches'] for r in runs) / len(runs):.2f} |"
        )
    table = "\n".join(lines)
    (stack.home / "deferral-race.md").write_text(table + "\n")
    facts["deferral race (30 mapped 1.5 s generations per run, retries=0)"] = "\n" + table
    handoff_failures = sum(
        r["failed"] for (dag_id, _), runs in results.items() for r in runs if dag_id == "e2e_race_handoff"
    )
    assert handoff_failures == 0, table
