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

import argparse
import asyncio
import os
import statistics
import time
from typing import TYPE_CHECKING, Any

from benchmarks._emulator import API_KEY, EmulatorProcess
from benchmarks._proc import (
    LineReader,
    log,
    receive_message,
    send_message,
    spawn,
    stop,
    use_throwaway_airflow_home,
    warm_bytecode_cache,
)
from benchmarks._results import (
    MIN_ROUNDS,
    Baseline,
    Row,
    emit_rows,
    emit_samples,
    median_ratio,
    ratios_note,
    sample_benchmark,
)
from benchmarks._task import task_context

if TYPE_CHECKING:
    import subprocess

    from airflow.triggers.base import BaseTrigger, TriggerEvent

DURATIONS = (10, 30)
QUEUED_SECONDS = 1.0
POLL_INTERVAL = 2.0
SEED_POLL_SECONDS = 3.0
#: Ours against the seed loop on the same generation: a deferrable task holds its slot for a
#: create and a deferral, the loop for the whole generation.
TARGET_RATIO = 0.1
#: Flat: the 30 s figure against the 10 s one, round by round.
TARGET_FLAT_RATIO = 1.5
#: How far apart the figures for short and long generations may be and still count as flat.
PROMPT = "a lighthouse at dawn, oil painting"


async def _first_event(trigger: BaseTrigger) -> TriggerEvent:
    """The trigger's first event, as the triggerer would take it."""
    events = trigger.run()
    try:
        return await events.__anext__()
    finally:
        await events.aclose()


def run_deferrable() -> dict[str, Any]:
    """One deferrable generation: time ``execute`` to the deferral and ``execute_complete``."""
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
    send_message("DEFERRED", execute_seconds)
    event = asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=300))
    resumed = time.perf_counter()
    getattr(operator, method_name)(context, event.payload)
    complete_seconds = time.perf_counter() - resumed
    return {
        "execute": execute_seconds,
        "execute_complete": complete_seconds,
        "wall": time.perf_counter() - started,
        "status": event.payload.get("status"),
    }


def seed_generate_and_wait(base_url: str, api_key: str, prompt: str, poll_seconds: float) -> str:
    """
    The seed's way: create, then poll ``GET /generations/{id}`` every ``poll_seconds`` until done.

    :param base_url: the API base URL.
    :param api_key: the API key.
    :param prompt: the image prompt.
    :param poll_seconds: seconds between polls.
    """
    import requests

    headers = {"Authorization": f"Bearer {api_key}"}
    created = requests.post(
        f"{base_url}/generations/image",
        json={"prompt": prompt, "model": "photon-1"},
        headers=headers,
        timeout=30,
    )
    created.raise_for_status()
    generation = created.json()
    deadline = time.monotonic() + 600
    while generation["state"] not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(poll_seconds)
        answer = requests.get(f"{base_url}/generations/{generation['id']}", headers=headers, timeout=30)
        answer.raise_for_status()
        generation = answer.json()
    if generation["state"] != "completed":
        raise RuntimeError(f"generation {generation['id']} ended {generation['state']}")
    return str(generation["assets"]["image"])


def run_seed(base_url: str) -> dict[str, Any]:
    """
    One generation with the seed's loop in a ``PythonOperator``: the slot is the whole ``execute``.

    :param base_url: the emulator's API base URL.
    """
    from airflow.providers.standard.operators.python import PythonOperator

    operator = PythonOperator(
        task_id="generate",
        python_callable=seed_generate_and_wait,
        op_kwargs={
            "base_url": base_url,
            "api_key": API_KEY,
            "prompt": PROMPT,
            "poll_seconds": SEED_POLL_SECONDS,
        },
    )
    send_message("READY")
    started = time.perf_counter()
    operator.execute(task_context())
    return {"execute": time.perf_counter() - started}


