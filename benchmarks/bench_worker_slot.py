"""
Worker-slot seconds per generation: how long a task holds a worker while a generation runs.

Ours: ``LumaImageGenerateOperator(deferrable=True)``. The slot is held for ``execute`` until it
raises ``TaskDeferred``, then again for ``execute_complete`` with the trigger's event; the trigger
runs in between (on the triggerer in production, here in the same process, untimed). Each sample
is a fresh process that imports the operators module first, untimed, as parsing the DAG file
would, so lazy imports paid by the first ``execute`` are counted.

Baseline: the seed's polling loop in a ``PythonOperator`` (create, then ``GET`` every 3 s with
``requests`` until done), which holds the slot for the whole generation; timed for real.

Generations take 10 s and 30 s in the emulator (two emulator processes), to show whether the
figure stays flat as generations get longer. Not counted for either path: the task runner's own
start-up on each worker visit (process start, DAG parse, Execution API calls), which a deferrable
task pays twice and the polling loop once.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import TYPE_CHECKING, Any

from benchmarks._emulator import EmulatorProcess
from benchmarks._proc import Child, log
from benchmarks._results import MIN_ROUNDS, Baseline, Row, median_ratio, ratios_note
from benchmarks._task import first_event, seed_create, seed_wait, task_context

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

DURATIONS = (10, 30)
QUEUED_SECONDS = 1.0
POLL_INTERVAL = 2.0
SEED_POLL_SECONDS = 3.0
#: Ours against the seed loop on the same generation: a deferrable task holds its slot for a
#: create and a deferral, the loop for the whole generation.
TARGET_RATIO = 0.1
#: Flat: the 30 s figure against the 10 s one, round by round, may be this much larger.
TARGET_FLAT_RATIO = 1.5
PROMPT = "a lighthouse at dawn, oil painting"


def run_deferrable(parent: Connection) -> dict[str, Any]:
    """
    Be one deferrable generation's process: time ``execute`` to the deferral (sent at once) and
    ``execute_complete``.

    :param parent: the pipe to the benchmark.
    """
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

    operator = LumaImageGenerateOperator(
        task_id="generate", prompt=PROMPT, deferrable=True, poll_interval=POLL_INTERVAL, timeout=600
    )
    context = task_context()
    started = time.perf_counter()
    try:
        operator.execute(context)
    except TaskDeferred as deferral:
        execute_seconds = time.perf_counter() - started
        trigger, method_name = deferral.trigger, deferral.method_name
    else:
        raise RuntimeError("the operator finished without deferring")
    parent.send(execute_seconds)
    event = asyncio.run(asyncio.wait_for(first_event(trigger), timeout=300))
    resumed = time.perf_counter()
    getattr(operator, method_name)(context, event.payload)
    complete_seconds = time.perf_counter() - resumed
    return {
        "execute": execute_seconds,
        "execute_complete": complete_seconds,
        "wall": time.perf_counter() - started,
        "status": event.payload.get("status"),
    }


def seed_generate_and_wait(base_url: str, prompt: str, poll_seconds: float) -> str:
    """
    The seed's way: create, then poll ``GET /generations/{id}`` every ``poll_seconds`` until done.

    :param base_url: the API base URL.
    :param prompt: the image prompt.
    :param poll_seconds: seconds between polls.
    """
    generation = seed_wait(base_url, seed_create(base_url, prompt), poll_seconds, timeout=600)
    if generation["state"] != "completed":
        raise RuntimeError(f"generation {generation['id']} ended {generation['state']}")
    return str(generation["assets"]["image"])


def run_seed(parent: Connection, base_url: str) -> dict[str, Any]:
    """
    Be one generation's process with the seed's loop in a ``PythonOperator``: the slot is the whole
    ``execute``; ready is sent before it starts.

    :param parent: the pipe to the benchmark.
    :param base_url: the emulator's API base URL.
    """
    from airflow.providers.standard.operators.python import PythonOperator

    operator = PythonOperator(
        task_id="generate",
        python_callable=seed_generate_and_wait,
        op_kwargs={"base_url": base_url, "prompt": PROMPT, "poll_seconds": SEED_POLL_SECONDS},
    )
    parent.send("ready")
    started = time.perf_counter()
    operator.execute(task_context())
    return {"execute": time.perf_counter() - started}


def measure(rounds: int) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    """
    Run the seed loop and the deferrable operator ``rounds`` times each per duration.

    Children start one after another (each waits for the previous to be past its timed start),
    so that one's start-up never competes with another's timed ``execute``.

    :param rounds: seed and deferrable samples per duration, each in a fresh process.
    """
    deferrable: dict[int, list[dict[str, Any]]] = {d: [] for d in DURATIONS}
    seed: dict[int, list[dict[str, Any]]] = {d: [] for d in DURATIONS}
    with contextlib.ExitStack() as stack:
        emulators = {
            d: stack.enter_context(EmulatorProcess(QUEUED_SECONDS, d - QUEUED_SECONDS)) for d in DURATIONS
        }
        children: list[tuple[list[dict[str, Any]], Child]] = []
        for duration in DURATIONS:
            for _ in range(rounds):  # the seed loops run side by side: they mostly sleep
                child = stack.enter_context(Child(run_seed, emulators[duration].base_url))
                child.receive(120)
                children.append((seed[duration], child))
                log(f"seed loop started on a {duration} s generation")
        for duration in sorted(DURATIONS, reverse=True):
            for _ in range(rounds):
                child = stack.enter_context(Child(run_deferrable, env=emulators[duration].connection_env()))
                seconds = child.receive(120)
                children.append((deferrable[duration], child))
                log(f"deferrable operator on a {duration} s generation deferred after {seconds:.3f} s")
        for samples, child in children:
            samples.append(child.result(max(DURATIONS) + 120))
    return deferrable, seed


def rows(deferrable: dict[int, list[dict[str, Any]]], seed: dict[int, list[dict[str, Any]]]) -> list[Row]:
    """
    One row per generation duration.

    :param deferrable: samples per duration from :func:`run_deferrable`, one per round.
    :param seed: samples per duration from :func:`run_seed`, one per round.
    """
    held = {d: [s["execute"] + s["execute_complete"] for s in deferrable[d]] for d in DURATIONS}
    seed_held = {d: [s["execute"] for s in seed[d]] for d in DURATIONS}
    seed_name = f"seed loop in a PythonOperator (GET every {SEED_POLL_SECONDS:g} s)"
    table = []
    for duration in DURATIONS:
        samples = deferrable[duration]
        parts = ", ".join(f"{s['execute']:.3f} + {s['execute_complete']:.4f}" for s in samples)
        targets = [median_ratio(held[duration], seed_held[duration], TARGET_RATIO, "seed loop")]
        if duration == max(DURATIONS):
            shortest = min(DURATIONS)
            flat = median_ratio(held[duration], held[shortest], TARGET_FLAT_RATIO, f"ours at {shortest} s")
            targets.append(flat)
        table.append(
            Row(
                figure=f"Worker-slot seconds per generation, {duration} s generation",
                unit="s",
                ours=statistics.median(held[duration]),
                baselines=[Baseline(seed_name, statistics.median(seed_held[duration]))],
                targets=targets,
                digits=3,
                note=(
                    f"deferrable operator, median of {len(samples)} fresh processes, execute + "
                    f"execute_complete (s): {parts}; seed loops side by side, one per round; ratio per "
                    f"round: {ratios_note(held[duration], seed_held[duration])}; task-runner start-up "
                    "per worker visit not counted"
                ),
                samples={"ours": held[duration], "seed loop": seed_held[duration]},
            )
        )
    return table


def run(rounds: int = MIN_ROUNDS) -> list[Row]:
    """
    Measure; return the rows.

    :param rounds: deferrable and seed samples per duration.
    """
    return rows(*measure(rounds))