def _child(role: str, emulator: EmulatorProcess) -> tuple[subprocess.Popen[str], LineReader]:
    env = {**os.environ, **emulator.connection_env(), "LUMA_BENCH_BASE_URL": emulator.base_url}
    proc = spawn(["-m", "benchmarks.bench_worker_slot", "--role", role], env=env)
    return proc, LineReader(proc)


def measure(repeats: int) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    """
    Run the seed loop and the deferrable operator ``repeats`` times each per duration.

    Children start one after another (each waits for the previous to be past its timed start),
    so that one's start-up never competes with another's timed ``execute``.

    :param repeats: rounds: seed and deferrable samples per duration, each in a fresh process.
    """
    warm_bytecode_cache(
        [
            "airflow_provider_luma.operators.luma",
            "airflow_provider_luma.hooks.luma",
            "airflow_provider_luma.triggers.luma",
            "airflow.providers.standard.operators.python",
            "aiohttp",
        ]
    )
    emulators = {
        duration: EmulatorProcess(QUEUED_SECONDS, duration - QUEUED_SECONDS).start() for duration in DURATIONS
    }
    children: list[tuple[str, int, subprocess.Popen[str], LineReader]] = []
    try:
        for duration in DURATIONS:
            for _ in range(repeats):  # the seed loops run side by side: they mostly sleep
                proc, reader = _child("seed", emulators[duration])
                receive_message(reader, "READY", 120)
                children.append(("seed", duration, proc, reader))
                log(f"seed loop started on a {duration} s generation")
        for duration in sorted(DURATIONS, reverse=True):
            for _ in range(repeats):
                proc, reader = _child("deferrable", emulators[duration])
                seconds = receive_message(reader, "DEFERRED", 120)
                children.append(("deferrable", duration, proc, reader))
                log(f"deferrable operator on a {duration} s generation deferred after {seconds:.3f} s")
        deferrable: dict[int, list[dict[str, Any]]] = {d: [] for d in DURATIONS}
        seed: dict[int, list[dict[str, Any]]] = {d: [] for d in DURATIONS}
        for role, duration, proc, reader in children:
            result = receive_message(reader, "RESULT", max(DURATIONS) + 120)
            proc.wait(30)
            if role == "seed":
                seed[duration].append(result)
            else:
                deferrable[duration].append(result)
        return deferrable, seed
    finally:
        for _, _, proc, _ in children:
            stop(proc)
        for emulator in emulators.values():
            emulator.stop()


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
            )
        )
    return table


def sampled(deferrable: dict[int, list[dict[str, Any]]], seed: dict[int, list[dict[str, Any]]]) -> list[Any]:
    """
    The rows' raw samples, per round, as pyperf benchmarks (see :func:`benchmarks._results.sample_benchmark`).

    :param deferrable: as for :func:`rows`.
    :param seed: as for :func:`rows`.
    """
    out = []
    for duration in DURATIONS:
        held = [s["execute"] + s["execute_complete"] for s in deferrable[duration]]
        out.append(sample_benchmark(f"worker-slot: ours, {duration} s generation", held, "s"))
        out.append(
            sample_benchmark(
                f"worker-slot: seed loop, {duration} s generation",
                [s["execute"] for s in seed[duration]],
                "s",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """
    Measure and emit the rows (or, with ``--role``, be one of the measured children).

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", help="write the rows as JSON here (default: stdout)")
    parser.add_argument(
        "--repeats", type=int, default=MIN_ROUNDS, help="rounds: deferrable and seed samples per duration"
    )
    parser.add_argument("--role", choices=["deferrable", "seed"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    use_throwaway_airflow_home()
    if args.role == "deferrable":
        send_message("RESULT", run_deferrable())
        return 0
    if args.role == "seed":
        send_message("RESULT", run_seed(os.environ["LUMA_BENCH_BASE_URL"]))
        return 0
    deferrable, seed = measure(args.repeats)
    emit_rows(rows(deferrable, seed), args.out)
    emit_samples(sampled(deferrable, seed), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
